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

/// The rows of each file of `table` the manifest of load `load_id` in dataset folder `ds` lists.
fn manifest_rows(ds: &std::path::Path, load_id: &str, table: &str) -> Vec<u64> {
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ds.join("_manifests").join(format!("{load_id}.json"))).expect("manifest"),
    )
    .expect("manifest json");
    manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter(|f| f["table"] == table)
        .map(|f| f["rows"].as_u64().expect("rows"))
        .collect()
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
    // `sluice tables` counts rows from the Parquet footers
    let mut fs = sluice_load::DestinationConfig::parse(&dest, "fs")
        .expect("destination")
        .build("gh", "fs", sluice_load::ReplaceStrategy::default())
        .expect("opens");
    let counts = fs.table_counts().expect("counts");
    assert!(counts.contains(&("events".to_owned(), 1000)), "{counts:?}");
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
    let listed: u64 = manifest_rows(&ds, &s.load_ids[0], "events").iter().sum();
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

/// Rows of a load are gathered into files sized for readers, not one file per page: 20,000
/// records in pages of 400 make one Parquet file per table by default, and the destination's
/// `file_max_rows` (or `file_max_mb`) rotates them, as dlt's file rotation does.
#[test]
fn table_files_are_gathered_and_rotated_at_a_row_count() {
    let c = ("synthetic", sluice_bundled::SYNTHETIC.bytes);
    let files_of = |dest: &str, ds: &std::path::Path, area: &Area| {
        let s = area.run_to(&synthetic(20_000, ""), c, dest).expect("load");
        let events = manifest_rows(ds, &s.load_ids[0], "events");
        let on_disk = std::fs::read_dir(ds.join("events"))
            .expect("events")
            .count();
        assert_eq!(on_disk, events.len(), "the manifest lists every file");
        events
    };
    let area = Area::new();
    let out = area.path().join("lake");
    let dest = format!("file://{}", out.display());
    assert_eq!(files_of(&dest, &out.join("gh"), &area), [20_000]);
    let area = Area::new();
    let out = area.path().join("lake");
    let dest = format!("file://{}?file_max_rows=6000", out.display());
    // pages of 400 close a file at the first page that reaches 6,000 rows
    assert_eq!(
        files_of(&dest, &out.join("gh"), &area),
        [6_000, 6_000, 6_000, 2_000]
    );
    let events = format!("read_parquet('{}/gh/events/*.parquet')", out.display());
    assert_eq!(scalar(&format!("select count(*) from {events}")), 20_000);
    assert_eq!(
        scalar(&format!("select count(distinct _dlt_id) from {events}")),
        20_000
    );
    // JSONL rotates the same way
    let area = Area::new();
    let out = area.path().join("lake");
    let dest = format!("file://{}?format=jsonl&file_max_rows=10000", out.display());
    assert_eq!(files_of(&dest, &out.join("gh"), &area), [10_000, 10_000]);
}
