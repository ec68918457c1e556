//! `files`: reads JSON arrays, NDJSON, CSV, TSV and Parquet files from directories the
//! pipeline grants read-only.
//!
//! Config: `{"paths": ["/granted/dir/a.json", …], "table": "name"}` loads the listed files into
//! one resource `name`; `{"dir": "/granted/dir"}` makes one resource per `.json`/`.ndjson`/
//! `.jsonl`/`.csv`/`.tsv` file (each also gzip- or zstd-compressed: `.csv.gz`, `.ndjson.zst`),
//! named by its stem. Compression is told by content (see `compressed`). A file is CSV by its
//! extension (`.csv`, `.tsv`, before any compression suffix) or, with another one, when it
//! does not start with `{` or `[`; a Parquet file by `.parquet` or its `PAR1` magic (read as
//! Arrow pages, see `parquet_read`); `format` (`csv`, `json`, `parquet`) decides instead. CSV options: `delimiter`, `quote`, `header` and `encoding` (see
//! `csv_read`). A path may be a glob (`/data/**/*.csv.gz`); `incremental = "modified"` reads
//! only the files modified since the last run, oldest first, and `file_columns = true` adds
//! each file's `file_name` and `modification_date` to its records (see `listing`).
//! `table_per_file = true` makes one resource per file name instead, without its extensions
//! (files of the same name in different folders share it).
//! `"bucket": "NAME"` reads keys of the pipeline's bucket grant `NAME` instead (`paths` are
//! keys below the grant's prefix, globs allowed), through the host (see `store`).
//! `page_size` (records per page, default 5000);
//! `page_bytes` (NDJSON: a page also ends once it holds this many bytes, default 2 MiB, so wide
//! or deeply nested records make pages the host can normalize and load in step). Nothing
//! outside the granted directories is visible to the component.

mod compressed;
mod csv_read;
mod listing;
mod parquet_read;
mod reader;
mod store;
mod typing;

use csv_read::CsvOptions;
use reader::{Format, Reader};

use sluice_sdk::serde_json::Value;
use sluice_sdk::{Error, ErrorKind, Open, Resource, ResourceSpec, Source, SourceSpec, error};

struct Files;

const CONFIG_SCHEMA: &str = r#"{"type":"object","properties":{"paths":{"type":"array","items":{"type":"string"}},"table":{"type":"string"},"dir":{"type":"string"},"page_size":{"type":"integer","minimum":1},"page_bytes":{"type":"integer","minimum":1},"format":{"enum":["auto","csv","json","parquet"]},"delimiter":{"type":"string"},"quote":{"type":"string"},"header":{"type":["boolean","string"]},"encoding":{"type":"string"},"incremental":{"enum":["modified"]},"file_columns":{"type":"boolean"},"bucket":{"type":"string"},"table_per_file":{"type":"boolean"}}}"#;

/// Extensions of the files a `dir` resource reads.
const EXTENSIONS: [&str; 6] = [".json", ".ndjson", ".jsonl", ".csv", ".tsv", ".parquet"];

/// Resource name → files it reads.
fn plan(config: &Value) -> Result<Vec<(String, Vec<String>)>, Error> {
    if let Some(paths) = paths(config) {
        if per_file_asked(config) {
            return Ok(per_file(config, &paths)?
                .into_iter()
                .map(|(t, files)| (t, files.into_iter().map(|f| f.path).collect()))
                .collect());
        }
        let table = match (config.get("table").and_then(Value::as_str), paths.first()) {
            (Some(t), _) => t.to_owned(),
            (None, Some(p)) if listing::is_glob(p) => {
                return Err(error(
                    ErrorKind::Config,
                    "a glob in `paths` needs a `table`",
                ));
            }
            (None, p) => stem(p.map(String::as_str).unwrap_or("data")),
        };
        return Ok(vec![(table, paths)]);
    }
    let Some(dir) = config.get("dir").and_then(Value::as_str) else {
        return Err(error(ErrorKind::Config, "config needs `paths` or `dir`"));
    };
    if config.get("bucket").is_some() {
        return Err(error(
            ErrorKind::Config,
            "with `bucket`, name the keys to read in `paths` (globs allowed), not `dir`",
        ));
    }
    let entries = std::fs::read_dir(dir)
        .map_err(|e| error(ErrorKind::Config, format!("cannot list `{dir}`: {e}")))?;
    let mut files: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path().to_string_lossy().into_owned())
        .filter(|p| {
            let name = compressed::inner_name(p);
            EXTENSIONS.iter().any(|e| name.ends_with(e))
        })
        .collect();
    files.sort();
    Ok(files.into_iter().map(|f| (stem(&f), vec![f])).collect())
}

