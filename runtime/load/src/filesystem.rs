//! The filesystem destination: `file:///dir` keeps a dataset as files, one folder per table,
//! Parquet (default) or JSONL files per table and load, rotated at a row count or size, plus dlt's system tables as
//! JSONL and a manifest per load — all readable with DuckDB's `read_parquet` / `read_json`.
//!
//! Layout under `<dir>/<dataset>/`:
//! ```text
//! <table>/<load_id>.<n>.parquet        rows of the load, gathered into files (`table_files`)
//! _dlt_loads/<load_id>.jsonl           the commit marker, written last
//! _dlt_version/<version>.<load_id>.jsonl
//! _dlt_pipeline_state/<load_id>.jsonl
//! _manifests/<load_id>.json            files, tables and row counts of the load
//! ```
//!
//! Atomicity: a package is written under `.staging/<load_id>/` and moved into place with
//! renames; the `_dlt_loads` file is written last, so a load without it is not committed and
//! its files are rewritten under the same names when the package is applied again. `replace`
//! removes the chain's older files before the renames. Merge needs a SQL destination.

use std::fs;
use std::path::{Path, PathBuf};

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
use crate::{Commit, LoadError, PackageTx, Result};

/// The file in a staging folder naming the pipeline whose load it is.
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

/// A dataset in a directory.
pub struct Filesystem {
    root: PathBuf,
    format: FileFormat,
    /// the pipeline whose packages this instance loads: written into each staging folder
    /// (`.staging/<load_id>/.pipeline`), so a later run of the pipeline can tell its own
    /// interrupted loads ([`crate::Admin::recover`])
    pipeline: String,
    load_id: Option<String>,
    /// the package's table files in staging
    files: TableFiles,
    rotation: FileRotation,
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LoadError {
    let context = context.into();
    move |e| LoadError::sql(context, e)
}

impl Filesystem {
    /// The dataset `dataset` under directory `dir` (created when missing), loaded by
    /// `pipeline`, its table files rotated by `rotation`.
    pub fn open(
        dir: &Path,
        dataset: &str,
        format: FileFormat,
        rotation: FileRotation,
        pipeline: &str,
    ) -> Result<Filesystem> {
        let root = dir.join(dataset);
        fs::create_dir_all(&root).map_err(|e| LoadError::Open {
            destination: format!("file://{}", dir.display()),
            source: e.into(),
        })?;
        Ok(Filesystem {
            root,
            format,
            pipeline: pipeline.to_owned(),
            load_id: None,
            files: TableFiles::default(),
            rotation,
        })
    }

    fn staging(&self, load_id: &str) -> PathBuf {
        self.root.join(".staging").join(load_id)
    }

    fn jsonl_files(&self, table: &str) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = fs::read_dir(self.root.join(table))
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    fn write_jsonl(path: &Path, rows: &[Value]) -> Result<()> {
        let mut text = String::new();
        for r in rows {
            text.push_str(&r.to_string());
            text.push('\n');
        }
        write_synced(path, text.as_bytes())
    }

    fn committed_loads(&self) -> Vec<String> {
        let mut ids: Vec<String> = fs::read_dir(self.root.join(LOADS_TABLE))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|n| n.strip_suffix(".jsonl"))
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
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

impl crate::Catalog for Filesystem {
    fn describe(&self) -> String {
        format!(
            "file://{}",
            self.root.parent().unwrap_or(&self.root).display()
        )
    }

    fn is_loaded(&mut self, load_id: &str) -> Result<bool> {
        Ok(self
            .root
            .join(LOADS_TABLE)
            .join(format!("{load_id}.jsonl"))
            .exists())
    }

    fn load_count(&mut self) -> Result<i64> {
        Ok(self.committed_loads().len() as i64)
    }

