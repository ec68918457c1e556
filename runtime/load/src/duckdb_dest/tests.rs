//! The DuckDB destination's own tests: types, packages, buffer pool, dispositions.

use std::sync::Arc;

use arrow_array::{Int64Array, StringArray};
use sluice_schema::WriteDisposition;

use super::*;

/// DuckDB's buffer pool as it reports it.
fn pool(db: &DuckDb) -> String {
    db.conn
        .query_row("SELECT current_setting('memory_limit')", [], |r| r.get(0))
        .expect("setting")
}

/// What DuckDB reports for `mb` megabytes (it prints MiB).
fn reported(db: &DuckDb, mb: u64) -> String {
    db.conn
        .execute_batch(&format!("SET memory_limit = '{mb}MB'"))
        .expect("set");
    pool(db)
}

/// A fresh temporary folder (returned for removal) and the path of a DuckDB file in it.
fn temp_path(name: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!(
        "sluice-{name}-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("x.duckdb").to_string_lossy().into_owned();
    (dir, path)
}

/// A DuckDB file with dataset `ds` in a fresh temporary folder (returned for removal).
fn temp_db(name: &str) -> (std::path::PathBuf, DuckDb) {
    let (dir, path) = temp_path(name);
    (dir, DuckDb::open(&path, "ds").expect("open"))
}

/// An append table `name` with a row key and a text column `kind`, and a batch of `n`
/// rows for it (distinct ids, two kinds).
fn kinds_table(name: &str, n: usize) -> (Table, RecordBatch) {
    let mut t = Table {
        name: name.into(),
        write_disposition: Some(WriteDisposition::Append),
        ..Default::default()
    };
    t.columns.insert("_dlt_id".into(), Column::dlt_id());
    t.columns
        .insert("kind".into(), Column::data("kind", DataType::Text));
    let ids: Vec<String> = (0..n).map(|i| format!("{:014x}", i * 7919)).collect();
    let kinds: Vec<&str> = (0..n).map(|i| ["push", "fork"][i % 2]).collect();
    let batch = RecordBatch::try_from_iter([
        (
            "_dlt_id",
            Arc::new(StringArray::from(ids)) as arrow_array::ArrayRef,
        ),
        ("kind", Arc::new(StringArray::from(kinds)) as _),
    ])
    .expect("batch");
    (t, batch)
}

/// Load `batch` into `table` as one package.
fn load_one(db: &mut DuckDb, load_id: &str, table: &Table, batch: &RecordBatch) {
    db.begin(load_id).expect("begin");
    append_and_commit(db, table, batch);
}

/// Append `batch` to `table` in the begun package and commit it.
fn append_and_commit(db: &mut DuckDb, table: &Table, batch: &RecordBatch) {
    let mut schema = Schema::new("s");
    schema.tables.insert(table.name.clone(), table.clone());
    db.write_batch(&schema, table, batch).expect("append");
    let roots = [table.name.clone()];
    db.commit(&Commit {
        schema: &schema,
        roots: &roots,
        append_only: &[],
        state: None,
        component: None,
    })
    .expect("commit");
}

/// The encodings DuckDB chose for `column` of `ds.table`'s text segments.
fn compression(db: &DuckDb, table: &str, column: &str) -> Vec<String> {
    let mut stmt = db
        .conn
        .prepare(
            "SELECT DISTINCT compression FROM pragma_storage_info(?) \
             WHERE column_name = ? AND segment_type = 'VARCHAR' ORDER BY 1",
        )
        .expect("prepare");
    stmt.query_map([format!("ds.{table}"), column.to_owned()], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .expect("storage info")
}

#[test]
fn the_row_key_is_stored_uncompressed_and_other_text_still_compresses() {
    let (dir, mut db) = temp_db("rowkey");
    let (t, batch) = kinds_table("t", 5000);
    load_one(&mut db, "1.1", &t, &batch);
    assert_eq!(compression(&db, "t", "_dlt_id"), ["Uncompressed"]);
    // a new file is in DuckDB 1.3's format, with its combined dictionary+FSST encoding
    assert_eq!(compression(&db, "t", "kind"), ["DICT_FSST"]);
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_existing_file_keeps_the_storage_format_it_was_created_in() {
    let (dir, path) = temp_path("format");
    let mut old = DuckDb::open_in_format(&path, "ds", "v1.0.0").expect("create in 1.0");
    let (t, batch) = kinds_table("t", 5000);
    load_one(&mut old, "1.1", &t, &batch);
    assert_eq!(compression(&old, "t", "kind"), ["Dictionary"]);
    drop(old);
    let mut db = DuckDb::open_in_format(&path, "ds", STORAGE_VERSION).expect("reopen");
    let (t2, batch2) = kinds_table("t2", 5000);
    load_one(&mut db, "1.2", &t2, &batch2);
    assert_eq!(
        compression(&db, "t2", "kind"),
        ["Dictionary"],
        "still 1.0's format"
    );
    assert_eq!(compression(&db, "t2", "_dlt_id"), ["Uncompressed"]);
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_buffer_pool_grows_with_a_live_package_and_is_sized_once_per_change() {
    let (dir, mut db) = temp_db("pool");
    let mut schema = Schema::new("s");
    let mut t = Table {
        name: "t".into(),
        write_disposition: Some(WriteDisposition::Append),
        ..Default::default()
    };
    for c in ["a", "b", "c"] {
        t.columns
            .insert(c.into(), Column::data(c, DataType::Bigint));
    }
    schema.tables.insert("t".into(), t.clone());
    let col = |n: i64| Arc::new(Int64Array::from(vec![n])) as arrow_array::ArrayRef;
    let batch =
        RecordBatch::try_from_iter([("a", col(1)), ("b", col(2)), ("c", col(3))]).expect("batch");

    db.begin("1.1").expect("begin");
    db.expect_largest_page(1 << 20).expect("small page");
    assert_eq!(db.memory_limit_mb, Some(STREAM_MEMORY_LIMIT_MB));
    db.write_batch(&schema, &t, &batch).expect("append");
    // the appender's allowance: 1 MB per column and one more
    let widened = STREAM_MEMORY_LIMIT_MB + 4 * STREAM_MEMORY_PER_COLUMN_MB;
    assert_eq!(db.memory_limit_mb, Some(widened));
    // a page no larger than the first changes nothing
    db.expect_largest_page(1 << 20).expect("same page");
    assert_eq!(db.memory_limit_mb, Some(widened));
    // a live package's larger page (3 × 40 MiB = 120 MB) grows the pool by the difference
    // and keeps the table's allowance
    db.expect_largest_page(40 << 20).expect("larger page");
    assert_eq!(
        db.memory_limit_mb,
        Some(120 + 4 * STREAM_MEMORY_PER_COLUMN_MB)
    );
    let now = pool(&db);
    assert_eq!(now, reported(&db, 124), "DuckDB has the size Sluice tracks");
    db.rollback().expect("rollback");
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}

/// DuckDB's worker threads as it reports them.
fn threads(db: &DuckDb) -> i64 {
    db.conn
        .query_row("SELECT current_setting('threads')", [], |r| r.get(0))
        .expect("setting")
}

#[test]
fn batches_stream_in_on_one_worker_and_packages_commit_on_duckdbs_default() {
    let (dir, mut db) = temp_db("threads");
    let default = threads(&db);
    let (t, batch) = kinds_table("t", 3);

    db.begin("1.1").expect("begin");
    assert_eq!(threads(&db), STREAM_THREADS as i64);
    append_and_commit(&mut db, &t, &batch);
    assert_eq!(threads(&db), default, "the commit and what follows it");

    db.begin("1.2").expect("begin");
    assert_eq!(threads(&db), STREAM_THREADS as i64);
    db.rollback().expect("rollback");
    assert_eq!(threads(&db), default, "after a rollback");
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}
