//! A built component through the whole pipeline into DuckDB rows.

use crate::support::Area;

fn synthetic(rows: u64, extra: &str) -> String {
    format!(
        "name = \"gh\"\ndataset = \"gh\"\n[connector]\nname = \"synthetic\"\n[config]\nrows = {rows}\npage_size = 1000\nseed = 7\n{extra}"
    )
}

#[test]
fn synthetic_events_land_in_duckdb() {
    let area = Area::new();
    let s = area
        .run(
            &synthetic(2500, ""),
            ("synthetic", sluice_bundled::SYNTHETIC.bytes),
        )
        .expect("run");
    assert_eq!(s.tables["events"], 2500);
    assert_eq!(area.count("select count(*) from gh.events"), 2500);
    // nested lists became child tables linked to their parents
    let commits = area.count("select count(*) from gh.events__payload__commits");
    assert!(commits > 1000, "commits: {commits}");
    assert_eq!(commits as u64, s.tables["events__payload__commits"]);
    assert_eq!(
        area.count("select count(*) from gh.events__payload__commits c left join gh.events e on c._dlt_parent_id = e._dlt_id where e._dlt_id is null"),
        0
    );
    // dlt's shapes: flattened dicts, timestamps, system tables
    let ty: String = area
        .conn()
        .query_row(
            "select data_type from information_schema.columns where table_schema='gh' and table_name='events' and column_name='created_at'",
            [],
            |r| r.get(0),
        )
        .expect("created_at");
    assert_eq!(ty, "TIMESTAMP WITH TIME ZONE");
    assert_eq!(area.count("select count(*) from information_schema.columns where table_schema='gh' and table_name='events' and column_name='actor__login'"), 1);
    assert_eq!(
        area.count("select count(*) from gh._dlt_loads where status = 0"),
        1
    );
    assert_eq!(area.count("select count(*) from gh._dlt_version"), 1);
    assert_eq!(
        area.count("select count(distinct _dlt_load_id) from gh.events"),
        1
    );
    assert_eq!(
        area.count("select count(distinct _dlt_id) from gh.events"),
        2500
    );
    // the connector's checkpoint is committed with the data
    assert_eq!(area.count("select count(*) from gh._dlt_pipeline_state"), 1);
    let load_id: String = area
        .conn()
        .query_row("select load_id from gh._dlt_loads", [], |r| r.get(0))
        .expect("load id");
    assert_eq!(s.load_ids, vec![load_id]);
    let component: String = area
        .conn()
        .query_row("select component from gh._dlt_loads", [], |r| r.get(0))
        .expect("component");
    assert!(component.contains(&s.component_digest), "{component}");
}

#[test]
fn append_adds_and_replace_replaces() {
    let area = Area::new();
    let c = ("synthetic", sluice_bundled::SYNTHETIC.bytes);
    area.run(&synthetic(1200, ""), c).expect("first");
    area.run(&synthetic(1200, ""), c).expect("second");
    assert_eq!(area.count("select count(*) from gh.events"), 2400);
    assert_eq!(area.count("select count(*) from gh._dlt_loads"), 2);
    let before_children = area.count("select count(*) from gh.events__payload__commits");
    area.run(
        &synthetic(300, "[resources.events]\nwrite_disposition = \"replace\"\n"),
        c,
    )
    .expect("replace");
    assert_eq!(area.count("select count(*) from gh.events"), 300);
    let after_children = area.count("select count(*) from gh.events__payload__commits");
    assert!(
        after_children < before_children / 4,
        "child tables are replaced too: {after_children}"
    );
    assert_eq!(
        area.count("select count(*) from gh.events__payload__commits c left join gh.events e on c._dlt_parent_id = e._dlt_id where e._dlt_id is null"),
        0
    );
}

#[test]
fn same_config_gives_same_rows() {
    let a = Area::new();
    let b = Area::new();
    let c = ("synthetic", sluice_bundled::SYNTHETIC.bytes);
    a.run(&synthetic(500, ""), c).expect("a");
    b.run(&synthetic(500, ""), c).expect("b");
    let q = "select string_agg(id || type || coalesce(actor__login, ''), ',' order by id) from gh.events";
    let ra: String = a.conn().query_row(q, [], |r| r.get(0)).expect("a");
    let rb: String = b.conn().query_row(q, [], |r| r.get(0)).expect("b");
    assert_eq!(ra, rb);
}

