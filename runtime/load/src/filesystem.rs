//! The filesystem destination: `file:///dir` or `s3://bucket/prefix` keeps a dataset as files,
//! one folder per table, Parquet (default) or JSONL files per table and load, rotated at a row
//! count or size, plus dlt's system tables as JSONL and a manifest per load — all readable
//! with DuckDB's `read_parquet` / `read_json`. Where the files live is a [`Tree`]: a local
//! folder, or a bucket prefix (`bucket_tree`).
//!
//! Layout under `<dir>/<dataset>/`:
//! ```text
//! <table>/<load_id>.<n>.parquet        rows of the load, gathered into files (`table_files`)
//! _dlt_loads/<load_id>.jsonl           the commit marker, written last
//! _dlt_version/<version>.<load_id>.jsonl
//! _dlt_pipeline_state/<load_id>.jsonl
//! _manifests/<load_id>.json            files, tables and row counts of the load
//! .staging/<load_id>/.pipeline         the pipeline whose load is in progress
//! ```
//!
//! Atomicity: a package's table files are written to a local staging folder and placed
//! (renamed on disk, uploaded to a bucket) when it commits; the `_dlt_loads` file is written
//! last, so a load without it is not committed and its files are rewritten under the same
//! names when the package is applied again. `replace` removes the chain's older files before
//! the files are placed. Merge needs a SQL destination.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float64Type, Int64Type, Time64MicrosecondType,
    TimestampMicrosecondType,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType as ArrowType;
use serde_json::{Map, Value, json};
use sluice_schema::{LOADS_TABLE, STATE_TABLE, Schema, Table, VERSION_TABLE, WriteDisposition};

use crate::table_files::{FileRotation, TableFiles};
use crate::tree::{LocalTree, Tree, io};
use crate::{Commit, LoadError, PackageTx, Result};

/// The file in a load's `.staging` folder naming the pipeline whose load it is.
const OWNER: &str = ".pipeline";

/// How table files are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FileFormat {
    #[default]
    Parquet,
    Jsonl,
}

impl FileFormat {
    pub(crate) fn ext(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Jsonl => "jsonl",
        }
    }
}

/// A dataset as files.
pub struct Filesystem {
    tree: Box<dyn Tree>,
    format: FileFormat,
    /// the pipeline whose packages this instance loads: written into each load's staging
    /// folder (`.staging/<load_id>/.pipeline`), so a later run of the pipeline can tell its
    /// own interrupted loads ([`crate::Admin::recover`])
    pipeline: String,
    load_id: Option<String>,
    /// the package's table files in staging
    files: TableFiles,
    rotation: FileRotation,
}

pub(crate) fn staging_rel(load_id: &str) -> String {
    format!(".staging/{load_id}")
}

impl Filesystem {
    /// The dataset `dataset` under directory `dir` (created when missing), loaded by
    /// `pipeline`, its table files rotated by `rotation`.
    pub fn open(
        dir: &std::path::Path,
        dataset: &str,
        format: FileFormat,
        rotation: FileRotation,
        pipeline: &str,
    ) -> Result<Filesystem> {
        let shown = format!("file://{}", dir.display());
        let tree = LocalTree::open(dir.join(dataset), &shown)?;
        Ok(Self::on(Box::new(tree), format, rotation, pipeline))
    }

    /// The dataset kept in `tree`.
    pub(crate) fn on(
        tree: Box<dyn Tree>,
        format: FileFormat,
        rotation: FileRotation,
        pipeline: &str,
    ) -> Filesystem {
        Filesystem {
            tree,
            format,
            pipeline: pipeline.to_owned(),
            load_id: None,
            files: TableFiles::default(),
            rotation,
        }
    }

    fn jsonl_files(&self, table: &str) -> Result<Vec<String>> {
        Ok(self
            .tree
            .files(table)?
            .into_iter()
            .filter(|n| n.ends_with(".jsonl") && !n.starts_with('.'))
            .map(|n| format!("{table}/{n}"))
            .collect())
    }

    fn write_jsonl(&self, rel: &str, rows: &[Value]) -> Result<()> {
        let mut text = String::new();
        for r in rows {
            text.push_str(&r.to_string());
            text.push('\n');
        }
        self.tree.write(rel, text.as_bytes())
    }

    /// The dataset's storage, for readers ([`crate::StoredFiles`]).
    pub(crate) fn tree(&self) -> &dyn Tree {
        &*self.tree
    }

    /// The load ids whose `_dlt_loads` marker exists.
    pub(crate) fn committed(&self) -> Result<Vec<String>> {
        self.committed_loads()
    }

