//! A pipeline run: plan → extract (connector pages to a package on disk) → normalize → load
//! (one destination transaction per package), resuming pending packages first.
//!
//! Invariant: a package directory becomes visible under `packages/` only once its extraction
//! finished (atomic rename), and leaves it only after its destination transaction committed;
//! a pending package is always loaded before new data is extracted, so every row lands
//! exactly once.

// Errors carry the host's and DuckDB's errors with their context; they are returned once per
// run, so their size does not matter.
#![allow(clippy::result_large_err)]

mod bucket_grants;
mod contracts;
mod db_grants;
mod destination;
mod error;
mod extract;
mod grants;
mod in_process;
mod incremental;
mod init_sql;
mod lease;
mod live;
mod load;
mod load_id;
mod local_info;
mod manage;
mod package;
mod plan;
mod resources;
mod run;
mod salvage;
mod sandbox;
mod sink;
mod spec;
mod state;
pub mod traces;

use std::path::PathBuf;

use indexmap::IndexMap;
use sluice_schema::SchemaUpdate;

pub use bucket_grants::hostless_secret;
pub use contracts::schema_change_message;
pub(crate) use destination::{destination_config, open_named, restore_schema};
pub use destination::{duckdb_path, open_destination};
pub use error::PipelineError;
pub(crate) use error::io_err;
pub use in_process::{InProcessOptions, PageFeed, run_in_process};
pub use incremental::{IncrementalSpec, LastValueFunc, OnCursorMissing};
pub use init_sql::{SqlPipeline, sql_pipeline};
pub(crate) use load_id::{new_load_id, new_load_id_after};
pub use local_info::{LocalInfo, PackageFile, PackageInfo, local_info, pipeline_names};
pub use manage::{
    DropSummary, Inspection, Remembered, abort_packages, drop_resources, inspect, stored_schema,
    sync,
};
pub use package::{PackageManifest, PageEntry};
pub use plan::{Plan, PlannedSecret, plan};
pub use resources::PlannedResource;
pub(crate) use resources::disposition_name;
pub use run::{run, run_plan};
pub use spec::{
    ConnectorSpec, Grants, Limits, Notifications, PipelineSpec, ResourceOverride, SchemaOptions,
    SecretSpec, apply_set, toml_to_json,
};

/// What a run reports while it works.
pub trait Progress: Send + Sync {
    /// A stage started (`extract`, `normalize`, `load`).
    fn stage(&self, _stage: &str, _detail: &str) {}
    /// A page of `resource` was written to the package.
    fn page(&self, _resource: &str, _pages: u64, _bytes: u64) {}
    /// Rows normalized so far in the current package.
    fn rows(&self, _rows: u64) {}
    /// A log line of the connector.
    fn log(&self, _level: &str, _message: &str) {}
}

/// A progress sink that shows nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// Where and with what a run happens.
pub struct RunOptions {
    pub spec: PipelineSpec,
    /// `<pipelines_dir>/<name>/` holds packages, schemas and local state
    pub pipelines_dir: PathBuf,
    /// component name and bytes
    pub component: (String, Vec<u8>),
    /// compiled-component cache
    pub cache_dir: PathBuf,
    /// the run's data contract: overrides every resource's and the source's
    pub schema_contract: Option<sluice_schema::SchemaContract>,
}

/// What a run did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunSummary {
    pub pipeline: String,
    pub dataset: String,
    pub destination: String,
    pub connector: String,
    pub connector_version: String,
    pub component_digest: String,
    pub load_ids: Vec<String>,
    /// table → rows loaded by this run
    pub tables: IndexMap<String, u64>,
    pub schema_update: SchemaUpdate,
    pub schema_version: u64,
    pub pending_packages_loaded: usize,
    /// pending packages set aside because another worker committed newer state since they
    /// were extracted: `<pipelines_dir>/<pipeline>/aborted/<load_id>/REASON.txt` says why
    pub packages_set_aside: Vec<String>,
    pub duration_ms: u128,
    pub stage_ms: IndexMap<String, u128>,
    pub http_requests: u64,
    /// HTTP requests, retries, response bytes and denied requests per root resource
    pub http: IndexMap<String, sluice_host::HttpMetrics>,
    /// rows and values data contracts discarded, per table
    pub discarded: IndexMap<String, sluice_normalize::Discards>,
    /// rows where two keys normalized to the same name (the later value kept), per table
    pub key_collisions: IndexMap<String, sluice_normalize::Collisions>,
    /// the schema file imported by this run (it changed since the last import)
    pub schema_imported: Option<String>,
    /// outcome of schema-change notifications
    pub notifications: Vec<String>,
    /// pages normalized on the fast path and on the general path (with the reasons)
    pub normalize_paths: sluice_normalize::PathStats,
}
