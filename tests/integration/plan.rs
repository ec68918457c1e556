//! `sluice plan` / `run --dry-run`: what a run would do, checked as a run checks it, without
//! touching the destination or extracting anything.

use sluice_pipeline::{PipelineSpec, RunOptions};

use crate::support::Area;

fn options(area: &Area, spec: PipelineSpec, component: (&str, &[u8])) -> RunOptions {
    RunOptions {
        spec,
        pipelines_dir: area.path().join("pipelines"),
        cache_dir: area.path().join("cache"),
        component: (component.0.to_owned(), component.1.to_vec()),
        schema_contract: None,
    }
}

fn plan(
    area: &Area,
    toml: &str,
    component: (&str, &[u8]),
) -> Result<sluice_pipeline::Plan, String> {
    let mut spec = PipelineSpec::from_toml(toml, &[], area.path()).expect("toml");
    spec.destination = format!("duckdb:{}", area.db().display());
    let opts = options(area, spec, component);
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(sluice_pipeline::plan(&opts))
        .map_err(|e| format!("{e:#}"))
}

#[test]
fn a_plan_shows_the_run_and_touches_nothing() {
    let area = Area::new();
    let toml = format!(
        "{}\n[secrets.token]\nenv = \"PLAN_TEST_TOKEN\"\noptional = true\nhost = \"https://api.example.com\"\nscheme = \"bearer\"\n[grants]\nallow_hosts = [\"https://api.example.com\"]\n",
        "name = \"pl\"\ndataset = \"pl\"\n[connector]\nname = \"synthetic\"\n[config]\nrows = 100\n[resources.events]\nwrite_disposition = \"merge\"\nprimary_key = [\"id\"]\n[resources.events.incremental]\ncursor_path = \"id\"\ninitial_value = 10\n"
    );
    let p = plan(&area, &toml, ("synthetic", sluice_bundled::SYNTHETIC.bytes)).expect("plan");
    assert_eq!(p.pipeline, "pl");
    assert_eq!(p.source, "synthetic");
    assert_eq!(p.component_digest.len(), 64);
    let events = p
        .resources
        .iter()
        .find(|r| r.name == "events")
        .expect("events");
    assert_eq!(
        events.hints.write_disposition,
        sluice_schema::WriteDisposition::Merge
    );
    assert_eq!(events.hints.primary_key, vec!["id".to_owned()]);
    assert_eq!(
        events.incremental.as_ref().map(|i| i.cursor_path.as_str()),
        Some("id")
    );
    assert_eq!(p.secrets.len(), 1);
    assert_eq!(p.secrets[0].name, "token");
    assert!(p.secrets[0].from.contains("PLAN_TEST_TOKEN (optional)"));
    assert_eq!(p.allow_hosts, vec!["https://api.example.com".to_owned()]);
    // nothing was opened, locked or extracted
    assert!(!area.db().exists(), "the destination was not opened");
    assert!(!area.path().join("pipelines/pl/packages").exists());
}

#[test]
fn a_plan_fails_where_the_run_would_and_names_the_place() {
    let area = Area::new();
    let synthetic = ("synthetic", sluice_bundled::SYNTHETIC.bytes);
    let base = "name = \"pl\"\ndataset = \"pl\"\n[connector]\nname = \"synthetic\"\n[config]\nrows = 100\n";
    let e = plan(
        &area,
        &format!("{base}[resources.events]\nwrite_disposition = \"upsert\"\n"),
        synthetic,
    )
    .expect_err("bad disposition");
    assert!(
        e.contains("resource `events`") && e.contains("unknown write_disposition `upsert`"),
        "{e}"
    );
    let e = plan(
        &area,
        &format!("{base}[resources.nope]\nprimary_key = [\"id\"]\n"),
        synthetic,
    )
    .expect_err("unknown resource");
    assert!(
        e.contains("resource `nope`") && e.contains("is not offered"),
        "{e}"
    );
    // what the connector declares is checked while planning
    let e = plan(
        &area,
        "name = \"pl\"\n[connector]\nname = \"probe\"\n[config]\ndeclare = \"dotdot\"\n",
        ("sandbox_probe", sluice_bundled::SANDBOX_PROBE),
    )
    .expect_err("hostile declaration");
    assert!(
        e.contains("declared an invalid resources[0].name `../../x`"),
        "{e}"
    );
    // merge into files is refused before anything runs
    let mut spec = PipelineSpec::from_toml(
        &format!(
            "{base}[resources.events]\nwrite_disposition = \"merge\"\nprimary_key = [\"id\"]\n"
        ),
        &[],
        area.path(),
    )
    .expect("toml");
    spec.destination = format!("file://{}", area.path().join("out").display());
    let e = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(sluice_pipeline::plan(&options(&area, spec, synthetic)))
        .expect_err("merge into files");
    assert!(
        e.to_string().contains("merge needs a SQL destination"),
        "{e}"
    );
    assert!(!area.path().join("out").exists());
}

/// Each plan links granted files into a folder of its own and removes it when dropped, so a
/// second plan (`sluice plan`, or a worker waiting for the lease) never pulls the files from
/// under a connector that is reading them.
#[test]
fn a_second_plan_leaves_the_files_of_the_first_in_place() {
    let area = Area::new();
    let data = area.path().join("data.jsonl");
    std::fs::write(&data, "{\"id\": 1}\n").expect("write");
    let toml = format!(
        "name = \"pf\"\ndataset = \"pf\"\n[connector]\nname = \"files\"\n[config]\npaths = [{data:?}]\ntable = \"t\"\n[grants]\nallow_read_files = [{data:?}]\n"
    );
    let files = ("files", sluice_bundled::FILES.bytes);
    let linked = |p: &sluice_pipeline::Plan| {
        let granted = area.path().join("pipelines").join("pf").join("grants");
        let mut found = Vec::new();
        for plan_dir in std::fs::read_dir(&granted).expect("grants").flatten() {
            for dir in std::fs::read_dir(plan_dir.path())
                .expect("plan dir")
                .flatten()
            {
                found.push(dir.path().join("data.jsonl"));
            }
        }
        assert_eq!(p.read.len(), 1, "{:?}", p.read);
        found
    };
    let first = plan(&area, &toml, files).expect("first plan");
    let before = linked(&first);
    assert_eq!(before.len(), 1, "{before:?}");
    let second = plan(&area, &toml, files).expect("second plan");
    assert!(before[0].exists(), "the first plan's file is gone");
    assert_eq!(linked(&second).len(), 2);
    drop(first);
    assert!(
        !before[0].exists(),
        "a dropped plan leaves its links behind"
    );
    assert_eq!(linked(&second).len(), 1);
}
