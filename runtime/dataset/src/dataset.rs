//! A pipeline's dataset: where it is (from the pipeline's working directory or given), and
//! reads of it as batches.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sluice_load::DestinationConfig;

use crate::batches::{Batches, Sink};
use crate::duck::{self, DuckSource};
use crate::statement::{contains_word, reading};
use crate::{DatasetError, Result};

/// How long a statement may run (PostgreSQL's `statement_timeout`; a DuckDB read is
/// interrupted).
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// One dataset of one destination.
#[derive(Clone, Debug)]
pub struct Dataset {
    pipeline: String,
    config: DestinationConfig,
    dataset: String,
    timeout: Duration,
}

/// `pipeline.json`, which every run writes into the pipeline's working directory (see
/// `sluice-pipeline`'s `manage.rs`): where it loads, without credentials.
#[derive(serde::Deserialize)]
struct Remembered {
    destination: String,
    dataset: String,
}

/// Where a read runs.
enum Source {
    Duck(DuckSource, Option<tempfile::TempDir>),
    Pg(sluice_load::PgUrl),
}

impl Dataset {
    /// The dataset pipeline `name` loads, as its working directory in `pipelines_dir`
    /// remembers it (a PostgreSQL password comes from `PGPASSWORD`, as for runs).
    pub fn open(pipelines_dir: &Path, name: &str) -> Result<Dataset> {
        let path = pipelines_dir.join(name).join("pipeline.json");
        let text = std::fs::read(&path).map_err(|_| {
            DatasetError::NotFound(format!(
                "no pipeline `{name}` in `{}` (run it once, or pass --pipelines-dir)",
                pipelines_dir.display()
            ))
        })?;
        let r: Remembered = serde_json::from_slice(&text).map_err(|e| {
            DatasetError::NotFound(format!("`{}` is not readable: {e}", path.display()))
        })?;
        Dataset::at(name, &r.destination, &r.dataset)
    }

    /// Dataset `dataset` of `destination` (as a pipeline file names it), loaded by `pipeline`.
    pub fn at(pipeline: &str, destination: &str, dataset: &str) -> Result<Dataset> {
        let config =
            DestinationConfig::parse(destination, pipeline).map_err(DatasetError::NotFound)?;
        Ok(Dataset {
            pipeline: pipeline.to_owned(),
            config,
            dataset: dataset.to_owned(),
            timeout: STATEMENT_TIMEOUT,
        })
    }

