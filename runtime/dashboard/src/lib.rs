//! `sluice dashboard`: a local web app over pipelines — runs and their history, loads,
//! schema versions and what each changed, state, tables with paged previews, a SQL box,
//! pending and aborted packages, the last run's trace and the connector's digest, imports
//! and grants. Assets are embedded (works offline).
//!
//! **Invariant:** the dashboard only reads, and only for a browser on this machine that
//! holds the token it printed: it binds 127.0.0.1, refuses any `Host` but its own address
//! (no DNS rebinding), answers data only to requests carrying the token in a header (no
//! cross-site request can), and reads datasets through `sluice-dataset` (read-only,
//! short-lived sessions, DuckDB's external access off). No secret value reaches it.

mod api;
mod assets;
mod guard;
mod server;

use std::path::PathBuf;

pub use server::{Running, serve, start};

/// What to serve.
#[derive(Clone, Debug)]
pub struct Options {
    pub pipelines_dir: PathBuf,
    /// the pipelines shown (all in `pipelines_dir` when empty)
    pub pipelines: Vec<String>,
    /// 0: any free port
    pub port: u16,
}

/// Why the dashboard could not start.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("the dashboard's runtime: {0}")]
    Runtime(std::io::Error),
}
