//! `sluice.lock` beside a pipeline file: for each `oci://` reference, the digest of the
//! component that was reviewed and added, its manifest's digest, who signed it, and the
//! capabilities its manifest declared. A run uses exactly that digest; an update that asks
//! for more than the lock recorded is refused until accepted.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::manifest::Manifest;
use crate::{RegistryError, Result};

/// One locked connector.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Locked {
    pub reference: String,
    /// sha256 of the component (the artifact's layer)
    pub digest: String,
    /// sha256 of the artifact's image manifest
    pub manifest_digest: String,
    /// the fingerprint of the key that signed it, or `unsigned`
    pub signer: String,
    pub capabilities: Manifest,
}

/// The lockfile.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    #[serde(default, rename = "connector")]
    pub connectors: Vec<Locked>,
}

/// `sluice.lock` beside `pipeline_file`.
pub fn lock_path(pipeline_file: &Path) -> PathBuf {
    pipeline_file
        .parent()
        .unwrap_or(Path::new("."))
        .join("sluice.lock")
}

impl Lock {
    /// Read `path` (an empty lock when it does not exist).
    pub fn read(path: &Path) -> Result<Lock> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| RegistryError::Lock(format!("`{}`: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lock::default()),
            Err(e) => Err(RegistryError::Lock(format!("`{}`: {e}", path.display()))),
        }
    }

    /// Write the lock to `path`, whole or not at all.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self).map_err(|e| RegistryError::Lock(e.to_string()))?;
        let body = format!(
            "# written by `sluice connector add` / `update`: what was reviewed, by digest\n{text}"
        );
        let tmp = path.with_extension("lock.tmp");
        let io = |e: std::io::Error| RegistryError::Lock(format!("`{}`: {e}", path.display()));
        std::fs::write(&tmp, body).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// The entry of `reference`.
    pub fn get(&self, reference: &str) -> Option<&Locked> {
        self.connectors.iter().find(|c| c.reference == reference)
    }

    /// Record `entry`, replacing the reference's older one.
    pub fn set(&mut self, entry: Locked) {
        self.connectors.retain(|c| c.reference != entry.reference);
        self.connectors.push(entry);
        self.connectors
            .sort_by(|a, b| a.reference.cmp(&b.reference));
    }
}