/// The config's `paths`, when given.
fn paths(config: &Value) -> Option<Vec<String>> {
    let paths = config.get("paths").and_then(Value::as_array)?;
    Some(
        paths
            .iter()
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect(),
    )
}

fn per_file_asked(config: &Value) -> bool {
    config.get("table_per_file").and_then(Value::as_bool) == Some(true)
}

/// `table_per_file`: the files the patterns match, one resource per file name without its
/// extensions (`2024/01/orders.csv.gz` and `2024/02/orders.csv` both load table `orders`).
fn per_file(
    config: &Value,
    patterns: &[String],
) -> Result<std::collections::BTreeMap<String, Vec<listing::FileEntry>>, Error> {
    if config.get("table").is_some() {
        return Err(error(
            ErrorKind::Config,
            "give `table` (one table for every file) or `table_per_file`, not both",
        ));
    }
    let store = store::Store::from_config(config);
    let mut by_table: std::collections::BTreeMap<String, Vec<listing::FileEntry>> =
        Default::default();
    for f in listing::expand(&store, patterns)? {
        by_table.entry(stem(&f.path)).or_default().push(f);
    }
    Ok(by_table)
}

/// The files resource `resource` reads, each listed once (a `table_per_file` resource's
/// files come from the one listing that named the resource).
fn files_of(
    config: &Value,
    store: &store::Store,
    resource: &str,
) -> Result<Vec<listing::FileEntry>, Error> {
    let unknown = || error(ErrorKind::Config, format!("unknown resource `{resource}`"));
    let patterns: Vec<String> = match paths(config) {
        Some(paths) if per_file_asked(config) => {
            return per_file(config, &paths)?
                .remove(resource)
                .ok_or_else(unknown);
        }
        _ => plan(config)?
            .into_iter()
            .find(|(n, _)| n == resource)
            .map(|(_, f)| f)
            .ok_or_else(unknown)?,
    };
    let files = listing::expand(store, &patterns)?;
    if files.is_empty() {
        // not an error: a landing folder may be empty between deliveries; said, so a typo in
        // a pattern is not mistaken for "nothing new"
        let named: Vec<String> = patterns.iter().map(|p| format!("`{p}`")).collect();
        sluice_sdk::log::warn(&format!("no file matches {}", named.join(", ")));
    }
    Ok(files)
}

fn stem(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.split('.').next().unwrap_or(name).to_owned()
}

impl Source for Files {
    fn spec(config: &Value) -> Result<SourceSpec, Error> {
        let mut spec = SourceSpec::new("files", env!("CARGO_PKG_VERSION"));
        spec.config_schema = CONFIG_SCHEMA.into();
        for (name, _) in plan(config)? {
            spec = spec.resource(ResourceSpec::new(&name));
        }
        Ok(spec)
    }

    fn open(open: Open) -> Result<Box<dyn Resource>, Error> {
        let store = store::Store::from_config(&open.config);
        let files = files_of(&open.config, &store, &open.resource)?;
        let page_size = open
            .config
            .get("page_size")
            .and_then(Value::as_u64)
            .unwrap_or(5000) as usize;
        let page_bytes = open
            .config
            .get("page_bytes")
            .and_then(Value::as_u64)
            .unwrap_or(reader::PAGE_BYTES as u64) as usize;
        let format = match open.config.get("format").and_then(Value::as_str) {
            Some("csv") => Format::Csv,
            Some("json") => Format::Json,
            Some("parquet") => Format::Parquet,
            _ => Format::Auto,
        };
        let incremental =
            open.config.get("incremental").and_then(Value::as_str) == Some("modified");
        let seen = incremental.then(|| listing::Seen::from_state(open.state.as_ref()));
        Ok(Box::new(Reader::new(
            store,
            files,
            seen,
            reader::Paging {
                records: page_size.max(1),
                bytes: page_bytes.max(1),
            },
            format,
            CsvOptions::from_config(&open.config)?,
            open.config.get("file_columns").and_then(Value::as_bool) == Some(true),
        )))
    }
}

sluice_sdk::export!(Files);
