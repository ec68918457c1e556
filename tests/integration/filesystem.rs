//! The filesystem destination: Parquet (or JSONL) files per table and load, system tables and
//! a manifest, read back with DuckDB's own `read_parquet` / `read_json`.

use crate::support::Area;

fn synthetic(rows: u64, extra: &str) -> String {
    format!(
        "name = \"fs\"\ndataset = \"gh\"\n[connector]\nname = \"synthetic\"\n[config]\nrows = {rows}\npage_size = 400\nseed = 3\n{extra}"
    )
}

fn scalar(sql: &str) -> i64 {
    duckdb::Connection::open_in_memory()
        .expect("duckdb")
        .query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[test]
fn parquet_files_are_readable_with_duckdb() {
    let area = Area::new();
    let out = area.path().join("lake");
    let dest = format!("file://{}", out.display());
    let c = ("synthetic", sluice_bundled::SYNTHETIC.bytes);
    let s = area.run_to(&synthetic(1000, ""), c, &dest).expect("first");
    assert_eq!(s.destination, dest);
    let ds = out.join("gh");
    let events = format!("read_parquet('{}/events/*.parquet')", ds.display());
    assert_eq!(scalar(&format!("select count(*) from {events}")), 1000);
    // child tables keep their link to the parent rows
    let commits = format!(
        "read_parquet('{}/events__payload__commits/*.parquet')",
        ds.display()
    );
    assert_eq!(
        scalar(&format!(
            "select count(*) from {commits} c left join {events} e on c._dlt_parent_id = e._dlt_id where e._dlt_id is null"
        )),
        0
    );
    assert_eq!(
        scalar(&format!("select count(*) from {commits}")) as u64,
        s.tables["events__payload__commits"]
    );
    // system tables and the manifest
    let loads = format!("read_json('{}/_dlt_loads/*.jsonl')", ds.display());
    assert_eq!(
        scalar(&format!("select count(*) from {loads} where status = 0")),
        1
    );
    assert_eq!(
        scalar(&format!(
            "select count(*) from read_json('{}/_dlt_version/*.jsonl')",
            ds.display()
        )),
        1
    );
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            ds.join("_manifests")
                .join(format!("{}.json", s.load_ids[0])),
        )
        .expect("manifest"),
    )
    .expect("manifest json");
    let listed: u64 = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter(|f| f["table"] == "events")
        .map(|f| f["rows"].as_u64().expect("rows"))
        .sum();
    assert_eq!(listed, 1000);
    // append adds files; replace leaves only the newest load's files
    area.run_to(&synthetic(1000, ""), c, &dest).expect("second");
    assert_eq!(scalar(&format!("select count(*) from {events}")), 2000);
    area.run_to(
        &synthetic(200, "[resources.events]\nwrite_disposition = \"replace\"\n"),
        c,
        &dest,
    )
    .expect("replace");
    assert_eq!(scalar(&format!("select count(*) from {events}")), 200);
    assert_eq!(scalar(&format!("select count(*) from {loads}")), 3);
    // merge needs a SQL destination: a clear error, nothing written
    let err = area
        .run_to(
            &synthetic(
                10,
                "[resources.events]\nwrite_disposition = \"merge\"\nprimary_key = [\"id\"]\n",
            ),
            c,
            &dest,
        )
        .expect_err("merge on files");
    assert!(
        err.to_string().contains("merge needs a SQL destination"),
        "{err}"
    );
    assert_eq!(scalar(&format!("select count(*) from {events}")), 200);
}

#[test]
fn jsonl_format_writes_json_lines() {
    let area = Area::new();
    let out = area.path().join("lake");
    let dest = format!("file://{}?format=jsonl", out.display());
    area.run_to(
        &synthetic(300, ""),
        ("synthetic", sluice_bundled::SYNTHETIC.bytes),
        &dest,
    )
    .expect("run");
    assert_eq!(
        scalar(&format!(
            "select count(*) from read_json('{}/gh/events/*.jsonl')",
            out.display()
        )),
        300
    );
}
