//! Load packages on disk: `<workdir>/packages/<load_id>/` with `manifest.json` and the raw
//! pages. A package is written under `.tmp-<load_id>` and renamed into place when its
//! extraction completed, so a visible package is always whole.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{PipelineError, PlannedResource, io_err};

/// One page of raw records in a package.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PageEntry {
    pub resource: String,
    pub seq: u64,
    /// file name relative to the package directory
    pub file: String,
    /// `json` (array) or `ndjson`
    pub format: String,
    pub bytes: u64,
    /// the resource's state once this page is committed
    pub checkpoint: Option<String>,
}

/// What a package holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PackageManifest {
    pub load_id: String,
    pub source: String,
    pub connector_version: String,
    pub resources: Vec<PlannedResource>,
    pub pages: Vec<PageEntry>,
    /// random per package; makes root row ids unique yet reproducible on resume
    pub salt: [u8; 16],
    /// the destination state this package was extracted from (absent in packages of older
    /// versions): a package carrying state loads only while that is still the newest
    #[serde(default)]
    pub extracted_from: Option<StateBase>,
}

/// The load id of the newest committed state of the pipeline (`None`: none yet), shared by
/// the run's loaders (which move it on each commit that writes state) and its writer (which
/// stamps it into each package it opens as [`StateBase`]).
pub type StateHead = std::sync::Arc<std::sync::Mutex<Option<String>>>;

/// The destination state a package was extracted from: the load id of the newest committed
/// `_dlt_pipeline_state` row of the pipeline then (`None`: there was none).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateBase {
    pub state_load_id: Option<String>,
}

impl PackageManifest {
    /// Whether loading this package changes the pipeline's state (a page carries a
    /// checkpoint): such a package is compare-and-swapped against the destination's state.
    pub fn carries_state(&self) -> bool {
        self.pages.iter().any(|p| p.checkpoint.is_some())
    }
}

impl PackageManifest {
    pub fn new(
        load_id: &str,
        source: &str,
        version: &str,
        resources: Vec<PlannedResource>,
    ) -> Self {
        PackageManifest {
            load_id: load_id.to_owned(),
            source: source.to_owned(),
            connector_version: version.to_owned(),
            resources,
            pages: Vec::new(),
            salt: rand::random(),
            extracted_from: None,
        }
    }
}

/// A complete package waiting to be loaded.
#[derive(Clone, Debug)]
pub struct Pending {
    pub load_id: String,
    pub dir: PathBuf,
    pub manifest: PackageManifest,
    pub connector_version: String,
}

