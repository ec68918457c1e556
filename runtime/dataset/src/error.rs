//! What a read can fail with; every message names the pipeline or dataset and never a
//! credential.

/// A failed read.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// a run holds the DuckDB file for writing; readers do not wait for it
    #[error("busy: a run of pipeline `{pipeline}` is writing {destination}; try again")]
    Busy {
        pipeline: String,
        destination: String,
    },
    /// no such pipeline, dataset or table
    #[error("{0}")]
    NotFound(String),
    /// the statement would change something
    #[error("{0}")]
    ReadOnly(String),
    /// the engine refused or failed the query (its message)
    #[error("{0}")]
    Query(String),
    /// the destination cannot be reached or opened
    #[error("{destination}: {reason}")]
    Unavailable { destination: String, reason: String },
}

pub type Result<T, E = DatasetError> = std::result::Result<T, E>;
