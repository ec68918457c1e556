//! A filesystem dataset as a reader sees it: only what committed loads placed, never
//! written to. The dataset API (`sluice-dataset`) reads a `file://` dataset through DuckDB
//! over the local paths and a bucket dataset by fetching the committed files it needs.

use std::path::PathBuf;

use crate::filesystem::Filesystem;
use crate::tree::LocalTree;
use crate::{Catalog, DestinationConfig, FileRotation, LoadError, Result};

/// The committed files of one filesystem dataset (local folder or bucket prefix).
pub struct StoredFiles {
    fs: Filesystem,
    /// the dataset's folder, for a `file://` destination
    local_root: Option<PathBuf>,
}

impl std::fmt::Debug for StoredFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.fs.describe())
    }
}

impl DestinationConfig {
    /// The committed files of `dataset` when this is a filesystem or bucket destination
    /// (`None` for SQL destinations). Nothing is created or written.
    pub fn stored_files(&self, dataset: &str) -> Result<Option<StoredFiles>> {
        let rotation = FileRotation::default();
        Ok(Some(match self {
            DestinationConfig::Filesystem { dir, format, .. } => {
                let root = dir.join(dataset);
                if !root.is_dir() {
                    return Err(LoadError::Open {
                        destination: self.describe(),
                        source: format!("dataset `{dataset}` has no folder `{}`", root.display())
                            .into(),
                    });
                }
                let tree = LocalTree::existing(root.clone());
                StoredFiles {
                    fs: Filesystem::on(Box::new(tree), *format, rotation, ""),
                    local_root: Some(root),
                }
            }
            DestinationConfig::Bucket { format, .. } => StoredFiles {
                fs: Filesystem::on(Box::new(self.bucket_tree(dataset)?), *format, rotation, ""),
                local_root: None,
            },
            _ => return Ok(None),
        }))
    }
}

impl StoredFiles {
    /// Where the files are, without credentials.
    pub fn describe(&self) -> String {
        self.fs.describe()
    }

    /// The dataset's folder on disk (`None` in a bucket).
    pub fn local_root(&self) -> Option<&std::path::Path> {
        self.local_root.as_deref()
    }

    /// The table folders (data tables and dlt's system tables), sorted.
    pub fn tables(&self) -> Result<Vec<String>> {
        Ok(self
            .fs
            .tree()
            .folders("")?
            .into_iter()
            .filter(|n| !n.starts_with('.') && n != "_manifests")
            .collect())
    }

    /// The files of `table` a reader may see, relative to the dataset (`issues/<load>.0.parquet`):
    /// a system table's files, a data table's only when their load committed.
    pub fn table_files(&self, table: &str) -> Result<Vec<String>> {
        let committed = if table.starts_with("_dlt_") {
            None
        } else {
            Some(self.fs.committed()?)
        };
        Ok(self
            .fs
            .tree()
            .files(table)?
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .filter(|n| n.ends_with(".parquet") || n.ends_with(".jsonl"))
            .filter(|n| {
                committed
                    .as_ref()
                    .is_none_or(|c| c.iter().any(|l| n.starts_with(&format!("{l}."))))
            })
            .map(|n| format!("{table}/{n}"))
            .collect())
    }

    /// The bytes of `rel` (one of [`StoredFiles::table_files`]).
    pub fn read(&self, rel: &str) -> Result<Vec<u8>> {
        self.fs.tree().read(rel)
    }

    /// Rows per table folder, committed files only (Parquet row counts from the footers).
    pub fn counts(&mut self) -> Result<Vec<(String, i64)>> {
        self.fs.table_counts()
    }
}