    /// The same dataset with statements stopped after `timeout` (default 60 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Dataset {
        self.timeout = timeout;
        self
    }

    /// The pipeline whose dataset this is.
    pub fn pipeline(&self) -> &str {
        &self.pipeline
    }

    /// The dataset's name (its schema, or folder).
    pub fn name(&self) -> &str {
        &self.dataset
    }

    /// The destination, without credentials.
    pub fn describe(&self) -> String {
        self.config.describe()
    }

    /// Run one reading statement; unqualified names resolve in the dataset.
    pub fn query(&self, sql: &str) -> Result<Batches> {
        let sql = reading(sql)?;
        self.run(sql)
    }

    /// Rows `offset..offset + limit` of `table` (all from `offset` when `limit` is `None`),
    /// in the order the engine keeps them: a preview reads only what it shows.
    pub fn read_table(&self, table: &str, offset: u64, limit: Option<u64>) -> Result<Batches> {
        let known = self.table_names()?;
        if !known.iter().any(|t| t == table) {
            return Err(DatasetError::NotFound(format!(
                "no table `{table}` in dataset `{}` (tables: {})",
                self.dataset,
                known.join(", ")
            )));
        }
        let mut sql = format!("SELECT * FROM {}", duck::quote(table));
        if let Some(n) = limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        if offset > 0 {
            sql.push_str(&format!(" OFFSET {offset}"));
        }
        self.run(sql)
    }

    /// The files a filesystem dataset's load `load_id` wrote, from its manifest
    /// (`_manifests/<load_id>.json`: table, file, rows); `None` for SQL datasets or a load
    /// without one.
    pub fn load_files(&self, load_id: &str) -> Result<Option<serde_json::Value>> {
        let Some(stored) = self.stored_files()? else {
            return Ok(None);
        };
        let Ok(bytes) = stored.read(&format!("_manifests/{load_id}.json")) else {
            return Ok(None);
        };
        let manifest: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            DatasetError::Query(format!(
                "the manifest of load {load_id} does not parse: {e}"
            ))
        })?;
        Ok(Some(manifest["files"].clone()))
    }

    /// The committed files of a filesystem dataset (`None` for SQL datasets).
    fn stored_files(&self) -> Result<Option<sluice_load::StoredFiles>> {
        self.config
            .stored_files(&self.dataset)
            .map_err(|e| self.unavailable(e))
    }

    /// The destination could not be read.
    fn unavailable(&self, e: sluice_load::LoadError) -> DatasetError {
        DatasetError::Unavailable {
            destination: self.describe(),
            reason: e.to_string(),
        }
    }

    /// Whether the dataset is in PostgreSQL (row counts of large tables are estimated).
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self.config, DestinationConfig::Postgres(_))
    }

    /// A filesystem dataset's tables that have committed files (`None` for SQL datasets).
    pub(crate) fn file_tables(&self) -> Result<Option<Vec<String>>> {
        let unavailable = |e| self.unavailable(e);
        let Some(stored) = self.stored_files()? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        for t in stored.tables().map_err(unavailable)? {
            if !stored.table_files(&t).map_err(unavailable)?.is_empty() {
                out.push(t);
            }
        }
        Ok(Some(out))
    }

    /// Run `sql` (already checked) on a fresh session.
    pub(crate) fn run(&self, sql: String) -> Result<Batches> {
        let source = self.source(&sql)?;
        let pipeline = self.pipeline.clone();
        let dataset = self.dataset.clone();
        let timeout = self.timeout;
        Batches::spawn(move |sink: &Sink| match source {
            Source::Duck(src, _files) => duck::run(&src, &pipeline, &sql, timeout, sink),
            Source::Pg(url) => crate::pg::run(&url, &dataset, &sql, timeout, sink),
        })
    }

    /// Where `sql` runs: a bucket dataset's tables that `sql` names are fetched first.
    fn source(&self, sql: &str) -> Result<Source> {
        let unavailable = |e| self.unavailable(e);
        match &self.config {
            DestinationConfig::DuckDb { path } => Ok(Source::Duck(
                DuckSource::File {
                    path: std::path::absolute(path).unwrap_or_else(|_| path.clone()),
                    dataset: self.dataset.clone(),
                },
                None,
            )),
            DestinationConfig::Postgres(url) => Ok(Source::Pg(url.clone())),
            _ => {
                let stored = self
                    .stored_files()?
                    .ok_or_else(|| DatasetError::Query("not a filesystem dataset".into()))?;
                match stored.local_root() {
                    Some(root) => {
                        let root = root.to_path_buf();
                        let mut tables = Vec::new();
                        for t in stored.tables().map_err(unavailable)? {
                            let files = stored.table_files(&t).map_err(unavailable)?;
                            tables.push((t, files.iter().map(|f| root.join(f)).collect()));
                        }
                        Ok(Source::Duck(
                            DuckSource::Files {
                                root,
                                dataset: self.dataset.clone(),
                                tables,
                            },
                            None,
                        ))
                    }
                    None => self.fetched(&stored, sql),
                }
            }
        }
    }

    /// A bucket dataset's tables named in `sql`, their committed files fetched into a
    /// temporary folder that lives as long as the read.
    fn fetched(&self, stored: &sluice_load::StoredFiles, sql: &str) -> Result<Source> {
        let unavailable = |e: String| DatasetError::Unavailable {
            destination: self.describe(),
            reason: e,
        };
        let dir = tempfile::Builder::new()
            .prefix("sluice-read-")
            .tempdir()
            .map_err(|e| unavailable(e.to_string()))?;
        let lower = sql.to_lowercase();
        let mut tables = Vec::new();
        for t in stored.tables().map_err(|e| unavailable(e.to_string()))? {
            if !contains_word(&lower, &t.to_lowercase()) {
                continue;
            }
            let mut files = Vec::new();
            for rel in stored
                .table_files(&t)
                .map_err(|e| unavailable(e.to_string()))?
            {
                let bytes = stored.read(&rel).map_err(|e| unavailable(e.to_string()))?;
                let local: PathBuf = dir.path().join(rel.replace('/', "__"));
                std::fs::write(&local, bytes).map_err(|e| unavailable(e.to_string()))?;
                files.push(local);
            }
            tables.push((t, files));
        }
        Ok(Source::Duck(
            DuckSource::Files {
                root: dir.path().to_path_buf(),
                dataset: self.dataset.clone(),
                tables,
            },
            Some(dir),
        ))
    }
}
