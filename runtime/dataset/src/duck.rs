//! Reads through DuckDB: a DuckDB destination's file attached read-only, or a filesystem
//! dataset's committed files as views. Every session is in-memory and short-lived, has
//! external access off once set up (no `read_text('/etc/…')`, no `ATTACH`, no `COPY … TO`)
//! and its configuration locked.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use duckdb::Connection;

use crate::batches::Sink;
use crate::{DatasetError, Result};

/// What a session reads.
#[derive(Clone, Debug)]
pub(crate) enum DuckSource {
    /// a DuckDB destination's file and the dataset's schema in it
    File { path: PathBuf, dataset: String },
    /// a filesystem dataset: table → its committed files on local disk, all below `root`
    Files {
        root: PathBuf,
        dataset: String,
        tables: Vec<(String, Vec<PathBuf>)>,
    },
}

pub(crate) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A read-only session on `source`; `pipeline` names who may hold the file for writing.
pub(crate) fn session(source: &DuckSource, pipeline: &str) -> Result<Connection> {
    let conn = Connection::open_in_memory().map_err(|e| DatasetError::Query(e.to_string()))?;
    let setup = match source {
        DuckSource::File { path, dataset } => attach(&conn, path, dataset, pipeline)?,
        DuckSource::Files {
            root,
            dataset,
            tables,
        } => views(&conn, root, dataset, tables)?,
    };
    conn.execute_batch(&format!(
        "{setup} SET enable_external_access = false; SET lock_configuration = true;"
    ))
    .map_err(|e| DatasetError::Query(format!("opening the dataset: {e}")))?;
    Ok(conn)
}

/// Attach the file read-only; returns the statement that makes the dataset the default.
fn attach(conn: &Connection, path: &Path, dataset: &str, pipeline: &str) -> Result<String> {
    let shown = format!("duckdb:{}", path.display());
    if !path.is_file() {
        return Err(DatasetError::Unavailable {
            destination: shown,
            reason: "the database file does not exist (has the pipeline run?)".into(),
        });
    }
    let alias = if dataset == "sluice_dataset" {
        "sluice_dataset_db"
    } else {
        "sluice_dataset"
    };
    conn.execute_batch(&format!(
        "ATTACH {} AS {} (READ_ONLY)",
        literal(&path.to_string_lossy()),
        quote(alias)
    ))
    .map_err(|e| {
        let text = e.to_string();
        if text.contains("Could not set lock") || text.contains("Conflicting lock") {
            DatasetError::Busy {
                pipeline: pipeline.to_owned(),
                destination: shown.clone(),
            }
        } else {
            DatasetError::Unavailable {
                destination: shown.clone(),
                reason: text,
            }
        }
    })?;
    let exists: i64 = conn
        .query_row(
            "SELECT count(*) FROM duckdb_schemas() WHERE database_name = ? AND schema_name = ?",
            [alias, dataset],
            |r| r.get(0),
        )
        .map_err(|e| DatasetError::Query(e.to_string()))?;
    if exists == 0 {
        return Err(DatasetError::NotFound(format!(
            "dataset `{dataset}` is not in {shown}"
        )));
    }
    Ok(format!("USE {}.{};", quote(alias), quote(dataset)))
}

/// Views over the committed files of each table; returns the statements that allow only
/// the dataset's folder and make its schema the default.
fn views(
    conn: &Connection,
    root: &Path,
    dataset: &str,
    tables: &[(String, Vec<PathBuf>)],
) -> Result<String> {
    let mut sql = format!("CREATE SCHEMA {};", quote(dataset));
    for (table, files) in tables.iter().filter(|(_, f)| !f.is_empty()) {
        let list: Vec<String> = files
            .iter()
            .map(|f| literal(&f.to_string_lossy()))
            .collect();
        let list = list.join(", ");
        let reader = if files[0].extension().is_some_and(|e| e == "parquet") {
            format!("read_parquet([{list}], union_by_name = true)")
        } else {
            format!("read_json([{list}], format = 'newline_delimited', union_by_name = true)")
        };
        sql.push_str(&format!(
            "CREATE VIEW {}.{} AS SELECT * FROM {reader};",
            quote(dataset),
            quote(table)
        ));
    }
    conn.execute_batch(&sql)
        .map_err(|e| DatasetError::Query(format!("reading the dataset's files: {e}")))?;
    let mut dir = root.to_string_lossy().into_owned();
    if !dir.ends_with('/') {
        dir.push('/');
    }
    Ok(format!(
        "SET allowed_directories = [{}]; USE memory.{};",
        literal(&dir),
        quote(dataset)
    ))
}

/// Run `sql` on a session of `source`, sending its batches to `sink`; interrupted when it
/// still holds the file after `timeout` (a run waits for readers to let go).
pub(crate) fn run(
    source: &DuckSource,
    pipeline: &str,
    sql: &str,
    timeout: Duration,
    sink: &Sink,
) -> Result<()> {
    let conn = session(source, pipeline)?;
    let interrupt = conn.interrupt_handle();
    let (done, watch) = std::sync::mpsc::channel::<()>();
    let stopped = Arc::new(AtomicBool::new(false));
    let flag = stopped.clone();
    std::thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = watch.recv_timeout(timeout) {
            flag.store(true, Ordering::SeqCst);
            interrupt.interrupt();
        }
    });
    let timed_out = |e: duckdb::Error| {
        if stopped.load(Ordering::SeqCst) {
            DatasetError::Query(format!(
                "the query was stopped after {} s (reads must not hold the file a run waits for)",
                timeout.as_secs()
            ))
        } else {
            query_error(e)
        }
    };
    let mut stmt = conn.prepare(sql).map_err(timed_out)?;
    let arrow = stmt.query_arrow([]).map_err(timed_out)?;
    if !sink.schema(arrow.get_schema()) {
        return Ok(());
    }
    for batch in arrow {
        if !sink.batch(batch) {
            break;
        }
    }
    drop(done);
    // DuckDB's batch iterator ends quietly when interrupted: the rows so far are not all
    if stopped.load(Ordering::SeqCst) {
        return Err(timed_out(duckdb::Error::QueryReturnedNoRows));
    }
    Ok(())
}

/// DuckDB's message, with a write to the read-only attachment said plainly.
fn query_error(e: duckdb::Error) -> DatasetError {
    let text = e.to_string();
    if text.contains("read-only mode") || text.contains("read only mode") {
        DatasetError::ReadOnly(format!("queries are read-only: {text}"))
    } else {
        DatasetError::Query(text)
    }
}
