//! What a pipeline's working directory tells without touching it: where it loads, the
//! packages waiting to load or set aside (with why), and its run history. The readers
//! (`sluice pipeline NAME info`, `load-package`, the dashboard) use this; nothing here
//! writes, removes or locks, so it is safe beside a running run.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::package::PackageManifest;
use crate::{PipelineError, io_err};

/// A package not (yet) loaded.
#[derive(Clone, Debug, Serialize)]
pub struct PackageInfo {
    pub load_id: String,
    /// `pending` (loads with the next run) or `aborted` (set aside; never loads)
    pub status: &'static str,
    pub resources: Vec<String>,
    /// page files with their resource, format and size
    pub files: Vec<PackageFile>,
    pub bytes: u64,
    /// why it was set aside (`REASON.txt`), or the error of the last run that tried it
    pub error: Option<String>,
}

/// One page file of a package.
#[derive(Clone, Debug, Serialize)]
pub struct PackageFile {
    pub file: String,
    pub resource: String,
    pub format: String,
    pub bytes: u64,
}

/// The working directory of one pipeline.
#[derive(Clone, Debug, Serialize)]
pub struct LocalInfo {
    pub pipeline: String,
    pub workdir: PathBuf,
    /// without credentials
    pub destination: String,
    pub dataset: String,
    pub pending: Vec<PackageInfo>,
    pub aborted: Vec<PackageInfo>,
    /// the newest run record (`traces/`), if any
    pub last_run: Option<Value>,
    pub runs: usize,
}

/// The pipelines with a working directory in `pipelines_dir`, sorted.
pub fn pipeline_names(pipelines_dir: &Path) -> Vec<String> {
    let Ok(read) = std::fs::read_dir(pipelines_dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = read
        .flatten()
        .filter(|e| e.path().join("pipeline.json").is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    out.sort();
    out
}

/// Read pipeline `name`'s working directory.
pub fn local_info(pipelines_dir: &Path, name: &str) -> Result<LocalInfo, PipelineError> {
    let r = crate::manage::recall(pipelines_dir, name)?;
    let workdir = pipelines_dir.join(name);
    let history = crate::traces::history(&workdir)?;
    let last_error = history
        .last()
        .filter(|t| t["status"] == "failed")
        .and_then(|t| t["error"].as_str())
        .map(str::to_owned);
    let mut pending = packages(&workdir.join("packages"), "pending")?;
    for p in &mut pending {
        p.error.clone_from(&last_error);
    }
    Ok(LocalInfo {
        pipeline: name.to_owned(),
        destination: r.destination,
        dataset: r.dataset,
        pending,
        aborted: packages(&workdir.join("aborted"), "aborted")?,
        runs: history.len(),
        last_run: history.into_iter().next_back(),
        workdir,
    })
}

/// The whole packages in `dir` (folders starting with `.` are being written or removed).
fn packages(dir: &Path, status: &'static str) -> Result<Vec<PackageInfo>, PipelineError> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in read.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.path().is_dir() {
            continue;
        }
        let mpath = entry.path().join("manifest.json");
        let Ok(text) = std::fs::read(&mpath) else {
            continue;
        };
        let m: PackageManifest = serde_json::from_slice(&text).map_err(|e| io_err(&mpath, e))?;
        let reason = std::fs::read_to_string(entry.path().join("REASON.txt")).ok();
        out.push(PackageInfo {
            load_id: m.load_id.clone(),
            status,
            resources: m.resources.iter().map(|r| r.name.clone()).collect(),
            bytes: m.pages.iter().map(|p| p.bytes).sum(),
            files: m
                .pages
                .iter()
                .map(|p| PackageFile {
                    file: p.file.clone(),
                    resource: p.resource.clone(),
                    format: p.format.clone(),
                    bytes: p.bytes,
                })
                .collect(),
            error: reason.map(|r| r.trim().to_owned()),
        });
    }
    out.sort_by(|a, b| a.load_id.cmp(&b.load_id));
    Ok(out)
}