    fn stored_schema(&mut self, schema_name: &str) -> Result<Option<String>> {
        let mut best: Option<(i64, String)> = None;
        for f in self.jsonl_files(VERSION_TABLE) {
            let text = fs::read_to_string(&f).map_err(io(format!("reading `{}`", f.display())))?;
            for line in text.lines() {
                let Ok(v) = serde_json::from_str::<Value>(line) else {
                    continue;
                };
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
        }
        Ok(best.map(|(_, s)| s))
    }

    fn stored_state(&mut self, pipeline: &str) -> Result<Option<crate::StoredState>> {
        let committed = self.committed_loads();
        let mut best: Option<(String, i64, String)> = None;
        for f in self.jsonl_files(STATE_TABLE) {
            let text = fs::read_to_string(&f).map_err(io(format!("reading `{}`", f.display())))?;
            for line in text.lines() {
                let Ok(v) = serde_json::from_str::<Value>(line) else {
                    continue;
                };
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
        }
        Ok(best.map(|(load_id, version, state)| crate::StoredState {
            version,
            state,
            load_id,
        }))
    }

    fn table_counts(&mut self) -> Result<Vec<(String, i64)>> {
        let committed = self.committed_loads();
        let mut out = Vec::new();
        let mut dirs: Vec<String> = fs::read_dir(&self.root)
            .map_err(io("listing the dataset"))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|n| !n.starts_with('.') && n != "_manifests")
            .collect();
        dirs.sort();
        for d in dirs {
            let mut rows = 0i64;
            for e in fs::read_dir(self.root.join(&d)).map_err(io("listing a table"))? {
                let p = e.map_err(io("listing a table"))?.path();
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                // only files of committed loads count (system tables are committed by being there)
                if !d.starts_with("_dlt_")
                    && !committed.iter().any(|l| name.starts_with(&format!("{l}.")))
                {
                    continue;
                }
                rows += match p.extension().and_then(|x| x.to_str()) {
                    Some("parquet") => {
                        let f = fs::File::open(&p).map_err(io("reading parquet"))?;
                        let r = parquet::file::reader::SerializedFileReader::new(f)
                            .map_err(|e| LoadError::sql(format!("reading `{}`", p.display()), e))?;
                        use parquet::file::reader::FileReader as _;
                        r.metadata().file_metadata().num_rows()
                    }
                    Some("jsonl") => fs::read_to_string(&p)
                        .map_err(io("reading jsonl"))?
                        .lines()
                        .filter(|l| !l.trim().is_empty())
                        .count() as i64,
                    _ => 0,
                };
            }
            out.push((d, rows));
        }
        Ok(out)
    }
}

impl crate::PackageTx for Filesystem {
    fn begin(&mut self, load_id: &str) -> Result<()> {
        let dir = self.staging(load_id);
        // a half-written staging folder of an earlier attempt is rewritten from scratch
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(io("creating the staging folder"))?;
        fs::write(dir.join(OWNER), &self.pipeline).map_err(io("creating the staging folder"))?;
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
        let staging = self.staging(&load_id);
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
                        for e in fs::read_dir(self.root.join(&c.name)).into_iter().flatten() {
                            let p = e.map_err(io("listing a table"))?.path();
                            if !p
                                .file_name()
                                .and_then(|n| n.to_str())
                                .is_some_and(|n| n.starts_with(&format!("{load_id}.")))
                            {
                                fs::remove_file(&p)
                                    .map_err(io(format!("replacing `{}`", p.display())))?;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        self.files.finish_all()?;
        let staging = self.staging(&load_id);
        let mut manifest_files = Vec::new();
        for (table, file, rows) in &self.files.finished {
            let from = staging.join(table).join(file);
            let to = self.root.join(table).join(file);
            fs::create_dir_all(self.root.join(table)).map_err(io("creating a table folder"))?;
            fs::rename(&from, &to).map_err(io(format!("moving `{}` into place", to.display())))?;
            crate::failpoint("files.mid_rename");
            manifest_files
                .push(json!({"table": table, "file": format!("{table}/{file}"), "rows": rows}));
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        Self::write_jsonl(
            &self
                .root
                .join(VERSION_TABLE)
                .join(format!("{}.{load_id}.jsonl", schema.version)),
            &[json!({
                "version": schema.version, "engine_version": schema.engine_version,
                "inserted_at": now, "schema_name": schema.name,
                "version_hash": schema.version_hash, "schema": schema.to_json(),
            })],
        )?;
        if let Some(st) = commit.state {
            Self::write_jsonl(
                &self.root.join(STATE_TABLE).join(format!("{load_id}.jsonl")),
                &[json!({
                    "version": st.version, "engine_version": st.engine_version,
                    "pipeline_name": st.pipeline_name, "state": st.state, "created_at": now,
                    "version_hash": st.version_hash, "_dlt_load_id": load_id,
                    "_dlt_id": crate::state_row_id(&load_id, st),
                })],
            )?;
        }
        write_synced(
            &self.root.join("_manifests").join(format!("{load_id}.json")),
            serde_json::to_string_pretty(&json!({
                "load_id": load_id, "schema_name": schema.name,
                "schema_version_hash": schema.version_hash, "component": commit.component,
                "format": self.format.ext(), "files": manifest_files,
            }))
            .unwrap_or_default()
            .as_bytes(),
        )?;
        // the commit marker
        Self::write_jsonl(
            &self.root.join(LOADS_TABLE).join(format!("{load_id}.jsonl")),
            &[json!({
                "load_id": load_id, "schema_name": schema.name, "status": 0,
                "inserted_at": now, "schema_version_hash": schema.version_hash,
                "component": commit.component,
            })],
        )?;
        let _ = fs::remove_dir_all(&staging);
        self.load_id = None;
        self.files.clear();
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        if let Some(id) = self.load_id.take() {
            let _ = fs::remove_dir_all(self.staging(&id));
            self.files.clear();
        }
        Ok(())
    }
}

impl crate::Admin for Filesystem {
    /// Loads of this pipeline that began and never committed — a holder killed mid-commit
    /// whose worker may never come back — are discarded ([`crate::Admin::discard`]): their
    /// half-renamed files would otherwise stay visible to a plain glob. Runs under the
    /// pipeline's lease, so none of them is in progress.
    fn recover(&mut self) -> Result<Vec<String>> {
        let committed = self.committed_loads();
        let mut ids = Vec::new();
        for e in fs::read_dir(self.root.join(".staging"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let id = e.file_name().to_string_lossy().into_owned();
            let owner = fs::read_to_string(e.path().join(OWNER)).unwrap_or_default();
            if owner == self.pipeline && !committed.contains(&id) {
                ids.push(id);
            }
        }
        for id in &ids {
            self.discard(id)?;
        }
        Ok(ids)
    }

    /// A load killed between its renames and its `_dlt_loads` marker left files in the table
    /// folders that a plain glob would read: once the package is set aside they are removed
    /// (with its staging folder, manifest, state and version files). A committed load is
    /// never touched.
    fn discard(&mut self, load_id: &str) -> Result<()> {
        if self
            .root
            .join(LOADS_TABLE)
            .join(format!("{load_id}.jsonl"))
            .exists()
        {
            return Ok(());
        }
        let _ = fs::remove_dir_all(self.staging(load_id));
        let prefix = format!("{load_id}.");
        let dirs = fs::read_dir(&self.root).map_err(io("listing the dataset"))?;
        for dir in dirs.filter_map(|e| e.ok()).map(|e| e.path()) {
            if !dir.is_dir() || dir.file_name().is_some_and(|n| n == ".staging") {
                continue;
            }
            for f in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                // `<load_id>.<n>.<ext>`, `<load_id>.jsonl`, `<version>.<load_id>.jsonl`
                if name.starts_with(&prefix) || name.contains(&format!(".{prefix}")) {
                    fs::remove_file(f.path())
                        .map_err(io(format!("removing `{}`", f.path().display())))?;
                }
            }
        }
        Ok(())
    }

    fn drop_tables(&mut self, load_id: &str, tables: &[String], commit: &Commit) -> Result<()> {
        for t in tables {
            let dir = self.root.join(t);
            if dir.exists() {
                fs::remove_dir_all(&dir).map_err(io(format!("dropping `{}`", dir.display())))?;
            }
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