/// The packages folder of a pipeline.
pub struct Packages {
    root: PathBuf,
    /// removals of loaded packages' folders still running; joined on drop
    removing: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Drop for Packages {
    fn drop(&mut self) {
        let removing = self
            .removing
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for handle in std::mem::take(removing) {
            let _ = handle.join();
        }
    }
}

impl Packages {
    /// Open the folder, removing leftovers of extractions that never completed.
    pub fn open(workdir: &Path) -> Result<Packages, PipelineError> {
        let root = workdir.join("packages");
        std::fs::create_dir_all(&root).map_err(|e| io_err(&root, e))?;
        for entry in std::fs::read_dir(&root)
            .map_err(|e| io_err(&root, e))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") || name.starts_with(".done-") {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Ok(Packages {
            root,
            removing: Default::default(),
        })
    }

    /// Start writing a package.
    pub fn begin(&self, load_id: &str) -> Result<PathBuf, PipelineError> {
        let dir = self.root.join(format!(".tmp-{load_id}"));
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        Ok(dir)
    }

    /// Drop an unfinished package.
    pub fn discard(&self, tmp: &Path) {
        let _ = std::fs::remove_dir_all(tmp);
    }

    /// Seal a package: write its manifest and make it visible.
    pub fn commit(&self, tmp: &Path, manifest: &PackageManifest) -> Result<Pending, PipelineError> {
        // the pages were written without syncing (an unsealed package is dropped whole after
        // a crash): make them and their folders durable before the manifest makes them a package
        let mut dirs = std::collections::BTreeSet::new();
        for page in &manifest.pages {
            let path = tmp.join(&page.file);
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| io_err(&path, e))?;
            if let Some(dir) = path.parent() {
                dirs.insert(dir.to_path_buf());
            }
        }
        for dir in &dirs {
            sync_dir(dir);
        }
        let mpath = tmp.join("manifest.json");
        let text = serde_json::to_vec_pretty(manifest).map_err(|e| io_err(&mpath, e))?;
        write_synced(&mpath, &text)?;
        sluice_load::failpoint("package.before_seal");
        let dir = self.root.join(&manifest.load_id);
        std::fs::rename(tmp, &dir).map_err(|e| io_err(&dir, e))?;
        sync_dir(&self.root);
        Ok(Pending {
            load_id: manifest.load_id.clone(),
            dir,
            connector_version: manifest.connector_version.clone(),
            manifest: manifest.clone(),
        })
    }

    /// Complete packages not yet loaded, oldest first.
    pub fn pending(&self) -> Result<Vec<Pending>, PipelineError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.root)
            .map_err(|e| io_err(&self.root, e))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let mpath = entry.path().join("manifest.json");
            let text = std::fs::read(&mpath).map_err(|e| io_err(&mpath, e))?;
            let manifest: PackageManifest =
                serde_json::from_slice(&text).map_err(|e| io_err(&mpath, e))?;
            out.push(Pending {
                load_id: manifest.load_id.clone(),
                dir: entry.path(),
                connector_version: manifest.connector_version.clone(),
                manifest,
            });
        }
        out.sort_by(|a, b| {
            let key = |p: &Pending| p.load_id.parse::<f64>().unwrap_or(0.0);
            key(a).total_cmp(&key(b))
        });
        Ok(out)
    }

    /// Remove a package once its load committed: renamed out of sight first (atomic), then
    /// deleted, so a crash never leaves a half-deleted package that looks pending.
    pub fn finish(&self, pending: &Pending) -> Result<(), PipelineError> {
        let done = self.root.join(format!(".done-{}", pending.load_id));
        std::fs::rename(&pending.dir, &done).map_err(|e| io_err(&pending.dir, e))?;
        sync_dir(&self.root);
        sluice_load::failpoint("package.mid_finish");
        // the package is loaded and marked done: its pages go on another thread, so the
        // run's summary (or the next package's load) does not wait on unlinking them; they
        // are gone before `Packages` is dropped, and the next open removes a leftover
        let remove = |dir: PathBuf| {
            move || {
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    tracing::warn!("could not remove loaded package {}: {e}", dir.display());
                }
            }
        };
        let spawned = std::thread::Builder::new()
            .name("sluice-rm-package".into())
            .spawn(remove(done.clone()));
        let Ok(handle) = spawned else {
            // no thread to spare: remove it here
            remove(done)();
            return Ok(());
        };
        let mut removing = self
            .removing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // removals that ended are joined here, so a run of many packages does not keep them
        let (ended, running) = std::mem::take(&mut *removing)
            .into_iter()
            .partition::<Vec<_>, _>(|h| h.is_finished());
        for h in ended {
            let _ = h.join();
        }
        *removing = running;
        removing.push(handle);
        Ok(())
    }

    /// Move one pending package to `aborted/` with the reason beside it (`REASON.txt`).
    pub fn set_aside(&self, pending: &Pending, reason: &str) -> Result<PathBuf, PipelineError> {
        let aborted = self.root.parent().unwrap_or(&self.root).join("aborted");
        std::fs::create_dir_all(&aborted).map_err(|e| io_err(&aborted, e))?;
        let why = pending.dir.join("REASON.txt");
        std::fs::write(&why, reason).map_err(|e| io_err(&why, e))?;
        let to = aborted.join(&pending.load_id);
        std::fs::rename(&pending.dir, &to).map_err(|e| io_err(&to, e))?;
        sync_dir(&self.root);
        Ok(to)
    }

    /// Move every pending package to `aborted/` (kept for inspection, never loaded), each
    /// with `reason` in its `REASON.txt`.
    pub fn abort_all(&self, reason: &str) -> Result<Vec<String>, PipelineError> {
        let aborted = self.root.parent().unwrap_or(&self.root).join("aborted");
        std::fs::create_dir_all(&aborted).map_err(|e| io_err(&aborted, e))?;
        let mut ids = Vec::new();
        for p in self.pending()? {
            let why = p.dir.join("REASON.txt");
            std::fs::write(&why, reason).map_err(|e| io_err(&why, e))?;
            let to = aborted.join(&p.load_id);
            std::fs::rename(&p.dir, &to).map_err(|e| io_err(&to, e))?;
            ids.push(p.load_id);
        }
        sync_dir(&self.root);
        Ok(ids)
    }
}

/// Write a page of an unsealed package, unsynced: until the package is sealed
/// ([`Packages::commit`] syncs its pages) a crash drops the whole package, so syncing each page
/// as it is written would only make the extraction wait on the disk.
pub fn write_page(path: &Path, bytes: &[u8]) -> Result<(), PipelineError> {
    std::fs::write(path, bytes).map_err(|e| io_err(path, e))
}

/// Write a file atomically: a synced temporary file renamed over `path`, so a crash leaves
/// either the old or the new content, never a torn file.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), PipelineError> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
    f.write_all(bytes).map_err(|e| io_err(&tmp, e))?;
    f.sync_all().map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir);
    }
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}
