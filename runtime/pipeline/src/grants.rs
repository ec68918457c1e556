//! What a pipeline grants the connector to read, turned into the sandbox's read-only
//! directories. A granted directory may not hold the pipeline file (it may carry inline
//! secrets) nor the pipelines folder (packages, state, other pipelines), nor lie inside it.
//! Single files (`allow_read_files`, what `sluice load FILE` grants) are linked into a private
//! folder opened at the path of their real directory, so the connector sees exactly those
//! files at their real paths and nothing else beside them. Each plan links into a folder of
//! its own (`grants/<pid>-<random>/`, removed when the plan is dropped), so `sluice plan` or a
//! waiting worker never touches the files a running connector reads. Symlinks inside a granted
//! directory that point outside it are not followed (WASI resolves paths inside the opened
//! directory only).

use std::path::{Path, PathBuf};

use sluice_host::ReadDir;

use crate::{PipelineError, PipelineSpec, io_err};

/// `path` with symlinks resolved, also when it does not exist yet (a first run plans before
/// its pipelines folder is made): its nearest existing ancestor resolved, the rest appended.
fn resolved(path: &Path) -> Option<PathBuf> {
    let mut missing = Vec::new();
    let mut at = path;
    loop {
        if let Ok(real) = at.canonicalize() {
            return Some(missing.iter().rev().fold(real, |p, part| p.join(part)));
        }
        missing.push(at.file_name()?.to_owned());
        at = match at.parent()? {
            p if p.as_os_str().is_empty() => Path::new("."),
            p => p,
        };
    }
}

/// Linked files of one plan; the folder goes when the plan does.
#[derive(Debug)]
pub(crate) struct Staged(PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The sandbox's read grants for `spec`, staging linked files under `workdir/grants/`.
pub(crate) fn read_dirs(
    spec: &PipelineSpec,
    pipelines_dir: &Path,
    workdir: &Path,
) -> Result<(Vec<ReadDir>, Option<Staged>), PipelineError> {
    let cfg = |reason| config(spec, reason);
    let private = Private::new(spec, pipelines_dir);
    let mut dirs = Vec::new();
    for d in &spec.grants.allow_read {
        let canon = d
            .canonicalize()
            .map_err(|e| cfg(format!("granted directory `{}`: {e}", d.display())))?;
        if !canon.is_dir() {
            return Err(cfg(format!(
                "granted directory `{}` is not a directory (grant files with allow_read_files)",
                d.display()
            )));
        }
        private.check_dir(&canon).map_err(cfg)?;
        dirs.push(ReadDir::same(canon));
    }
    if spec.grants.allow_read_files.is_empty() {
        return Ok((dirs, None));
    }
    let (linked, staged) = link_files(spec, &private, workdir)?;
    dirs.extend(linked);
    Ok((dirs, Some(staged)))
}

fn config(spec: &PipelineSpec, reason: String) -> PipelineError {
    PipelineError::Config {
        pipeline: spec.name.clone(),
        reason,
    }
}

/// Paths no grant may expose.
struct Private {
    pipeline_file: Option<PathBuf>,
    pipelines_dir: Option<PathBuf>,
}

impl Private {
    fn new(spec: &PipelineSpec, pipelines_dir: &Path) -> Private {
        Private {
            pipeline_file: spec.file.as_ref().and_then(|f| f.canonicalize().ok()),
            pipelines_dir: resolved(pipelines_dir),
        }
    }

    fn check_dir(&self, dir: &Path) -> Result<(), String> {
        if let Some(f) = &self.pipeline_file
            && f.starts_with(dir)
        {
            return Err(format!(
                "granted directory `{}` contains the pipeline file `{}`, which may hold secrets: grant a directory that holds only the data",
                dir.display(),
                f.display()
            ));
        }
        if let Some(p) = &self.pipelines_dir
            && (p.starts_with(dir) || dir.starts_with(p))
        {
            return Err(format!(
                "granted directory `{}` overlaps the pipelines folder `{}` (packages, state and other pipelines): grant a directory that holds only the data",
                dir.display(),
                p.display()
            ));
        }
        Ok(())
    }

    fn check_file(&self, file: &Path) -> Result<(), String> {
        if self.pipeline_file.as_deref() == Some(file) {
            return Err(format!(
                "granted file `{}` is the pipeline file",
                file.display()
            ));
        }
        if let Some(p) = &self.pipelines_dir
            && file.starts_with(p)
        {
            return Err(format!(
                "granted file `{}` lies inside the pipelines folder `{}`",
                file.display(),
                p.display()
            ));
        }
        Ok(())
    }
}

/// Link each granted file into `workdir/grants/<plan>/<n>/` (one folder per real
/// directory) and open that folder at the real directory's path. A hard link costs nothing;
/// across file systems the file is copied.
fn link_files(
    spec: &PipelineSpec,
    private: &Private,
    workdir: &Path,
) -> Result<(Vec<ReadDir>, Staged), PipelineError> {
    let cfg = |reason| config(spec, reason);
    let grants = workdir.join("grants");
    remove_dead(&grants);
    let root = grants.join(format!(
        "{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let staged = Staged(root.clone());
    let mut by_dir: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
    for f in &spec.grants.allow_read_files {
        let canon = f
            .canonicalize()
            .map_err(|e| cfg(format!("granted file `{}`: {e}", f.display())))?;
        if !canon.is_file() {
            return Err(cfg(format!("granted file `{}` is not a file", f.display())));
        }
        private.check_file(&canon).map_err(cfg)?;
        let parent = canon.parent().unwrap_or(Path::new("/")).to_owned();
        match by_dir.iter_mut().find(|(d, _)| *d == parent) {
            Some((_, files)) => files.push(canon),
            None => by_dir.push((parent, vec![canon])),
        }
    }
    let mut dirs = Vec::new();
    for (n, (real, files)) in by_dir.into_iter().enumerate() {
        let folder = root.join(n.to_string());
        std::fs::create_dir_all(&folder).map_err(|e| io_err(&folder, e))?;
        for f in files {
            let Some(name) = f.file_name() else { continue };
            let to = folder.join(name);
            if std::fs::hard_link(&f, &to).is_err() {
                std::fs::copy(&f, &to).map_err(|e| io_err(&f, e))?;
            }
        }
        dirs.push(ReadDir {
            host: folder,
            guest: real.to_string_lossy().into_owned(),
        });
    }
    Ok((dirs, staged))
}

/// Remove the linked files a killed process left (its folder names a process that is gone).
fn remove_dead(grants: &Path) {
    let Ok(entries) = std::fs::read_dir(grants) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let pid = name.to_string_lossy().split('-').next().map(str::to_owned);
        let alive = pid.is_some_and(|p| Path::new("/proc").join(p).exists());
        if !alive && Path::new("/proc/self").exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}
