//! `files`: reads JSON arrays, NDJSON, CSV and TSV files from directories the pipeline grants
//! read-only.
//!
//! Config: `{"paths": ["/granted/dir/a.json", …], "table": "name"}` loads the listed files into
//! one resource `name`; `{"dir": "/granted/dir"}` makes one resource per `.json`/`.ndjson`/
//! `.jsonl`/`.csv`/`.tsv` file (each also gzip- or zstd-compressed: `.csv.gz`, `.ndjson.zst`),
//! named by its stem. Compression is told by content (see `compressed`). A file is CSV by its
//! extension (`.csv`, `.tsv`, before any compression suffix) or, with another one, when it
//! does not start with `{` or `[`; `format` (`csv`, `json`) decides instead. CSV options: `delimiter`, `quote`, `header` and `encoding` (see
//! `csv_read`). `page_size` (records per page, default 5000);
//! `page_bytes` (NDJSON: a page also ends once it holds this many bytes, default 2 MiB, so wide
//! or deeply nested records make pages the host can normalize and load in step). Nothing
//! outside the granted directories is visible to the component.

mod compressed;
mod csv_read;
mod typing;

use std::collections::VecDeque;
use std::io::{BufRead, Read};

use csv_read::{CsvFile, CsvOptions};

use sluice_sdk::serde_json::{self, Value};
use sluice_sdk::{Error, ErrorKind, Open, Page, Resource, ResourceSpec, Source, SourceSpec, error};

struct Files;

const CONFIG_SCHEMA: &str = r#"{"type":"object","properties":{"paths":{"type":"array","items":{"type":"string"}},"table":{"type":"string"},"dir":{"type":"string"},"page_size":{"type":"integer","minimum":1},"page_bytes":{"type":"integer","minimum":1},"format":{"enum":["auto","csv","json"]},"delimiter":{"type":"string"},"quote":{"type":"string"},"header":{"type":["boolean","string"]},"encoding":{"type":"string"}}}"#;

/// Extensions of the files a `dir` resource reads.
const EXTENSIONS: [&str; 5] = [".json", ".ndjson", ".jsonl", ".csv", ".tsv"];

/// Resource name → files it reads.
fn plan(config: &Value) -> Result<Vec<(String, Vec<String>)>, Error> {
    if let Some(paths) = config.get("paths").and_then(Value::as_array) {
        let paths: Vec<String> = paths
            .iter()
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect();
        let table = match config.get("table").and_then(Value::as_str) {
            Some(t) => t.to_owned(),
            None => stem(paths.first().map(String::as_str).unwrap_or("data")),
        };
        return Ok(vec![(table, paths)]);
    }
    let Some(dir) = config.get("dir").and_then(Value::as_str) else {
        return Err(error(ErrorKind::Config, "config needs `paths` or `dir`"));
    };
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
        let files = plan(&open.config)?
            .into_iter()
            .find(|(n, _)| *n == open.resource)
            .map(|(_, f)| f)
            .ok_or_else(|| {
                error(
                    ErrorKind::Config,
                    format!("unknown resource `{}`", open.resource),
                )
            })?;
        let page_size = open
            .config
            .get("page_size")
            .and_then(Value::as_u64)
            .unwrap_or(5000) as usize;
        let page_bytes = open
            .config
            .get("page_bytes")
            .and_then(Value::as_u64)
            .unwrap_or(PAGE_BYTES as u64) as usize;
        let format = match open.config.get("format").and_then(Value::as_str) {
            Some("csv") => Format::Csv,
            Some("json") => Format::Json,
            _ => Format::Auto,
        };
        Ok(Box::new(Reader {
            files,
            current: None,
            page_size: page_size.max(1),
            page_bytes: page_bytes.max(1),
            format,
            csv: CsvOptions::from_config(&open.config)?,
        }))
    }
}

/// How the config says to read the files.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    /// by extension, then by the first byte
    Auto,
    Csv,
    Json,
}

