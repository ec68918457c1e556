//! One resource's files read page by page: each file opened (decompressed), told apart as
//! Parquet, CSV, a JSON array or NDJSON, its records paged by count and bytes, its file columns added
//! when asked, and checked at its end not to have changed while it was read. An incremental
//! resource ends each file with a page carrying the state that skips it next time.

use std::collections::VecDeque;
use std::io::{BufRead, Read};

use sluice_sdk::serde_json::{self, Value};
use sluice_sdk::{Error, ErrorKind, Page, Resource, error};

use crate::compressed;
use crate::csv_read::{CsvFile, CsvOptions, Lines};
use crate::listing::{FileEntry, Seen, iso_utc};
use crate::parquet_read::{self, ParquetFile};
use crate::store::{Stat, Store};
use crate::typing::push_string;

/// Default most bytes of NDJSON per page.
pub const PAGE_BYTES: usize = 2 << 20;

/// How the config says to read the files.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// by extension, then by the first byte
    Auto,
    Csv,
    Json,
    Parquet,
}

/// Where a page ends: at this many records or once it holds this many bytes.
pub struct Paging {
    pub records: usize,
    pub bytes: usize,
}

enum Content {
    /// records of a JSON array file, already parsed, served in pages
    Array(std::vec::IntoIter<Value>),
    Lines(Box<dyn BufRead>),
    /// a CSV file and the NDJSON lines of its current chunk not yet paged
    Csv(Box<CsvFile>, Lines),
    /// Arrow pages (file columns added by the reader itself)
    Parquet(Box<ParquetFile>),
}

/// The file being read.
struct Current {
    file: FileEntry,
    /// size, modification time and tag when it was opened
    opened: Stat,
    content: Content,
    /// `"file_name":…,"modification_date":…` for each record, when asked
    columns: Option<Vec<u8>>,
}

pub struct Reader {
    store: Store,
    files: VecDeque<FileEntry>,
    current: Option<Current>,
    paging: Paging,
    format: Format,
    csv: CsvOptions,
    file_columns: bool,
    /// incremental by modification time: what has been read
    seen: Option<Seen>,
}

fn data_err(path: &str, msg: impl std::fmt::Display) -> Error {
    error(ErrorKind::Data, format!("file `{path}`: {msg}"))
}

impl Reader {
    pub fn new(
        store: Store,
        mut files: Vec<FileEntry>,
        seen: Option<Seen>,
        paging: Paging,
        format: Format,
        csv: CsvOptions,
        file_columns: bool,
    ) -> Reader {
        if let Some(seen) = &seen {
            files.retain(|f| seen.is_new(f));
            files.sort_by(|a, b| (a.modified_us, &a.path).cmp(&(b.modified_us, &b.path)));
        }
        Reader {
            store,
            files: files.into(),
            current: None,
            paging,
            format,
            csv,
            file_columns,
            seen,
        }
    }

    fn open_next(&mut self) -> Result<bool, Error> {
        let Some(file) = self.files.pop_front() else {
            return Ok(false);
        };
        let path = file.path.clone();
        let opened = self.store.stat(&path)?;
        let raw = self.store.reader_at(&path, &opened, 0)?;
        let (mut reader, compression) = compressed::open(&path, raw)?;
        let lower = compressed::inner_name(&path);
        let parquet = match self.format {
            Format::Parquet => true,
            Format::Auto => {
                lower.ends_with(".parquet")
                    || reader
                        .fill_buf()
                        .map_err(|e| data_err(&path, e))?
                        .starts_with(parquet_read::MAGIC)
            }
            _ => false,
        };
        if parquet {
            let columns = self
                .file_columns
                .then(|| (file.name.clone(), opened.modified_us));
            let rows = self.paging.records;
            let f = match compression {
                compressed::Compression::None => {
                    ParquetFile::open(&self.store, &path, &opened, rows, columns)?
                }
                // Parquet is read by ranges from its end: a compressed one is decoded whole,
                // into memory (held by the connector's memory limit)
                _ => {
                    let mut bytes = Vec::new();
                    reader
                        .read_to_end(&mut bytes)
                        .map_err(|e| data_err(&path, e))?;
                    ParquetFile::from_bytes(&path, bytes.into(), rows, columns)?
                }
            };
            self.current = Some(Current {
                file,
                opened,
                content: Content::Parquet(Box::new(f)),
                columns: None,
            });
            return Ok(true);
        }
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
        let by_name = lower.ends_with(".csv") || lower.ends_with(".tsv");
        let json_name = [".json", ".ndjson", ".jsonl"]
            .iter()
            .any(|e| lower.ends_with(e));
        let csv = match self.format {
            Format::Csv => true,
            Format::Json | Format::Parquet => false,
            Format::Auto => by_name || (!json_name && !matches!(first, Some(b'{' | b'['))),
        };
        let content = if csv {
            let f = CsvFile::open(&path, Box::new(reader), &self.csv, lower.ends_with(".tsv"))?;
            Content::Csv(Box::new(f), Lines::default())
        } else if first == Some(b'[') {
            let mut text = Vec::new();
            reader
                .read_to_end(&mut text)
                .map_err(|e| data_err(&path, e))?;
            let items: Vec<Value> =
                serde_json::from_slice(&text).map_err(|e| data_err(&path, e))?;
            Content::Array(items.into_iter())
        } else {
            Content::Lines(reader)
        };
        let columns = self
            .file_columns
            .then(|| file_columns(&file, opened.modified_us));
        self.current = Some(Current {
            file,
            opened,
            content,
            columns,
        });
        Ok(true)
    }

