//! Many files through the `files` connector: glob patterns over nested folders, each file's
//! name and modification time as columns, incremental by modification time (only files newer
//! than the last run's), a cursor column on CSV records, and a file that changes while it is
//! read.

use std::time::{Duration, SystemTime};

use crate::support::Area;

const FILES: (&str, &[u8]) = ("files", sluice_bundled::FILES.bytes);

fn pipeline(area: &Area, pattern: &str, config: &str) -> String {
    let dir = area.path().join("data");
    format!(
        "name = \"many\"\ndataset = \"ds\"\n[connector]\nname = \"files\"\n[config]\npaths = [\"{}/{pattern}\"]\ntable = \"t\"\n{config}[grants]\nallow_read = [{:?}]\n",
        dir.display(),
        dir.display().to_string(),
    )
}

/// Write `text` to `data/<rel>` with modification time `secs` after 2024-01-01.
fn put(area: &Area, rel: &str, text: &str, secs: u64) {
    let path = area.path().join("data").join(rel);
    std::fs::create_dir_all(path.parent().expect("folder")).expect("mkdir");
    std::fs::write(&path, text).expect("write");
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_067_200 + secs);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(when))
        .expect("set the modification time");
}

fn strings(area: &Area, sql: &str) -> Vec<String> {
    let conn = area.conn();
    conn.execute_batch("SET TimeZone = 'UTC'").expect("tz");
    let mut q = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    q.query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[test]
fn a_glob_reads_nested_files_and_names_each_in_its_rows() {
    let area = Area::new();
    put(&area, "2024/01/a.csv", "id,v\n1,a\n2,b\n", 10);
    put(&area, "2024/02/b.ndjson", "{\"id\": 3, \"v\": \"c\"}\n", 20);
    put(&area, "2024/02/c.csv", "id,v\n4,d\n", 30);
    put(&area, "2024/notes.txt", "not data\n", 40);
    let toml = pipeline(&area, "2024/**/*.[cn]*", "file_columns = true\n");
    let s = area.run(&toml, FILES).expect("run");
    assert_eq!(s.tables["t"], 4);
    assert_eq!(
        strings(
            &area,
            "SELECT id || ' ' || file_name || ' ' || modification_date FROM ds.t ORDER BY id"
        ),
        [
            "1 01/a.csv 2024-01-01 00:00:10+00",
            "2 01/a.csv 2024-01-01 00:00:10+00",
            "3 02/b.ndjson 2024-01-01 00:00:20+00",
            "4 02/c.csv 2024-01-01 00:00:30+00",
        ]
    );
    // the modification time is a timestamp column, as dlt detects ISO timestamps
    assert_eq!(
        strings(
            &area,
            "SELECT data_type FROM information_schema.columns WHERE table_name = 't' AND column_name = 'modification_date'"
        ),
        ["TIMESTAMP WITH TIME ZONE"]
    );
}

#[test]
fn table_per_file_loads_each_file_name_into_its_own_table() {
    let area = Area::new();
    put(&area, "2024/01/orders.csv", "id,total\n1,9.5\n2,3\n", 10);
    put(&area, "2024/02/orders.csv.gz", "", 20);
    let gz = {
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b"id,total\n3,1.25\n").expect("gzip");
        e.finish().expect("gzip")
    };
    std::fs::write(area.path().join("data/2024/02/orders.csv.gz"), gz).expect("write");
    put(
        &area,
        "2024/02/customers.ndjson",
        "{\"id\": 7, \"name\": \"x\"}\n",
        30,
    );
    let toml =
        pipeline(&area, "2024/**/*.*", "").replace("table = \"t\"\n", "table_per_file = true\n");
    let s = area.run(&toml, FILES).expect("run");
    assert_eq!(s.tables.get("orders"), Some(&3), "{s:?}");
    assert_eq!(s.tables.get("customers"), Some(&1), "{s:?}");
    assert_eq!(s.tables.len(), 2, "{s:?}");
    assert_eq!(
        strings(
            &area,
            "SELECT CAST(total AS VARCHAR) FROM ds.orders ORDER BY id"
        ),
        ["9.5", "3.0", "1.25"]
    );
    let both = pipeline(&area, "2024/**/*.*", "table_per_file = true\n");
    let e = area.run(&both, FILES).expect_err("both").to_string();
    assert!(e.contains("not both"), "{e}");
}

