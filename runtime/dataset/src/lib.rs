//! The datasets pipelines loaded, read: tables and columns with dlt types, a table or a SQL
//! query as a stream of Arrow record batches, loads, schema versions and state — on DuckDB,
//! PostgreSQL and the filesystem destination (a local folder through DuckDB, a bucket by
//! fetching the committed files a query names). `sluice query`, `export`, `pipeline … info`
//! and the dashboard read through it.
//!
//! **Invariant:** a read never changes a dataset and never makes a run wait. DuckDB files
//! are attached read-only on short-lived in-memory sessions with external access off; a file
//! a run is writing answers [`DatasetError::Busy`] at once. PostgreSQL reads run in a
//! read-only transaction under a statement timeout. Only one reading statement is accepted.

mod batches;
mod catalog;
mod dataset;
mod duck;
mod error;
mod pg;
mod statement;

pub use batches::Batches;
pub use catalog::{
    ColumnSummary, EXACT_COUNT_UP_TO, LoadRecord, SchemaChange, SchemaVersion, TableSummary,
};
pub use dataset::Dataset;
pub use error::{DatasetError, Result};

/// Rows of batches as JSON objects (timestamps as ISO text, decimals as numbers or text).
pub fn batches_to_json(
    batches: &[arrow_array::RecordBatch],
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>> {
    let mut writer = arrow_json::ArrayWriter::new(Vec::new());
    let refs: Vec<&arrow_array::RecordBatch> = batches.iter().collect();
    writer
        .write_batches(&refs)
        .map_err(|e| DatasetError::Query(format!("rendering rows: {e}")))?;
    writer
        .finish()
        .map_err(|e| DatasetError::Query(format!("rendering rows: {e}")))?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes).map_err(|e| DatasetError::Query(format!("rendering rows: {e}")))
}