enum Current {
    /// records of a JSON array file, already parsed, served in pages
    Array(std::vec::IntoIter<Value>),
    Lines(Box<dyn BufRead>),
    /// a CSV file and the NDJSON lines of its current chunk not yet paged
    Csv(Box<CsvFile>, VecDeque<Vec<u8>>),
}

struct Reader {
    files: Vec<String>,
    current: Option<(String, Current)>,
    page_size: usize,
    page_bytes: usize,
    format: Format,
    csv: CsvOptions,
}

/// Default most bytes of NDJSON per page.
const PAGE_BYTES: usize = 2 << 20;

fn data_err(path: &str, msg: impl std::fmt::Display) -> Error {
    error(ErrorKind::Data, format!("file `{path}`: {msg}"))
}

impl Reader {
    fn open_next(&mut self) -> Result<bool, Error> {
        if self.files.is_empty() {
            return Ok(false);
        }
        let path = self.files.remove(0);
        let (mut reader, _) = compressed::open(&path)?;
        let first = loop {
            let buf = reader.fill_buf().map_err(|e| data_err(&path, e))?;
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => break Some(buf[i]),
                None if buf.is_empty() => break None,
                None => {
                    let n = buf.len();
                    reader.consume(n);
                }
            }
        };
        let lower = compressed::inner_name(&path);
        let by_name = lower.ends_with(".csv") || lower.ends_with(".tsv");
        let json_name = [".json", ".ndjson", ".jsonl"]
            .iter()
            .any(|e| lower.ends_with(e));
        let csv = match self.format {
            Format::Csv => true,
            Format::Json => false,
            Format::Auto => by_name || (!json_name && !matches!(first, Some(b'{' | b'['))),
        };
        let current = if csv {
            let file = CsvFile::open(&path, Box::new(reader), &self.csv, lower.ends_with(".tsv"))?;
            Current::Csv(Box::new(file), VecDeque::new())
        } else if first == Some(b'[') {
            let mut text = Vec::new();
            reader
                .read_to_end(&mut text)
                .map_err(|e| data_err(&path, e))?;
            let items: Vec<Value> =
                serde_json::from_slice(&text).map_err(|e| data_err(&path, e))?;
            Current::Array(items.into_iter())
        } else {
            Current::Lines(reader)
        };
        self.current = Some((path, current));
        Ok(true)
    }
}

impl Resource for Reader {
    fn next_page(&mut self) -> Result<Option<Page>, Error> {
        loop {
            if self.current.is_none() && !self.open_next()? {
                return Ok(None);
            }
            let Some((path, cur)) = self.current.as_mut() else {
                return Ok(None);
            };
            let page = match cur {
                Current::Array(items) => {
                    let chunk: Vec<Value> = items.by_ref().take(self.page_size).collect();
                    (!chunk.is_empty()).then(|| Page::json(&Value::Array(chunk)))
                }
                Current::Lines(reader) => {
                    let mut buf = Vec::new();
                    let mut n = 0;
                    while n < self.page_size && buf.len() < self.page_bytes {
                        let before = buf.len();
                        let read = reader
                            .read_until(b'\n', &mut buf)
                            .map_err(|e| data_err(path, e))?;
                        if read == 0 {
                            break;
                        }
                        if !buf[before..].iter().all(u8::is_ascii_whitespace) {
                            n += 1;
                        }
                    }
                    (n > 0).then(|| Page::ndjson(buf))
                }
                Current::Csv(file, lines) => {
                    if lines.is_empty()
                        && let Some(chunk) = file.next_chunk()?
                    {
                        lines.extend(chunk);
                    }
                    let mut buf = Vec::new();
                    let mut n = 0;
                    while n < self.page_size && buf.len() < self.page_bytes {
                        let Some(line) = lines.pop_front() else { break };
                        buf.extend_from_slice(&line);
                        n += 1;
                    }
                    (n > 0).then(|| Page::ndjson(buf))
                }
            };
            match page {
                Some(p) => return Ok(Some(p)),
                None => self.current = None,
            }
        }
    }
}

sluice_sdk::export!(Files);
