//! Destinations: where normalized batches land, one transaction per load package.
//!
//! Invariant: a package is applied all or nothing — staging, schema migration, the
//! disposition's SQL (append, replace, merge, scd2), the `_dlt_version` row, the state row and
//! the `_dlt_loads` row commit in one transaction, and a package whose load id is already in
//! `_dlt_loads` is never applied twice. Migrations only add tables and columns.

mod bucket_tree;
mod catalog;
mod config;
mod driver;
mod duckdb_dest;
mod filesystem;
pub mod lease;
mod postgres;
pub mod sql;
mod stored_files;
mod table_files;
mod tree;

use arrow_array::RecordBatch;
use sluice_schema::{Schema, Table};

pub use config::{Cloud, DestinationConfig};
pub use duckdb_dest::DuckDb;
pub use filesystem::{FileFormat, Filesystem};
pub use postgres::Postgres;
pub use sluice_sql::{ClientCert, PgUrl, RootCerts, SslMode, TlsOptions};
pub use sql::ReplaceStrategy;
pub use stored_files::StoredFiles;
pub use table_files::FileRotation;

/// An error of the database or file system underneath.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Errors of a destination, naming the table or statement.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot open {destination}: {source}")]
    Open {
        destination: String,
        #[source]
        source: BoxError,
    },
    #[error("{context}: {source}")]
    Sql {
        context: String,
        #[source]
        source: BoxError,
    },
    #[error("{0}")]
    Plan(String),
    #[error("no load package is open")]
    NotBegun,
}

impl LoadError {
    pub(crate) fn sql(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        LoadError::Sql {
            context: context.into(),
            source: source.into(),
        }
    }
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

/// The newest committed `_dlt_pipeline_state` row of a pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredState {
    pub version: i64,
    /// as dlt stores it: base64 of zlib of JSON
    pub state: String,
    /// the package that committed it: the state's identity for compare-and-swap
    pub load_id: String,
}

/// What a package commits besides its rows.
pub struct Commit<'a> {
    /// the schema after normalizing the package; the dataset is migrated to it
    pub schema: &'a Schema,
    /// root tables of the resources in the package, in order; each chain is applied with its
    /// table's write disposition (a `replace` chain is emptied even without new rows)
    pub roots: &'a [String],
    /// roots applied as `append` whatever their disposition (a later package of a run whose
    /// first package replaced the table)
    pub append_only: &'a [String],
    pub state: Option<&'a StateRow>,
    /// `name@version sha256:digest` of the component, recorded in `_dlt_loads.component`
    pub component: Option<&'a str>,
}

/// The seam between the pipeline and a dataset: what it holds ([`Catalog`]), one package
/// applied in one transaction ([`PackageTx`]), and work beyond a package ([`Admin`]).
pub trait Destination: Catalog + PackageTx + Admin + Send {}

impl<T: Catalog + PackageTx + Admin + Send> Destination for T {}

/// Reads of what a dataset holds.
pub trait Catalog {
    /// Where the data goes, without credentials (for summaries and errors).
    fn describe(&self) -> String;
    /// Whether the package `load_id` is already committed.
    fn is_loaded(&mut self, load_id: &str) -> Result<bool>;
    /// How many packages this dataset has committed.
    fn load_count(&mut self) -> Result<i64>;
    /// The newest schema stored in `_dlt_version` under `schema_name`.
    fn stored_schema(&mut self, schema_name: &str) -> Result<Option<String>>;
    /// The newest committed `_dlt_pipeline_state` row of `pipeline`.
    fn stored_state(&mut self, pipeline: &str) -> Result<Option<StoredState>>;
    /// Every table of the dataset with its row count, system tables included.
    fn table_counts(&mut self) -> Result<Vec<(String, i64)>>;
    /// The longest identifier the destination keeps (names are shortened to it).
    fn max_identifier_len(&self) -> usize {
        65536
    }
}

/// One package, applied all or nothing: begin, stream batches, commit (or roll back).
pub trait PackageTx {
    /// Start applying package `load_id`.
    fn begin(&mut self, load_id: &str) -> Result<()>;
    /// The size of the package's largest page file, before its batches come (a live package,
    /// whose pages are still being extracted, tells each page larger than those before): a
    /// destination that bounds its memory leaves room for one value that big.
    fn expect_largest_page(&mut self, bytes: u64) -> Result<()> {
        let _ = bytes;
        Ok(())
    }
    /// The root tables whose chains this package replaces from scratch (`replace`, the run's
    /// first package of the resource), told after `begin` and before any batch. A destination
    /// that writes such rows in place empties the chain inside the package transaction before
    /// its first rows land (`sql::InPlace`); the default stages them for the commit's SQL.
    fn replaces(&mut self, roots: &[String]) {
        let _ = roots;
    }
    /// Write one batch for `table` (the table of `schema` as it is after the batch): staged
    /// for the commit's SQL, or — when the chain only appends, or is replaced in place
    /// (`sql::InPlace::takes`) — straight into place inside the package transaction where the
    /// destination can.
    fn write_batch(&mut self, schema: &Schema, table: &Table, batch: &RecordBatch) -> Result<()>;
    /// Migrate, move staged rows into place and commit with the package's records.
    fn commit(&mut self, commit: &Commit) -> Result<()>;
    /// Abandon the open package.
    fn rollback(&mut self) -> Result<()>;
}

/// Work on a dataset beyond one package: cleaning up after interrupted loads, dropping tables.
pub trait Admin {
    /// Remove what an interrupted attempt at package `load_id` left outside a transaction
    /// (staging tables), once the package is set aside and will never be retried. Nothing
    /// committed is touched.
    fn discard(&mut self, load_id: &str) -> Result<()> {
        let _ = load_id;
        Ok(())
    }
    /// Discard what loads of this destination's pipeline that never committed left outside a
    /// transaction (a holder that died mid-commit); their load ids. Called under the
    /// pipeline's lease, before anything else is loaded. SQL destinations roll such loads
    /// back themselves.
    fn recover(&mut self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    /// Drop `tables` (and their staging leftovers) in one transaction that also records
    /// `commit` (the schema without them, the state without their resources).
    fn drop_tables(&mut self, load_id: &str, tables: &[String], commit: &Commit) -> Result<()>;
}

/// The `_dlt_id` of a state row: stable for a package and state version.
pub(crate) fn state_row_id(load_id: &str, st: &StateRow) -> String {
    sluice_schema::digest_id(format!("{load_id}{}", st.version_hash).as_bytes())
}

/// The longest identifier PostgreSQL keeps.
pub const POSTGRES_MAX_IDENTIFIER: usize = 63;

/// A staging-schema table name for `table` in package `load_id`, unique per load so that
/// concurrent pipelines never share staging (dlt#4297), at most 63 characters.
pub fn staging_name(table: &str, load_id: &str, suffix: &str) -> String {
    let raw = format!("{table}__{}{suffix}", load_id.replace('.', "_"));
    sluice_schema::shorten_identifier(&raw, &raw, POSTGRES_MAX_IDENTIFIER)
}

/// A crash-test hook: when the environment variable `SLUICE_FAILPOINT` equals `name`, the
/// process kills itself with SIGKILL right here — no unwinding, no destructors, exactly like
/// a power cut or the OOM killer. Used by the tests that prove packages land exactly once;
/// without the variable it costs one cached lookup.
pub fn failpoint(name: &str) {
    static ARMED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var("SLUICE_FAILPOINT").ok());
    if armed.as_deref() == Some(name) {
        let pid = std::process::id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status();
        // the signal is asynchronous: never run past the failpoint
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
}