#[test]
fn unknown_resource_in_pipeline_is_a_clear_error() {
    let area = Area::new();
    let err = area
        .run(
            &synthetic(10, "[resources.nope]\nselected = true\n"),
            ("synthetic", sluice_bundled::SYNTHETIC.bytes),
        )
        .expect_err("must fail");
    let msg = err.to_string();
    assert!(msg.contains("`nope`") && msg.contains("`events`"), "{msg}");
}

#[test]
fn invalid_json_names_file_and_resource_and_keeps_earlier_data() {
    let area = Area::new();
    let good = area.path().join("t.json");
    std::fs::write(&good, r#"[{"id": 1}, {"id": 2}]"#).expect("write");
    let toml = crate::support::files_pipeline("f", &good, "t");
    area.run(&toml, ("files", sluice_bundled::FILES.bytes))
        .expect("good load");
    std::fs::write(&good, r#"[{"id": 3}, {"id": "#).expect("write");
    let err = area
        .run(&toml, ("files", sluice_bundled::FILES.bytes))
        .expect_err("bad json");
    let msg = err.to_string();
    assert!(
        msg.contains("files") && msg.contains("`t`") && msg.contains("t.json"),
        "{msg}"
    );
    assert_eq!(area.count("select count(*) from f_dataset.t"), 2);
}

#[test]
fn a_fresh_destination_gets_state_even_when_local_state_exists() {
    let area = Area::new();
    let c = ("synthetic", sluice_bundled::SYNTHETIC.bytes);
    area.run(&synthetic(100, ""), c).expect("first");
    std::fs::remove_file(area.db()).expect("drop the database");
    area.run(&synthetic(100, ""), c)
        .expect("second into a new database");
    assert_eq!(area.count("select count(*) from gh._dlt_pipeline_state"), 1);
    assert_eq!(area.count("select count(*) from gh._dlt_version"), 1);
    assert_eq!(area.count("select count(*) from gh.events"), 100);
}

#[test]
fn dependent_resources_receive_their_parents_records() {
    let area = Area::new();
    let s = area
        .run(
            &synthetic(2500, "[resources.commit_stats]\nselected = true\n"),
            ("synthetic", sluice_bundled::SYNTHETIC.bytes),
        )
        .expect("run");
    assert_eq!(s.tables["commit_stats"], 2500);
    // every stat row matches its parent event's commits
    assert_eq!(
        area.count(
            "select count(*) from gh.commit_stats s join gh.events e on s.event_id = e.id \
             where s.commits = (select count(*) from gh.events__payload__commits c where c._dlt_parent_id = e._dlt_id)"
        ),
        2500
    );
}

#[test]
fn a_package_that_failed_to_load_is_completed_before_new_data_is_extracted() {
    let area = Area::new();
    let file = area.path().join("events.ndjson");
    let toml = crate::support::files_pipeline("p", &file, "events");
    let c = ("files", sluice_bundled::FILES.bytes);
    std::fs::write(&file, "{\"id\": 0}\n").expect("write");
    area.run(&toml, c).expect("first run");
    // a record with a new column under a frozen contract fails the package at normalize
    std::fs::write(&file, "{\"id\": 1}\n{\"id\": 2, \"x\": 1}\n").expect("write");
    let frozen =
        format!("{toml}[resources.events]\nschema_contract = {{ columns = \"freeze\" }}\n");
    let err = area.run(&frozen, c).expect_err("normalize fails");
    assert!(
        err.to_string().contains("resource `events` page 1")
            && err.to_string().contains("sluice pipeline p abort-packages"),
        "{err}"
    );
    // nothing of the failed package is visible, the package waits on disk
    let packages = area.path().join("pipelines/p/packages");
    let pending: Vec<_> = std::fs::read_dir(&packages)
        .expect("packages")
        .flatten()
        .collect();
    assert_eq!(pending.len(), 1);
    // page files are named by the resource's index, never by its (connector-chosen) name
    assert!(pending[0].path().join("r0000/00000000.ndjson").is_file());
    // the cause is cleared (the contract relaxed); new data arrives meanwhile
    std::fs::write(&file, "{\"id\": 3}\n").expect("new data");
    let s = area.run(&toml, c).expect("second run");
    assert_eq!(s.pending_packages_loaded, 1);
    assert_eq!(s.load_ids.len(), 2);
    assert_eq!(area.count("select count(*) from p_dataset.events"), 4);
    assert_eq!(area.count("select count(*) from p_dataset._dlt_loads"), 3);
    assert_eq!(std::fs::read_dir(&packages).expect("packages").count(), 0);
}

#[test]
fn drop_removes_a_resource_tables_schema_and_state_as_a_new_load() {
    let area = Area::new();
    let c = ("synthetic", sluice_bundled::SYNTHETIC.bytes);
    let toml = synthetic(600, "[resources.commit_stats]\nselected = true\n");
    area.run(&toml, c).expect("run");
    let pipelines = area.path().join("pipelines");
    let before = area.count("select count(*) from gh.events");
    let d =
        sluice_pipeline::drop_resources(&pipelines, "gh", &["commit_stats".into()]).expect("drop");
    assert_eq!(d.tables, vec!["commit_stats".to_owned()]);
    assert_eq!(
        area.count("select count(*) from information_schema.tables where table_schema = 'gh' and table_name = 'commit_stats'"),
        0
    );
    assert_eq!(area.count("select count(*) from gh.events"), before);
    // recorded as a load with a new schema version that no longer has the table
    assert_eq!(area.count("select count(*) from gh._dlt_loads"), 2);
    let schema = sluice_pipeline::stored_schema(&pipelines, "gh").expect("schema");
    assert!(!schema.tables.contains_key("commit_stats"));
    assert!(schema.tables.contains_key("events"));
    let dropped_load: String = area
        .conn()
        .query_row(
            "select schema_version_hash from gh._dlt_loads order by load_id desc limit 1",
            [],
            |r| r.get(0),
        )
        .expect("load");
    assert_eq!(dropped_load, schema.version_hash);
    // unknown resources are named; a later run brings the table back
    let err =
        sluice_pipeline::drop_resources(&pipelines, "gh", &["nope".into()]).expect_err("unknown");
    assert!(err.to_string().contains("`nope`"), "{err}");
    area.run(&toml, c).expect("run again");
    assert_eq!(area.count("select count(*) from gh.commit_stats"), 600);
}

#[test]
fn a_dataset_named_like_its_database_file_loads_twice() {
    // `github.duckdb` holding dataset `github`: DuckDB's catalog and the schema share a name
    let area = Area::new();
    let db = area.path().join("same.duckdb");
    let toml = "name = \"same\"\ndataset = \"same\"\n[connector]\nname = \"synthetic\"\n[config]\nrows = 30\n";
    for _ in 0..2 {
        area.run_to(
            toml,
            ("synthetic", sluice_bundled::SYNTHETIC.bytes),
            &format!("duckdb:{}", db.display()),
        )
        .expect("load");
    }
    let conn = duckdb::Connection::open(&db).expect("open");
    let n: i64 = conn
        .query_row("select count(*) from same.same.events", [], |r| r.get(0))
        .expect("query");
    assert_eq!(n, 60);
}

/// A package the destination refuses (here a CHECK constraint the user put on the table)
/// stays pending; the error says so and names the command that sets it aside, and once the
/// cause is gone the next run loads it first.
#[test]
fn a_package_the_destination_refuses_stays_pending_and_says_how_to_free_it() {
    let area = Area::new();
    let file = area.path().join("events.ndjson");
    let toml = crate::support::files_pipeline("p", &file, "events");
    let c = ("files", sluice_bundled::FILES.bytes);
    {
        let conn = area.conn();
        conn.execute_batch(
            "CREATE SCHEMA p_dataset; CREATE TABLE p_dataset.events (id BIGINT CHECK (id < 100))",
        )
        .expect("a table with a constraint");
    }
    std::fs::write(&file, "{\"id\": 1}\n{\"id\": 150}\n").expect("write");
    let err = area
        .run(&toml, c)
        .expect_err("the CHECK refuses id 150")
        .to_string();
    assert!(
        err.contains("stays pending") && err.contains("sluice pipeline p abort-packages"),
        "{err}"
    );
    assert_eq!(area.count("SELECT count(*) FROM p_dataset.events"), 0);
    // the user drops the constraint (DuckDB: a new table in its place)
    {
        let conn = area.conn();
        conn.execute_batch(
            "CREATE TABLE p_dataset.ev2 AS SELECT * FROM p_dataset.events; \
             DROP TABLE p_dataset.events; ALTER TABLE p_dataset.ev2 RENAME TO events",
        )
        .expect("the constraint dropped");
    }
    std::fs::write(&file, "{\"id\": 200}\n").expect("new data");
    let s = area.run(&toml, c).expect("second run");
    assert_eq!(s.pending_packages_loaded, 1);
    assert_eq!(area.count("SELECT count(*) FROM p_dataset.events"), 3);
}