    fn committed_loads(&self) -> Result<Vec<String>> {
        Ok(self
            .tree
            .files(LOADS_TABLE)?
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .filter_map(|n| n.strip_suffix(".jsonl").map(str::to_owned))
            .collect())
    }

    fn is_committed(&self, load_id: &str) -> Result<bool> {
        self.tree.exists(&format!("{LOADS_TABLE}/{load_id}.jsonl"))
    }

    /// Each line of the JSONL files of system table `table`, parsed (lines that are not JSON
    /// are skipped, as a reader would).
    fn system_rows(&self, table: &str) -> Result<Vec<Value>> {
        let mut rows = Vec::new();
        for f in self.jsonl_files(table)? {
            let bytes = self.tree.read(&f)?;
            let text = String::from_utf8_lossy(&bytes);
            rows.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
        }
        Ok(rows)
    }

    /// Rows of table file `rel` (Parquet: from its footer, the only part read).
    fn file_rows(&self, rel: &str) -> Result<i64> {
        if rel.ends_with(".parquet") {
            return self.parquet_rows(rel);
        }
        let bytes = self.tree.read(rel)?;
        Ok(if rel.ends_with(".jsonl") {
            String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .count() as i64
        } else {
            0
        })
    }
}

impl Filesystem {
    /// A Parquet file's row count from its footer: the 8-byte tail gives the metadata's
    /// length, then the metadata alone is read.
    fn parquet_rows(&self, rel: &str) -> Result<i64> {
        use parquet::file::metadata::{FooterTail, ParquetMetaDataReader};
        let bad = |e| LoadError::sql(format!("reading `{rel}`"), e);
        let tail = self.tree.tail(rel, 8)?;
        let len = FooterTail::try_from(tail.as_slice())
            .map_err(bad)?
            .metadata_length();
        let footer = self.tree.tail(rel, len as u64 + 8)?;
        let meta = footer
            .len()
            .checked_sub(8)
            .map(|end| ParquetMetaDataReader::decode_metadata(&footer[..end]));
        match meta {
            Some(m) => Ok(m.map_err(bad)?.file_metadata().num_rows()),
            None => Err(LoadError::Plan(format!("`{rel}` is too short for Parquet"))),
        }
    }
}

impl crate::Catalog for Filesystem {
    fn describe(&self) -> String {
        self.tree.describe()
    }

    fn is_loaded(&mut self, load_id: &str) -> Result<bool> {
        self.is_committed(load_id)
    }

    fn load_count(&mut self) -> Result<i64> {
        Ok(self.committed_loads()?.len() as i64)
    }

    fn stored_schema(&mut self, schema_name: &str) -> Result<Option<String>> {
        let mut best: Option<(i64, String)> = None;
        for v in self.system_rows(VERSION_TABLE)? {
            if v["schema_name"] != schema_name {
                continue;
            }
            let version = v["version"].as_i64().unwrap_or(0);
            if best.as_ref().is_none_or(|(b, _)| version >= *b)
                && let Some(s) = v["schema"].as_str()
            {
                best = Some((version, s.to_owned()));
            }
        }
        Ok(best.map(|(_, s)| s))
    }

    fn stored_state(&mut self, pipeline: &str) -> Result<Option<crate::StoredState>> {
        let committed = self.committed_loads()?;
        let mut best: Option<(String, i64, String)> = None;
        for v in self.system_rows(STATE_TABLE)? {
            let load = v["_dlt_load_id"].as_str().unwrap_or_default().to_owned();
            if v["pipeline_name"] != pipeline || !committed.contains(&load) {
                continue;
            }
            if best.as_ref().is_none_or(|(l, _, _)| load > *l)
                && let (Some(ver), Some(st)) = (v["version"].as_i64(), v["state"].as_str())
            {
                best = Some((load, ver, st.to_owned()));
            }
        }
        Ok(best.map(|(load_id, version, state)| crate::StoredState {
            version,
            state,
            load_id,
        }))
    }

    fn table_counts(&mut self) -> Result<Vec<(String, i64)>> {
        let committed = self.committed_loads()?;
        let mut out = Vec::new();
        let dirs = self.tree.folders("")?;
        for d in dirs
            .into_iter()
            .filter(|n| !n.starts_with('.') && n != "_manifests")
        {
            let mut rows = 0i64;
            for name in self.tree.files(&d)? {
                // only files of committed loads count (system tables are committed by being there)
                if name.starts_with('.')
                    || (!d.starts_with("_dlt_")
                        && !committed.iter().any(|l| name.starts_with(&format!("{l}."))))
                {
                    continue;
                }
                rows += self.file_rows(&format!("{d}/{name}"))?;
            }
            out.push((d, rows));
        }
        Ok(out)
    }
}

