//! The in-process source seam (`sluice_pipeline::run_in_process`): pages a caller hands over
//! — NDJSON and Arrow IPC — are planned, packaged, normalized and loaded like a component's,
//! and a feed that fails mid-way leaves nothing of its run and no package behind.

use std::sync::Arc;

use sluice_host::declared::plain_resource;
use sluice_host::{Page, RecordsFormat, SourceSpec};
use sluice_pipeline::{InProcessOptions, PageFeed, PipelineSpec, Quiet, run_in_process};

use crate::support::Area;

/// Hands over its pages, then fails with `fail` if set.
struct Pages {
    pages: std::vec::IntoIter<Page>,
    fail: Option<&'static str>,
}

impl PageFeed for Pages {
    fn next_page(&mut self) -> Result<Option<Page>, String> {
        match (self.pages.next(), self.fail) {
            (Some(p), _) => Ok(Some(p)),
            (None, Some(reason)) => Err(reason.to_owned()),
            (None, None) => Ok(None),
        }
    }
}

fn ndjson(text: &str) -> Page {
    Page {
        records: text.as_bytes().to_vec(),
        format: RecordsFormat::Ndjson,
        checkpoint: None,
    }
}

fn arrow(ids: Vec<i64>) -> Page {
    let batch = arrow_array::RecordBatch::try_from_iter([(
        "id",
        std::sync::Arc::new(arrow_array::Int64Array::from(ids)) as arrow_array::ArrayRef,
    )])
    .expect("batch");
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &batch.schema()).expect("ipc");
    w.write(&batch).expect("write");
    w.finish().expect("finish");
    drop(w);
    Page {
        records: out,
        format: RecordsFormat::ArrowIpc,
        checkpoint: None,
    }
}

fn run(
    area: &Area,
    table: &str,
    feed: &mut Pages,
) -> Result<sluice_pipeline::RunSummary, sluice_pipeline::PipelineError> {
    let toml = format!(
        "name = \"inproc\"\ndataset = \"ds\"\ndestination = \"duckdb:{}\"\n[connector]\n",
        area.db().display()
    );
    let spec = PipelineSpec::from_toml(&toml, &[], area.path()).expect("spec");
    let opts = InProcessOptions {
        spec,
        pipelines_dir: area.path().join("pipelines"),
        source: SourceSpec {
            name: "inproc".into(),
            version: "1".into(),
            description: None,
            config_schema: "{}".into(),
            resources: vec![plain_resource(table)],
        },
        made_by: "embedder".into(),
        schema_contract: None,
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run_in_process(opts, feed, Arc::new(Quiet)))
}

#[test]
fn pages_handed_over_in_process_load_like_a_components() {
    let area = Area::new();
    let mut feed = Pages {
        pages: vec![
            ndjson("{\"id\": 1, \"tags\": [\"a\"]}\n{\"id\": 2, \"tags\": []}\n"),
            ndjson("{\"id\": 3, \"tags\": [\"b\", \"c\"]}\n"),
        ]
        .into_iter(),
        fail: None,
    };
    let summary = run(&area, "events", &mut feed).expect("run");
    assert_eq!(summary.tables.get("events"), Some(&3));
    assert_eq!(summary.tables.get("events__tags"), Some(&3));
    assert_eq!(area.count("SELECT count(*) FROM ds.events__tags"), 3);
    // the load records its maker
    let made_by: String = area
        .conn()
        .query_row("SELECT component FROM ds._dlt_loads", [], |r| r.get(0))
        .expect("load row");
    assert!(made_by.starts_with("embedder@1"), "{made_by}");
    // Arrow pages take dlt's Arrow semantics: no _dlt_id or _dlt_load_id added
    let mut feed = Pages {
        pages: vec![arrow(vec![10, 11]), arrow(vec![12])].into_iter(),
        fail: None,
    };
    run(&area, "frame", &mut feed).expect("arrow run");
    assert_eq!(area.count("SELECT sum(id) FROM ds.frame"), 33);
    assert_eq!(
        area.count("SELECT count(*) FROM information_schema.columns WHERE table_name = 'frame'"),
        1
    );
}

#[test]
fn a_feed_that_fails_mid_way_loads_nothing_and_leaves_no_package() {
    let area = Area::new();
    let mut feed = Pages {
        pages: vec![ndjson("{\"id\": 1}\n"), ndjson("{\"id\": 2}\n")].into_iter(),
        fail: Some("the caller's iterator raised ValueError"),
    };
    let e = run(&area, "events", &mut feed).expect_err("the feed failed");
    assert_eq!(
        e.to_string(),
        "connector `embedder` resource `events` page 3: the caller's iterator raised ValueError"
    );
    let conn = area.conn();
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'events'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(tables, 0, "nothing of the failed run was loaded");
    let packages = area.path().join("pipelines/inproc/packages");
    let left = std::fs::read_dir(&packages).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "no package was left pending");
    // the failed run is in the pipeline's history
    let history = std::fs::read_dir(area.path().join("pipelines/inproc/traces"))
        .expect("traces")
        .count();
    assert_eq!(history, 1);
}
