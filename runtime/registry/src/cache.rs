//! Pulled components kept by digest (`<dir>/sha256/<hex>.wasm`), so runs work offline. A
//! cached file is checked against its digest every time it is read.

use std::path::{Path, PathBuf};

use crate::{RegistryError, Result, sha256_digest};

/// The component cache.
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn new(dir: &Path) -> Cache {
        Cache {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, digest: &str) -> Result<PathBuf> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|_| crate::reference::is_digest(digest))
            .ok_or_else(|| RegistryError::Invalid(format!("`{digest}` is not a sha256 digest")))?;
        Ok(self.dir.join("sha256").join(format!("{hex}.wasm")))
    }

    /// The component with `digest`, if cached and intact.
    pub fn get(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(digest)?;
        let Ok(bytes) = std::fs::read(&path) else {
            return Ok(None);
        };
        let got = sha256_digest(&bytes);
        if got != digest {
            return Err(RegistryError::Digest {
                what: format!("the cached component `{}`", path.display()),
                expected: digest.to_owned(),
                got,
            });
        }
        Ok(Some(bytes))
    }

    /// Keep `bytes` (whose digest the caller checked) under `digest`.
    pub fn put(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path(digest)?;
        let io = |e: std::io::Error| {
            RegistryError::Invalid(format!("caching `{}`: {e}", path.display()))
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}
