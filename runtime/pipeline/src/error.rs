//! Errors of a run: each names the stage (spec, plan, extract, normalize, load, lease) and
//! the place (pipeline, connector, resource, page, package, destination).

use std::path::Path;

use sluice_host::HostError;
use sluice_load::LoadError;
use sluice_normalize::NormalizeError;

/// Errors of a run; each names the stage and the place.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("pipeline file `{path}`: {reason}")]
    Spec { path: String, reason: String },
    #[error("pipeline `{pipeline}`: {reason}")]
    Config { pipeline: String, reason: String },
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(
        "normalize: resource `{resource}` page {page}: {source}. Nothing of package `{load_id}` was loaded; it stays pending: change the data contract (or the data) and run again, or set it aside with `sluice pipeline {pipeline} abort-packages`"
    )]
    Normalize {
        pipeline: String,
        load_id: String,
        resource: String,
        /// the resource's page in the package, counting from 1
        page: u64,
        #[source]
        source: NormalizeError,
    },
    #[error(
        "load package `{load_id}` into `{destination}`: {source}. The package stays pending and the next run loads it first; if it can never load, set it aside with `sluice pipeline {pipeline} abort-packages`"
    )]
    PackageLoad {
        pipeline: String,
        load_id: String,
        destination: String,
        #[source]
        source: LoadError,
    },
    #[error("load package `{load_id}` into `{destination}`: {source}")]
    Load {
        load_id: String,
        destination: String,
        #[source]
        source: LoadError,
    },
    #[error("connector `{connector}` resource `{resource}` page {page}: {reason}")]
    Page {
        connector: String,
        resource: String,
        /// the resource's page in this extraction, counting from 1
        page: u64,
        reason: String,
    },
    #[error("working directory `{path}`: {reason}")]
    Io { path: String, reason: String },
    #[error(
        "package `{load_id}` was extracted from the pipeline's state of load {} but another worker has committed newer state (load {}) since: its rows are covered by that run's extraction, so it is set aside, never loaded",
        extracted_from.as_deref().unwrap_or("none"),
        newest.as_deref().unwrap_or("none")
    )]
    Overtaken {
        load_id: String,
        extracted_from: Option<String>,
        newest: Option<String>,
    },
    #[error(
        "pipeline `{pipeline}` is already running on {destination} ({holder}); this worker waited {waited_secs} s (limits.lease_wait_secs) and stops without loading anything. Let that run finish, or raise limits.lease_wait_secs to wait for it; a worker that dies releases the destination with its process"
    )]
    Busy {
        pipeline: String,
        destination: String,
        /// who holds the lease: host, pid, start time
        holder: String,
        waited_secs: u64,
    },
}

pub(crate) fn io_err(path: &Path, e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}
