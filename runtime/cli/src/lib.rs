//! The command line's library side: what the binary and the integration tests share —
//! which component a pipeline runs (`component`) and where Sluice keeps its data.

use std::path::PathBuf;

pub mod component;

/// `$SLUICE_DATA_DIR`, else `~/.sluice`: pipelines' working directories and caches.
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SLUICE_DATA_DIR") {
        return PathBuf::from(d);
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".sluice"))
        .unwrap_or_else(|| PathBuf::from(".sluice"))
}