    /// The end of the current file: it must not have changed while it was read; an
    /// incremental resource records it as read, in a page of its own.
    fn finish_file(&mut self) -> Result<Option<Page>, Error> {
        let Some(done) = self.current.take() else {
            return Ok(None);
        };
        let now = self.store.stat(&done.file.path)?;
        if now != done.opened {
            return Err(data_err(
                &done.file.path,
                format!(
                    "changed while it was read (size {} → {} bytes, modified {} → {}); run again to read it whole",
                    done.opened.size,
                    now.size,
                    iso_utc(done.opened.modified_us),
                    iso_utc(now.modified_us)
                ),
            ));
        }
        Ok(self.seen.as_mut().map(|seen| {
            seen.read(&done.file);
            Page::ndjson(Vec::new()).with_checkpoint(&seen.state())
        }))
    }
}

impl Resource for Reader {
    fn next_page(&mut self) -> Result<Option<Page>, Error> {
        loop {
            if self.current.is_none() && !self.open_next()? {
                return Ok(None);
            }
            let Some(cur) = self.current.as_mut() else {
                return Ok(None);
            };
            if let Some(page) = next_records(cur, &self.paging)? {
                return Ok(Some(page));
            }
            if let Some(state_page) = self.finish_file()? {
                return Ok(Some(state_page));
            }
        }
    }
}

/// The current file's next page of records, `None` at its end.
fn next_records(cur: &mut Current, paging: &Paging) -> Result<Option<Page>, Error> {
    let path = &cur.file.path;
    let extra = cur.columns.as_deref();
    let mut buf = Vec::new();
    let mut n = 0;
    match &mut cur.content {
        Content::Array(items) => {
            // the file columns as a map, made once per page
            let add = extra.and_then(|e| {
                match serde_json::from_slice::<Value>(&[b"{", e, b"}"].concat()) {
                    Ok(Value::Object(map)) => Some(map),
                    _ => None,
                }
            });
            let chunk: Vec<Value> = items
                .by_ref()
                .take(paging.records)
                .map(|mut v| {
                    if let (Some(add), Value::Object(map)) = (&add, &mut v) {
                        map.extend(add.clone());
                    }
                    v
                })
                .collect();
            return Ok((!chunk.is_empty()).then(|| Page::json(&Value::Array(chunk))));
        }
        Content::Lines(reader) => {
            let mut line = Vec::new();
            while n < paging.records && buf.len() < paging.bytes {
                line.clear();
                let read = reader
                    .read_until(b'\n', &mut line)
                    .map_err(|e| data_err(path, e))?;
                if read == 0 {
                    break;
                }
                if !line.iter().all(u8::is_ascii_whitespace) {
                    n += 1;
                }
                push_record(&mut buf, &line, extra);
            }
        }
        Content::Parquet(file) => return file.next_page(),
        Content::Csv(file, lines) => {
            if lines.is_empty() {
                file.next_chunk(lines)?;
            }
            while n < paging.records && buf.len() < paging.bytes {
                let Some(line) = lines.pop() else { break };
                push_record(&mut buf, line, extra);
                n += 1;
            }
        }
    }
    Ok((n > 0).then(|| Page::ndjson(buf)))
}

/// Append an NDJSON line, with the file columns put first inside its object when asked (a
/// line that is no object is left as it is, for the host to refuse).
fn push_record(buf: &mut Vec<u8>, line: &[u8], extra: Option<&[u8]>) {
    let open = line.iter().position(|b| !b.is_ascii_whitespace());
    match (extra, open) {
        (Some(extra), Some(i)) if line[i] == b'{' => {
            buf.extend_from_slice(&line[..=i]);
            buf.extend_from_slice(extra);
            let rest = &line[i + 1..];
            if rest.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'}') {
                buf.push(b',');
            }
            buf.extend_from_slice(rest);
        }
        _ => buf.extend_from_slice(line),
    }
    if !line.ends_with(b"\n") {
        buf.push(b'\n');
    }
}

/// `"file_name":"…","modification_date":"…"` for `file`, as dlt's `FileItem` names them.
fn file_columns(file: &FileEntry, modified_us: i64) -> Vec<u8> {
    let mut out = b"\"file_name\":".to_vec();
    push_string(&mut out, &file.name);
    out.extend_from_slice(b",\"modification_date\":");
    push_string(&mut out, &iso_utc(modified_us));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_columns_go_first_inside_each_object() {
        let mut buf = Vec::new();
        for line in [&b"{\"a\": 1}\n"[..], b"  {}\n", b"[1]\n", b"{\"b\": 2}"] {
            push_record(&mut buf, line, Some(b"\"f\":\"x\""));
        }
        assert_eq!(
            String::from_utf8_lossy(&buf),
            "{\"f\":\"x\",\"a\": 1}\n  {\"f\":\"x\"}\n[1]\n{\"f\":\"x\",\"b\": 2}\n"
        );
    }
}
