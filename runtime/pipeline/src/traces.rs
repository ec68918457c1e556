//! The history of a pipeline's runs: one record per run that got past its plan, succeeded
//! or failed, in `<workdir>/traces/` (the newest [`KEPT`] kept). A record holds the plan as
//! shown (no secret value), the connector's imports, the run's summary or its error.
//! `sluice pipeline NAME trace` and the dashboard read them; `trace.json` stays the last
//! successful run's summary.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::{PipelineError, Plan, RunSummary, io_err, package};

/// How many run records a working directory keeps.
pub const KEPT: usize = 200;

const DIR: &str = "traces";

/// One run.
#[derive(Debug, Serialize)]
pub struct TraceRecord<'a> {
    /// RFC 3339, UTC
    pub started_at: String,
    pub finished_at: String,
    /// `ok` or `failed`
    pub status: &'static str,
    pub error: Option<String>,
    /// `None` when the run failed before its plan was made
    pub plan: Option<&'a Plan>,
    /// the interfaces the component imports
    pub imports: &'a [String],
    pub summary: Option<&'a RunSummary>,
}

/// Write `record` into `workdir`'s history and drop the oldest beyond [`KEPT`].
pub(crate) fn record(workdir: &Path, record: &TraceRecord<'_>) -> Result<(), PipelineError> {
    let dir = workdir.join(DIR);
    std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    // names sort by time: the start in microseconds, zero-padded
    let micros = chrono::DateTime::parse_from_rfc3339(&record.started_at)
        .map(|t| t.timestamp_micros())
        .unwrap_or_default();
    let path = dir.join(format!("{micros:020}.json"));
    let text = serde_json::to_vec_pretty(record).map_err(|e| io_err(&path, e))?;
    package::write_synced(&path, &text)?;
    let files = list(workdir)?;
    for old in files.iter().take(files.len().saturating_sub(KEPT)) {
        let _ = std::fs::remove_file(old);
    }
    Ok(())
}

/// The run records of `workdir`, oldest first.
pub fn list(workdir: &Path) -> Result<Vec<PathBuf>, PipelineError> {
    let dir = workdir.join(DIR);
    let Ok(read) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut out: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    out.sort();
    Ok(out)
}

/// The run records of `workdir`, oldest first, parsed (unreadable ones skipped).
pub fn history(workdir: &Path) -> Result<Vec<Value>, PipelineError> {
    Ok(list(workdir)?
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect())
}

/// Record a run that failed before its plan was made, when its pipeline has run here
/// before (a mistyped pipeline file leaves no working directory behind).
pub(crate) fn record_unplanned(workdir: &Path, started_at: String, error: &PipelineError) {
    if !workdir.join("pipeline.json").is_file() {
        return;
    }
    let r = TraceRecord {
        started_at,
        finished_at: now(),
        status: "failed",
        error: Some(error.to_string()),
        plan: None,
        imports: &[],
        summary: None,
    };
    if let Err(e) = record(workdir, &r) {
        tracing::warn!("the run's record was not kept: {e}");
    }
}

/// Now, as the records write it.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
