//! Where the filesystem destination keeps a dataset: a folder on disk ([`LocalTree`]) or a
//! prefix in a bucket (`bucket_tree::BucketTree`). Paths are relative to the dataset and use
//! `/`; a package's table files are written to a local staging folder first and placed whole.

use std::fs;
use std::path::{Path, PathBuf};

use crate::{LoadError, Result};

/// The operations the filesystem destination needs of its storage.
pub(crate) trait Tree: Send {
    /// Where it is, without credentials (`file:///out`, `s3://bucket/prefix`).
    fn describe(&self) -> String;
    fn exists(&self, rel: &str) -> Result<bool>;
    /// Names of the files directly in folder `rel` (none when it does not exist), sorted.
    fn files(&self, rel: &str) -> Result<Vec<String>>;
    /// Names of the folders directly in folder `rel` (`""`: the dataset), sorted.
    fn folders(&self, rel: &str) -> Result<Vec<String>>;
    fn read(&self, rel: &str) -> Result<Vec<u8>>;
    /// Write `rel` whole or not at all.
    fn write(&self, rel: &str, bytes: &[u8]) -> Result<()>;
    /// Move the finished local file `local` to `rel`.
    fn place(&self, local: &Path, rel: &str) -> Result<()>;
    /// Remove file `rel` (gone already is fine).
    fn remove(&self, rel: &str) -> Result<()>;
    /// Remove folder `rel` and everything in it (gone already is fine).
    fn remove_folder(&self, rel: &str) -> Result<()>;
    /// The local folder a package's table files are written to before they are placed.
    fn local_staging(&self, load_id: &str) -> PathBuf;
    /// Remove a load's staging: its local folder and its `.staging/<load_id>` folder in the
    /// tree (one and the same on disk).
    fn remove_staging(&self, load_id: &str) -> Result<()>;
    /// The last `n` bytes of `rel` (all of it when shorter): a Parquet file's footer.
    fn tail(&self, rel: &str, n: u64) -> Result<Vec<u8>>;
}

pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LoadError {
    let context = context.into();
    move |e| LoadError::sql(context, e)
}

/// A dataset folder on disk.
pub(crate) struct LocalTree {
    root: PathBuf,
}

impl LocalTree {
    /// `root` (created when missing).
    pub(crate) fn open(root: PathBuf, shown: &str) -> Result<LocalTree> {
        fs::create_dir_all(&root).map_err(|e| LoadError::Open {
            destination: shown.to_owned(),
            source: e.into(),
        })?;
        Ok(LocalTree { root })
    }

    /// `root` as it is, for reading (nothing created).
    pub(crate) fn existing(root: PathBuf) -> LocalTree {
        LocalTree { root }
    }

    fn entries(&self, rel: &str, dirs: bool) -> Result<Vec<String>> {
        let dir = self.root.join(rel);
        let Ok(read) = fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in read {
            let e = e.map_err(io(format!("listing `{}`", dir.display())))?;
            if e.path().is_dir() == dirs
                && let Some(n) = e.file_name().to_str()
            {
                out.push(n.to_owned());
            }
        }
        out.sort();
        Ok(out)
    }
}

impl Tree for LocalTree {
    fn describe(&self) -> String {
        format!(
            "file://{}",
            self.root.parent().unwrap_or(&self.root).display()
        )
    }

    fn exists(&self, rel: &str) -> Result<bool> {
        Ok(self.root.join(rel).exists())
    }

    fn files(&self, rel: &str) -> Result<Vec<String>> {
        self.entries(rel, false)
    }

    fn folders(&self, rel: &str) -> Result<Vec<String>> {
        self.entries(rel, true)
    }

    fn read(&self, rel: &str) -> Result<Vec<u8>> {
        let p = self.root.join(rel);
        fs::read(&p).map_err(io(format!("reading `{}`", p.display())))
    }

    fn write(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        write_synced(&self.root.join(rel), bytes)
    }

    fn place(&self, local: &Path, rel: &str) -> Result<()> {
        let to = self.root.join(rel);
        if let Some(dir) = to.parent() {
            fs::create_dir_all(dir).map_err(io("creating a table folder"))?;
        }
        fs::rename(local, &to).map_err(io(format!("moving `{}` into place", to.display())))
    }

    fn remove(&self, rel: &str) -> Result<()> {
        let p = self.root.join(rel);
        gone(fs::remove_file(&p), &p)
    }

    fn remove_folder(&self, rel: &str) -> Result<()> {
        let p = self.root.join(rel);
        gone(fs::remove_dir_all(&p), &p)
    }

    fn local_staging(&self, load_id: &str) -> PathBuf {
        self.root.join(".staging").join(load_id)
    }

    fn remove_staging(&self, load_id: &str) -> Result<()> {
        self.remove_folder(&crate::filesystem::staging_rel(load_id))
    }

    fn tail(&self, rel: &str, n: u64) -> Result<Vec<u8>> {
        use std::io::{Read as _, Seek as _, SeekFrom};
        let p = self.root.join(rel);
        let ctx = || format!("reading `{}`", p.display());
        let mut f = fs::File::open(&p).map_err(io(ctx()))?;
        let len = f.metadata().map_err(io(ctx()))?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(n)))
            .map_err(io(ctx()))?;
        let mut out = Vec::new();
        f.read_to_end(&mut out).map_err(io(ctx()))?;
        Ok(out)
    }
}

/// A removal's outcome: removed, or not there to begin with.
fn gone(r: std::io::Result<()>, p: &Path) -> Result<()> {
    match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(io(format!("removing `{}`", p.display()))(e))
        }
        _ => Ok(()),
    }
}

/// Write a file whole or not at all: the bytes go to a hidden temporary name beside it, are
/// synced, and are renamed over `path`; the folder is synced after. A process killed midway
/// leaves no empty or half-written file under `path` — which matters most for the
/// `_dlt_loads` marker, whose existence commits a load.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let ctx = format!("writing `{}`", path.display());
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(LoadError::Plan(format!("{ctx}: not a file path")));
    };
    fs::create_dir_all(dir).map_err(io(&ctx))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let mut f = fs::File::create(&tmp).map_err(io(&ctx))?;
    f.write_all(bytes).map_err(io(&ctx))?;
    f.sync_all().map_err(io(&ctx))?;
    fs::rename(&tmp, path).map_err(io(&ctx))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(&ctx))
}
