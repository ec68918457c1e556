//! Destinations: where normalized batches land, one transaction per load package.
//!
//! Invariant: a package is applied all or nothing — staging, schema migration, replace
//! deletes, inserts, the `_dlt_version` row and the `_dlt_loads` row commit in one
//! transaction, and a package whose load id is already in `_dlt_loads` is never applied twice.

mod duckdb_dest;

use arrow_array::RecordBatch;
use sluice_schema::Schema;

pub use duckdb_dest::DuckDb;

/// Errors of a destination, naming the table or statement.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("duckdb `{path}`: {source}")]
    Open {
        path: String,
        #[source]
        source: duckdb::Error,
    },
    #[error("table `{table}`: {source}")]
    Table {
        table: String,
        #[source]
        source: duckdb::Error,
    },
    #[error("{context}: {source}")]
    Sql {
        context: String,
        #[source]
        source: duckdb::Error,
    },
    #[error("no load package is open")]
    NotBegun,
}

pub type Result<T, E = LoadError> = std::result::Result<T, E>;

/// A row of `_dlt_pipeline_state` to write with a package.
#[derive(Clone, Debug)]
pub struct StateRow {
    pub version: i64,
    pub engine_version: i64,
    pub pipeline_name: String,
    /// base64(zlib(json)) as dlt writes it
    pub state: String,
    pub version_hash: String,
}

/// The seam between the pipeline and a database: begin a package, stream batches, commit.
pub trait Destination {
    /// Whether the package `load_id` is already committed.
    fn is_loaded(&mut self, load_id: &str) -> Result<bool>;
    /// Start applying package `load_id`.
    fn begin(&mut self, load_id: &str) -> Result<()>;
    /// Stage one batch for `table`.
    fn write_batch(&mut self, table: &str, batch: &RecordBatch) -> Result<()>;
    /// Migrate the dataset to `schema`, move staged rows into place and commit with the
    /// package's records. `replace_roots` are root tables whose chains are replaced.
    fn commit(
        &mut self,
        schema: &Schema,
        replace_roots: &[String],
        state: Option<&StateRow>,
    ) -> Result<()>;
    /// Abandon the open package.
    fn rollback(&mut self) -> Result<()>;
}
