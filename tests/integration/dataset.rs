//! Reading what pipelines loaded (`sluice-dataset`): tables with dlt types, paged table
//! reads, queries, loads, schema versions with what each changed, state — on DuckDB,
//! PostgreSQL and the filesystem destination (a local folder, and a bucket) — never
//! writing, refusing what would write or reach outside, saying "busy" while a run writes.

use std::path::Path;

use serde_json::Value;
use sluice_dataset::{Dataset, DatasetError, batches_to_json};

use crate::pg::PgServer;
use crate::support::{Area, child_test, files_pipeline, spawn_until_it_says};

/// Every row of `sql` on `ds` as JSON objects.
pub fn rows(ds: &Dataset, sql: &str) -> Vec<serde_json::Map<String, Value>> {
    let (_, batches, _) = ds
        .query(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect_rows(usize::MAX)
        .expect("rows");
    batches_to_json(&batches).expect("json")
}

fn one(ds: &Dataset, sql: &str) -> i64 {
    rows(ds, sql)[0]
        .values()
        .next()
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("{sql}: not a number"))
}

/// Two loads of NDJSON into `t` of pipeline `ds`; the second adds column `b`.
fn two_loads(area: &Area, destination: &str) {
    two_loads_of(area, "ds", destination);
}

/// Two loads of NDJSON into `t` of pipeline `name`, incremental by file modification time
/// over a folder; the second adds column `b`.
pub fn two_loads_of(area: &Area, name: &str, destination: &str) {
    let dir = area.path().join(format!("{name}-data"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let lines: String = (1..=120)
        .map(|i| format!("{{\"id\": {i}, \"a\": \"x{i}\"}}\n"))
        .collect();
    std::fs::write(dir.join("one.ndjson"), lines).expect("write");
    let toml = folder_pipeline(&dir, name);
    let c = ("files", sluice_bundled::FILES.bytes);
    area.run_to(&toml, c, destination).expect("first load");
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(
        dir.join("two.ndjson"),
        "{\"id\": 121, \"a\": \"y\", \"b\": 2.5}\n",
    )
    .expect("write");
    area.run_to(&toml, c, destination).expect("second load");
}

/// Pipeline `name` loading the NDJSON files of `dir` into `t`, only files newer than the
/// last run's.
pub fn folder_pipeline(dir: &Path, name: &str) -> String {
    format!(
        "name = \"{name}\"\n[connector]\nname = \"files\"\n[config]\npaths = [{p:?}]\ntable = \"t\"\nincremental = \"modified\"\n[grants]\nallow_read = [{d:?}]\n",
        p = dir.join("*.ndjson").display().to_string(),
        d = dir.display().to_string(),
    )
}

/// What every destination must answer alike.
fn reads_alike(ds: &Dataset) {
    let tables = ds.tables().expect("tables");
    let t = tables.iter().find(|t| t.name == "t").expect("table t");
    assert_eq!(t.rows, 121);
    let types: Vec<(String, Option<String>)> = t
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.data_type.clone()))
        .collect();
    for (name, ty) in [
        ("id", "bigint"),
        ("a", "text"),
        ("b", "double"),
        ("_dlt_id", "text"),
    ] {
        assert!(
            types.contains(&(name.into(), Some(ty.into()))),
            "{name}: {types:?}"
        );
    }
    // a page reads only what it shows
    let page: Vec<i64> = rows(ds, "select id from t order by id limit 3 offset 10")
        .iter()
        .map(|r| r["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(page, [11, 12, 13]);
    let (schema, batches, more) = ds
        .read_table("t", 5, Some(7))
        .expect("read")
        .collect_rows(100)
        .expect("rows");
    assert!(!more);
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 7);
    assert!(schema.field_with_name("a").is_ok());
    assert_eq!(one(ds, "select count(*) from t where b is not null"), 1);
    // loads, schema versions and what each changed
    let loads = ds.loads().expect("loads");
    assert_eq!(loads.len(), 2, "{loads:?}");
    let versions = ds.schema_versions().expect("versions");
    let last = versions.last().expect("a version");
    assert!(
        last.changes
            .iter()
            .any(|c| c.table == "t" && c.columns == ["b"] && !c.new_table),
        "{versions:?}"
    );
    assert!(
        versions[0]
            .changes
            .iter()
            .any(|c| c.table == "t" && c.new_table)
    );
    assert_eq!(last.loads, [loads[1].load_id.clone()]);
    let state = ds.state().expect("state").expect("a state");
    let t_state = &state["sources"]["files"]["resources"]["t"];
    assert!(
        t_state.to_string().contains("two.ndjson"),
        "the files read are kept: {state}"
    );
    // nothing that writes
    for bad in [
        "delete from t",
        "drop table t",
        "select 1; delete from t",
        "update t set a = 'z'",
    ] {
        assert!(
            matches!(ds.query(bad), Err(DatasetError::ReadOnly(_))),
            "{bad}"
        );
    }
    match ds.read_table("nope", 0, Some(1)) {
        Err(DatasetError::NotFound(m)) => assert!(m.contains("`t`") || m.contains(" t"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(ds.tables().expect("tables")[0].rows, 121, "nothing changed");
}

#[test]
fn a_duckdb_dataset_is_read_without_writing_or_reaching_outside() {
    let area = Area::new();
    two_loads(&area, &format!("duckdb:{}", area.db().display()));
    let ds = Dataset::open(&area.path().join("pipelines"), "ds").expect("opens");
    assert_eq!(ds.name(), "ds_dataset");
    reads_alike(&ds);
    let all = ds.table_counts().expect("table counts");
    let names: Vec<&str> = all.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["_dlt_loads", "_dlt_pipeline_state", "_dlt_version", "t"]
    );
    assert_eq!(all[3].1, 121);
    // DuckDB's external access is off: no file outside the dataset can be read
    for outside in [
        "select * from read_text('/etc/passwd')",
        "from read_csv('/etc/hostname')",
        "select * from glob('/etc/*')",
    ] {
        let e = ds.query(outside).map(drop).expect_err(outside).to_string();
        assert!(e.contains("disabled by configuration"), "{outside}: {e}");
    }
    // a statement that runs too long is stopped, not left holding the file a run waits for
    let slow = Dataset::open(&area.path().join("pipelines"), "ds")
        .expect("opens")
        .with_timeout(std::time::Duration::from_secs(1));
    let t = std::time::Instant::now();
    let e = slow
        .query("select sum(a.range * b.range) from range(100000) a, range(100000) b")
        .and_then(|b| b.collect_rows(10))
        .map(drop)
        .expect_err("stopped");
    assert!(e.to_string().contains("stopped after 1 s"), "{e}");
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    // a writing statement hidden behind a reading one meets the read-only attachment
    let e = ds
        .query("with x as (select 1) insert into t (id) select * from x")
        .map(drop)
        .expect_err("insert");
    assert!(
        matches!(e, DatasetError::ReadOnly(_)) || e.to_string().contains("read-only"),
        "{e}"
    );
    assert!(matches!(
        Dataset::open(&area.path().join("pipelines"), "nope"),
        Err(DatasetError::NotFound(_))
    ));
}

#[test]
#[ignore = "started by the busy test in a child process"]
fn dataset_writer_child() {
    let path = std::env::var("WRITER_DB").expect("WRITER_DB");
    let conn = duckdb::Connection::open(&path).expect("open for writing");
    conn.execute_batch("select 1").expect("query");
    println!("WRITER_HOLDS");
    let stop = Path::new(&path).with_extension("stop");
    for _ in 0..600 {
        if stop.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_file_a_run_is_writing_answers_busy_at_once_and_reads_again_after() {
    let area = Area::new();
    two_loads(&area, &format!("duckdb:{}", area.db().display()));
    let pipelines = area.path().join("pipelines");
    let mut cmd = child_test("dataset::dataset_writer_child");
    cmd.env("WRITER_DB", area.db());
    let (mut child, _out) = spawn_until_it_says(cmd, "WRITER_HOLDS");
    let ds = Dataset::open(&pipelines, "ds").expect("opens");
    let t = std::time::Instant::now();
    match ds.query("select count(*) from t") {
        Err(e @ DatasetError::Busy { .. }) => {
            let text = e.to_string();
            assert!(
                text.starts_with("busy: a run of pipeline `ds` is writing"),
                "{text}"
            );
            assert!(text.ends_with("try again"), "{text}");
        }
        other => panic!("expected busy, got {other:?}"),
    }
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "it did not wait"
    );
    std::fs::write(area.db().with_extension("stop"), "").expect("stop");
    child.wait().expect("child ends");
    assert_eq!(one(&ds, "select count(*) from t"), 121);
}

#[test]
#[ignore = "started by the reader test in a child process"]
fn dataset_reader_child() {
    let pipelines = std::env::var("READER_PIPELINES").expect("READER_PIPELINES");
    let ds = Dataset::open(Path::new(&pipelines), "ds").expect("opens");
    // a result of many batches: the reading thread holds the file while they are not taken
    let batches = ds.query("select * from range(10000000)").expect("query");
    println!("READER_HOLDS");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    drop(batches);
}

#[test]
fn a_run_waits_for_a_reader_to_let_go_of_the_file() {
    let area = Area::new();
    let dest = format!("duckdb:{}", area.db().display());
    two_loads(&area, &dest);
    let pipelines = area.path().join("pipelines");
    let mut cmd = child_test("dataset::dataset_reader_child");
    cmd.env("READER_PIPELINES", &pipelines);
    let (mut child, _out) = spawn_until_it_says(cmd, "READER_HOLDS");
    // the reader's process holds the file read-only: the run waits for it, then loads
    let dir = area.path().join("ds-data");
    std::fs::write(dir.join("three.ndjson"), "{\"id\": 122, \"a\": \"z\"}\n").expect("write");
    let c = ("files", sluice_bundled::FILES.bytes);
    let s = area
        .run_to(&folder_pipeline(&dir, "ds"), c, &dest)
        .expect("the run loads");
    assert_eq!(s.tables["t"], 1);
    child.wait().expect("child ends");
    assert_eq!(area.count("select count(*) from ds_dataset.t"), 122);
}

#[test]
fn a_postgres_dataset_reads_in_a_read_only_transaction() {
    let pg = PgServer::start();
    let area = Area::new();
    two_loads(&area, &pg.url());
    let ds = Dataset::open(&area.path().join("pipelines"), "ds").expect("opens");
    reads_alike(&ds);
    // the transaction itself is read-only: a write behind WITH is refused by the server
    let e = ds
        .query("with d as (delete from t returning id) select count(*) from d")
        .and_then(|b| b.collect_rows(10))
        .map(drop)
        .expect_err("delete");
    assert!(matches!(e, DatasetError::ReadOnly(_)), "{e}");
    assert!(matches!(
        ds.query("select pg_read_file('/etc/passwd')").map(drop),
        Err(DatasetError::ReadOnly(_))
    ));
    // columns without a binary decoder arrive as text (interval, arrays)
    let r = rows(
        &ds,
        "select interval '1 day' as i, array[1,2] as a, 1.5::numeric(4,2) as n",
    );
    assert_eq!(r[0]["i"], "P1D");
    assert_eq!(r[0]["a"], "{1,2}");
    assert_eq!(pg.query("select count(*) from ds_dataset.t"), ["121"]);
    // a large table's rows are PostgreSQL's estimate: listing tables never scans it
    pg.query(
        "insert into ds_dataset.t (id, a, _dlt_load_id, _dlt_id) select g, 'z', 'x', g::text \
         from generate_series(1, 1200000) g; analyze ds_dataset.t",
    );
    let t = ds
        .tables()
        .expect("tables")
        .into_iter()
        .find(|t| t.name == "t")
        .expect("t");
    assert!(t.rows_estimated, "{t:?}");
    assert!((1_100_000..1_300_000).contains(&t.rows), "{t:?}");
    // what `sluice tables` lists: every table, dlt's too, the large one estimated
    let all = ds.table_counts().expect("table counts");
    assert!(
        all.iter()
            .any(|(n, rows, est)| n == "_dlt_loads" && *rows == 2 && !est),
        "{all:?}"
    );
    assert!(all.iter().any(|(n, _, est)| n == "t" && *est), "{all:?}");
    // a destination that is down is said to be
    let down = Dataset::at(
        "ds",
        "postgres://postgres@127.0.0.1:9/postgres",
        "ds_dataset",
    )
    .expect("dataset");
    assert!(matches!(
        down.tables(),
        Err(DatasetError::Unavailable { .. })
    ));
}

#[test]
fn a_local_filesystem_dataset_reads_only_committed_files() {
    for format in ["parquet", "jsonl"] {
        let area = Area::new();
        let lake = area.path().join("lake");
        let dest = format!("file://{}?format={format}", lake.display());
        two_loads(&area, &dest);
        let ds = Dataset::open(&area.path().join("pipelines"), "ds").expect("opens");
        if format == "parquet" {
            reads_alike(&ds);
        } else {
            assert_eq!(one(&ds, "select count(*) from t"), 121);
            assert_eq!(ds.loads().expect("loads").len(), 2);
        }
        // each load's files, from its manifest
        let first = ds.loads().expect("loads")[0].load_id.clone();
        let files = ds.load_files(&first).expect("manifest").expect("files");
        assert_eq!(files[0]["table"], "t", "{files}");
        assert_eq!(files[0]["rows"], 120, "{files}");
        // a file of a load that never committed is not read
        let folder = lake.join("ds_dataset").join("t");
        let committed = std::fs::read_dir(&folder)
            .expect("folder")
            .flatten()
            .next()
            .expect("a file")
            .path();
        let stray = folder.join(format!("9999999999.1.0.{format}"));
        std::fs::copy(&committed, &stray).expect("copy");
        assert_eq!(one(&ds, "select count(*) from t"), 121, "{format}");
        // only the dataset's folder is readable
        let e = ds
            .query("select * from read_text('/etc/passwd')")
            .map(drop)
            .expect_err("outside");
        assert!(e.to_string().contains("disabled by configuration"), "{e}");
    }
}

#[test]
#[ignore = "started by the bucket dataset test in a child process (the AWS environment)"]
fn dataset_bucket_child() {
    let area = Area::at(std::env::var("BUCKET_AREA").expect("BUCKET_AREA").into());
    let dest = std::env::var("BUCKET_DEST").expect("BUCKET_DEST");
    two_loads(&area, &dest);
    let ds = Dataset::open(&area.path().join("pipelines"), "ds").expect("opens");
    reads_alike(&ds);
    println!("BUCKET_READ_OK");
}

#[test]
fn a_bucket_dataset_is_read_through_the_object_store() {
    let mut s3 = crate::s3_server::S3Server::start();
    s3.bucket("lake");
    let area = Area::new();
    let dest = "s3://lake/out";
    let out = child_test("dataset::dataset_bucket_child")
        .envs(s3.env())
        .env("BUCKET_AREA", area.path())
        .env("BUCKET_DEST", dest)
        .output()
        .expect("child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("BUCKET_READ_OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_run_is_kept_in_the_history_failed_ones_with_their_error() {
    let area = Area::new();
    two_loads(&area, &format!("duckdb:{}", area.db().display()));
    let missing = area.path().join("missing.ndjson");
    let c = ("files", sluice_bundled::FILES.bytes);
    let toml = files_pipeline("ds", &missing, "t");
    assert!(area.run(&toml, c).is_err());
    let workdir = area.path().join("pipelines").join("ds");
    let history = sluice_pipeline::traces::history(&workdir).expect("history");
    assert_eq!(history.len(), 3);
    assert_eq!(history[0]["status"], "ok");
    assert_eq!(history[0]["summary"]["tables"]["t"], 120);
    assert_eq!(
        history[1]["summary"]["tables"]["t"], 1,
        "only the newer file"
    );
    assert!(
        history[0]["plan"]["component_digest"]
            .as_str()
            .is_some_and(|d| d.len() == 64)
    );
    assert!(
        history[0]["imports"]
            .as_array()
            .is_some_and(|i| !i.is_empty())
    );
    assert_eq!(history[2]["status"], "failed");
    assert!(
        history[2]["error"]
            .as_str()
            .is_some_and(|e| e.contains("missing.ndjson")),
        "{}",
        history[2]
    );
    let info = sluice_pipeline::local_info(&area.path().join("pipelines"), "ds").expect("info");
    assert_eq!(info.runs, 3);
    assert_eq!(info.last_run.expect("last")["status"], "failed");
}