impl crate::PackageTx for Filesystem {
    fn begin(&mut self, load_id: &str) -> Result<()> {
        // a half-written staging folder of an earlier attempt is rewritten from scratch
        let local = self.tree.local_staging(load_id);
        let _ = std::fs::remove_dir_all(&local);
        std::fs::create_dir_all(&local).map_err(io("creating the staging folder"))?;
        self.tree.write(
            &format!("{}/{OWNER}", staging_rel(load_id)),
            self.pipeline.as_bytes(),
        )?;
        self.load_id = Some(load_id.to_owned());
        self.files.clear();
        Ok(())
    }

    fn write_batch(&mut self, _schema: &Schema, table: &Table, batch: &RecordBatch) -> Result<()> {
        let Some(load_id) = self.load_id.clone() else {
            return Err(LoadError::NotBegun);
        };
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let staging = self.tree.local_staging(&load_id);
        self.files.write(
            &staging,
            &load_id,
            self.format,
            self.rotation,
            &table.name,
            batch,
        )
    }

    fn commit(&mut self, commit: &Commit) -> Result<()> {
        let Some(load_id) = self.load_id.clone() else {
            return Err(LoadError::NotBegun);
        };
        let schema = commit.schema;
        for root in commit.roots {
            let Some(t) = schema.tables.get(root) else {
                continue;
            };
            match t.write_disposition.unwrap_or_default() {
                WriteDisposition::Merge => {
                    return Err(LoadError::Plan(format!(
                        "table `{root}`: merge needs a SQL destination (duckdb or postgres); \
                         the filesystem destination takes append and replace"
                    )));
                }
                WriteDisposition::Replace if !commit.append_only.contains(root) => {
                    for c in schema.table_chain(root) {
                        for name in self.tree.files(&c.name)? {
                            if !name.starts_with(&format!("{load_id}.")) {
                                self.tree.remove(&format!("{}/{name}", c.name))?;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        self.files.finish_all()?;
        let staging = self.tree.local_staging(&load_id);
        let mut manifest_files = Vec::new();
        for (table, file, rows) in &self.files.finished {
            let rel = format!("{table}/{file}");
            self.tree.place(&staging.join(table).join(file), &rel)?;
            crate::failpoint("files.mid_rename");
            manifest_files.push(json!({"table": table, "file": rel, "rows": rows}));
        }
        self.write_system_rows(commit, &load_id, manifest_files)?;
        self.tree.remove_staging(&load_id)?;
        self.load_id = None;
        self.files.clear();
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        if let Some(id) = self.load_id.take() {
            let _ = self.tree.remove_staging(&id);
            self.files.clear();
        }
        Ok(())
    }
}

impl Filesystem {
    /// The version, state and manifest of a load, then its `_dlt_loads` marker (the commit).
    fn write_system_rows(
        &self,
        commit: &Commit,
        load_id: &str,
        manifest_files: Vec<Value>,
    ) -> Result<()> {
        let schema = commit.schema;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        self.write_jsonl(
            &format!("{VERSION_TABLE}/{}.{load_id}.jsonl", schema.version),
            &[json!({
                "version": schema.version, "engine_version": schema.engine_version,
                "inserted_at": now, "schema_name": schema.name,
                "version_hash": schema.version_hash, "schema": schema.to_json(),
            })],
        )?;
        if let Some(st) = commit.state {
            self.write_jsonl(
                &format!("{STATE_TABLE}/{load_id}.jsonl"),
                &[json!({
                    "version": st.version, "engine_version": st.engine_version,
                    "pipeline_name": st.pipeline_name, "state": st.state, "created_at": now,
                    "version_hash": st.version_hash, "_dlt_load_id": load_id,
                    "_dlt_id": crate::state_row_id(load_id, st),
                })],
            )?;
        }
        self.tree.write(
            &format!("_manifests/{load_id}.json"),
            serde_json::to_string_pretty(&json!({
                "load_id": load_id, "schema_name": schema.name,
                "schema_version_hash": schema.version_hash, "component": commit.component,
                "format": self.format.ext(), "files": manifest_files,
            }))
            .unwrap_or_default()
            .as_bytes(),
        )?;
        // the commit marker
        self.write_jsonl(
            &format!("{LOADS_TABLE}/{load_id}.jsonl"),
            &[json!({
                "load_id": load_id, "schema_name": schema.name, "status": 0,
                "inserted_at": now, "schema_version_hash": schema.version_hash,
                "component": commit.component,
            })],
        )
    }
}

impl crate::Admin for Filesystem {
    /// Loads of this pipeline that began and never committed — a holder killed mid-commit
    /// whose worker may never come back — are discarded ([`crate::Admin::discard`]): their
    /// half-placed files would otherwise stay visible to a plain glob. Runs under the
    /// pipeline's lease, so none of them is in progress.
    fn recover(&mut self) -> Result<Vec<String>> {
        let committed = self.committed_loads()?;
        let mut ids = Vec::new();
        for id in self.tree.folders(".staging")? {
            let owner = self
                .tree
                .read(&format!("{}/{OWNER}", staging_rel(&id)))
                .unwrap_or_default();
            if owner == self.pipeline.as_bytes() && !committed.contains(&id) {
                ids.push(id);
            }
        }
        for id in &ids {
            self.discard(id)?;
        }
        Ok(ids)
    }

    /// A load killed between placing its files and its `_dlt_loads` marker left files in the
    /// table folders that a plain glob would read: once the package is set aside they are
    /// removed (with its staging folder, manifest, state and version files). A committed
    /// load is never touched.
    fn discard(&mut self, load_id: &str) -> Result<()> {
        if self.is_committed(load_id)? {
            return Ok(());
        }
        let prefix = format!("{load_id}.");
        for dir in self.tree.folders("")? {
            if dir == ".staging" {
                continue;
            }
            for name in self.tree.files(&dir)? {
                // `<load_id>.<n>.<ext>`, `<load_id>.jsonl`, `<version>.<load_id>.jsonl`
                if name.starts_with(&prefix) || name.contains(&format!(".{prefix}")) {
                    self.tree.remove(&format!("{dir}/{name}"))?;
                }
            }
        }
        // the owner marker last: a discard cut short is found and done again
        self.tree.remove_staging(load_id)
    }

    fn drop_tables(&mut self, load_id: &str, tables: &[String], commit: &Commit) -> Result<()> {
        for t in tables {
            self.tree.remove_folder(t)?;
        }
        self.begin(load_id)?;
        self.commit(commit)
    }
}

/// Rows of a batch as JSON objects (timestamps ISO, decimals as strings, binary as hex).
pub fn batch_to_json(batch: &RecordBatch) -> std::result::Result<Vec<Value>, String> {
    let schema = batch.schema();
    let mut rows = vec![Map::new(); batch.num_rows()];
    for (field, col) in schema.fields().iter().zip(batch.columns()) {
        for (r, row) in rows.iter_mut().enumerate() {
            if col.is_null(r) {
                continue;
            }
            row.insert(field.name().clone(), json_value(col.as_ref(), r)?);
        }
    }
    Ok(rows.into_iter().map(Value::Object).collect())
}

fn json_value(col: &dyn Array, row: usize) -> std::result::Result<Value, String> {
    Ok(match col.data_type() {
        ArrowType::Utf8 => Value::from(col.as_string::<i32>().value(row)),
        ArrowType::Int64 => Value::from(col.as_primitive::<Int64Type>().value(row)),
        ArrowType::Float64 => Value::from(col.as_primitive::<Float64Type>().value(row)),
        ArrowType::Boolean => Value::from(col.as_boolean().value(row)),
        ArrowType::Timestamp(_, _) => {
            let us = col.as_primitive::<TimestampMicrosecondType>().value(row);
            let ts = chrono::DateTime::from_timestamp_micros(us)
                .ok_or_else(|| format!("timestamp {us}µs is out of range"))?;
            Value::from(ts.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        }
        ArrowType::Decimal128(_, _) => {
            Value::from(col.as_primitive::<Decimal128Type>().value_as_string(row))
        }
        ArrowType::Date32 => {
            let d = col.as_primitive::<Date32Type>().value(row);
            let date = chrono::NaiveDate::from_num_days_from_ce_opt(d + 719_163)
                .ok_or_else(|| format!("date {d} is out of range"))?;
            Value::from(date.to_string())
        }
        ArrowType::Time64(_) => {
            let us = col.as_primitive::<Time64MicrosecondType>().value(row);
            let t = chrono::NaiveTime::from_num_seconds_from_midnight_opt(
                (us / 1_000_000) as u32,
                ((us % 1_000_000) * 1000) as u32,
            )
            .ok_or_else(|| format!("time {us}µs is out of range"))?;
            Value::from(t.format("%H:%M:%S%.f").to_string())
        }
        ArrowType::Binary => Value::from(
            col.as_binary::<i32>()
                .value(row)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
        ),
        other => return Err(format!("arrow type {other} has no JSON encoding")),
    })
}