#[test]
fn incremental_by_modification_time_reads_only_newer_files() {
    let area = Area::new();
    put(&area, "a.csv", "id\n1\n2\n", 10);
    put(&area, "b.csv", "id\n3\n", 20);
    let toml = pipeline(&area, "*.csv", "incremental = \"modified\"\n");
    assert_eq!(area.run(&toml, FILES).expect("first").tables["t"], 3);
    // nothing new: nothing loaded, the dataset unchanged
    let again = area.run(&toml, FILES).expect("again");
    assert_eq!(again.tables.get("t").copied().unwrap_or(0), 0);
    // a newer file, a file at the last run's newest time it has not read, an older one
    put(&area, "c.csv", "id\n4\n", 30);
    put(&area, "d.csv", "id\n5\n", 20);
    put(&area, "old.csv", "id\n6\n", 5);
    let third = area.run(&toml, FILES).expect("third");
    assert_eq!(third.tables["t"], 2, "c.csv and d.csv");
    assert_eq!(
        strings(
            &area,
            "SELECT string_agg(id::VARCHAR, ',' ORDER BY id) FROM ds.t"
        ),
        ["1,2,3,4,5"]
    );
    // a file rewritten later is read again, as dlt's filesystem source reads it
    put(&area, "a.csv", "id\n7\n", 40);
    assert_eq!(area.run(&toml, FILES).expect("fourth").tables["t"], 1);
}

#[test]
fn a_cursor_column_of_csv_records_loads_only_newer_rows() {
    let area = Area::new();
    put(
        &area,
        "e.csv",
        "id,updated_at\n1,2024-01-01T00:00:00Z\n2,2024-01-02T00:00:00Z\n",
        10,
    );
    let toml = format!(
        "{}[resources.t]\nincremental = {{ cursor_path = \"updated_at\" }}\nprimary_key = [\"id\"]\nwrite_disposition = \"merge\"\n",
        pipeline(&area, "*.csv", "")
    );
    assert_eq!(area.run(&toml, FILES).expect("first").tables["t"], 2);
    put(
        &area,
        "e.csv",
        "id,updated_at\n1,2024-01-01T00:00:00Z\n2,2024-01-02T00:00:00Z\n3,2024-01-03T00:00:00Z\n",
        20,
    );
    let s = area.run(&toml, FILES).expect("second");
    assert_eq!(s.tables["t"], 1, "only the newer row");
    assert_eq!(area.count("SELECT count(*) FROM ds.t"), 3);
}

#[test]
fn a_file_that_changes_while_it_is_read_fails_the_run() {
    let area = Area::new();
    let line = format!("{{\"id\": 1, \"pad\": \"{}\"}}\n", "x".repeat(200));
    put(&area, "grow.ndjson", &line.repeat(100_000), 10);
    let path = area.path().join("data/grow.ndjson");
    let toml = pipeline(&area, "*.ndjson", "page_size = 1000\n");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (done, path, line) = (done.clone(), path.clone(), line.clone());
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .expect("open");
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                f.write_all(line.as_bytes()).expect("append");
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let result = area.run(&toml, FILES);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.join().expect("writer");
    let err = result
        .expect_err("the file grew while it was read")
        .to_string();
    assert!(
        err.contains("grow.ndjson") && err.contains("changed while it was read"),
        "{err}"
    );
    // nothing of the run's open package stays, nor a package behind it
    let packages = area.path().join("pipelines/many/packages");
    let left = std::fs::read_dir(&packages).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0);
}

/// A pattern that matches no file is no error (a landing folder may be empty between
/// deliveries), but the run says so: a typo is not mistaken for "nothing new".
#[test]
fn a_pattern_matching_no_file_loads_nothing_and_says_so() {
    let area = Area::new();
    put(&area, "2024/01/a.csv", "id\n1\n", 10);
    let toml = pipeline(&area, "2024/**/*.parquet", "");
    let (result, logs) = area.run_logged(&toml, &[], FILES);
    let s = result.expect("run");
    assert!(s.load_ids.is_empty(), "{:?}", s.load_ids);
    assert!(
        logs.iter().any(|(level, m)| level == "warn"
            && m.starts_with("no file matches `")
            && m.ends_with("2024/**/*.parquet`")),
        "{logs:?}"
    );
}
