//! CSV and TSV files read as typed NDJSON pages.
//!
//! The separator (`,` `;` tab `|`) and the quote (`"` or `'`) are sniffed from the first
//! 64 KiB unless the config names them; a UTF-8 byte order mark is dropped; other encodings
//! are decoded from the config's `encoding` (a WHATWG label: `latin1`, `windows-1252`,
//! `utf-16le`, …). The first row is the header unless it looks like data (`header = "auto"`,
//! the default; `true` / `false` decide). Rows are read a chunk at a time ([`CHUNK_ROWS`]) and
//! each chunk is typed as dlt's `read_csv` types it (see `typing`).

use std::io::{BufRead, BufReader, Cursor, Read};

use sluice_sdk::serde_json::Value;
use sluice_sdk::{Error, ErrorKind, error};

use crate::typing::{CHUNK_ROWS, Kind, kind, push_json, push_string};

/// Bytes the sniffer looks at.
const SAMPLE: usize = 64 << 10;
const SEPARATORS: [u8; 4] = [b',', b'\t', b';', b'|'];

/// How to read one CSV file: what the config says, the rest sniffed.
#[derive(Clone, Debug, Default)]
pub struct CsvOptions {
    pub delimiter: Option<u8>,
    pub quote: Option<u8>,
    /// `None`: decide from the first rows
    pub header: Option<bool>,
    pub encoding: Option<&'static encoding_rs::Encoding>,
}

impl CsvOptions {
    pub fn from_config(config: &Value) -> Result<CsvOptions, Error> {
        let byte = |key: &str| -> Result<Option<u8>, Error> {
            match config.get(key).and_then(Value::as_str) {
                None => Ok(None),
                Some("\\t" | "tab") => Ok(Some(b'\t')),
                Some(s) if s.len() == 1 && s.is_ascii() => Ok(Some(s.as_bytes()[0])),
                Some(s) => Err(error(
                    ErrorKind::Config,
                    format!("`{key}` must be one ASCII character, not `{s}`"),
                )),
            }
        };
        let header = match config.get("header") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) if s == "auto" => None,
            Some(other) => {
                return Err(error(
                    ErrorKind::Config,
                    format!("`header` is true, false or \"auto\", not {other}"),
                ));
            }
        };
        let encoding = match config.get("encoding").and_then(Value::as_str) {
            None => None,
            Some(label) => Some(
                encoding_rs::Encoding::for_label(label.as_bytes()).ok_or_else(|| {
                    error(ErrorKind::Config, format!("unknown encoding `{label}`"))
                })?,
            ),
        };
        Ok(CsvOptions {
            delimiter: byte("delimiter")?,
            quote: byte("quote")?,
            header,
            encoding,
        })
    }
}

/// An open CSV file: its columns and the reader of its records.
pub struct CsvFile {
    path: String,
    columns: Vec<String>,
    reader: csv::Reader<Box<dyn Read>>,
    /// the first row, when it was data
    pending: Option<csv::StringRecord>,
    /// the records of a chunk, kept between chunks so their buffers are read into again
    rows: Vec<csv::StringRecord>,
    /// each column's `"name":` (after a `,` but for the first), escaped once for the file
    keys: Vec<Vec<u8>>,
}

/// A chunk of rows as NDJSON: every line in one buffer, `ends[i]` the end of line `i`.
#[derive(Default)]
pub struct Lines {
    buf: Vec<u8>,
    ends: Vec<usize>,
    /// lines handed out so far
    next: usize,
}

impl Lines {
    /// The next line (with its newline), `None` when all are handed out.
    pub fn pop(&mut self) -> Option<&[u8]> {
        let end = *self.ends.get(self.next)?;
        let start = match self.next {
            0 => 0,
            i => self.ends[i - 1],
        };
        self.next += 1;
        Some(&self.buf[start..end])
    }

    pub fn is_empty(&self) -> bool {
        self.next >= self.ends.len()
    }
}

fn csv_err(path: &str, e: &csv::Error) -> Error {
    let at = e
        .position()
        .map(|p| format!("line {}: ", p.line()))
        .unwrap_or_default();
    let what = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "text is not UTF-8 (name the file's `encoding`)".to_owned(),
        _ => e.to_string(),
    };
    error(ErrorKind::Data, format!("file `{path}`: {at}{what}"))
}

impl CsvFile {
    /// Open `path` (its bytes in `input`) as CSV; `tsv` makes tab the default separator.
    pub fn open(
        path: &str,
        input: Box<dyn Read>,
        opts: &CsvOptions,
        tsv: bool,
    ) -> Result<CsvFile, Error> {
        let io = |e: std::io::Error| error(ErrorKind::Data, format!("file `{path}`: {e}"));
        let mut text: Box<dyn Read> = match opts.encoding {
            Some(enc) if enc != encoding_rs::UTF_8 => Box::new(Decoded::new(input, enc)),
            _ => input,
        };
        let mut sample = Vec::with_capacity(SAMPLE);
        text.by_ref()
            .take(SAMPLE as u64)
            .read_to_end(&mut sample)
            .map_err(io)?;
        if sample.starts_with(b"\xEF\xBB\xBF") {
            sample.drain(..3);
        }
        let quote = opts.quote.unwrap_or_else(|| sniff_quote(&sample));
        let delimiter = opts.delimiter.unwrap_or_else(|| {
            sniff_delimiter(&sample, quote).unwrap_or(if tsv { b'\t' } else { b',' })
        });
        let header = opts
            .header
            .unwrap_or_else(|| looks_like_header(&sample, delimiter, quote));
        let all: Box<dyn Read> = Box::new(Cursor::new(sample).chain(text));
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .quote(quote)
            .has_headers(false)
            .flexible(true)
            .from_reader(all);
        let mut first = csv::StringRecord::new();
        let any = reader
            .read_record(&mut first)
            .map_err(|e| csv_err(path, &e))?;
        let (columns, pending) = match (any, header) {
            (false, _) => (Vec::new(), None),
            (true, true) => (header_names(&first), None),
            (true, false) => (
                (0..first.len()).map(|i| i.to_string()).collect(),
                Some(first),
            ),
        };
        let keys = columns
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut key = if i > 0 { vec![b','] } else { Vec::new() };
                push_string(&mut key, name);
                key.push(b':');
                key
            })
            .collect();
        Ok(CsvFile {
            path: path.to_owned(),
            columns,
            reader,
            pending,
            rows: Vec::new(),
            keys,
        })
    }

    /// The next chunk of rows as NDJSON lines, typed together, into `lines`; false at the
    /// end.
    pub fn next_chunk(&mut self, lines: &mut Lines) -> Result<bool, Error> {
        let mut rows = std::mem::take(&mut self.rows);
        let mut n = 0;
        if let Some(first) = self.pending.take() {
            rows.insert(0, first);
            n = 1;
        }
        while n < CHUNK_ROWS {
            if rows.len() == n {
                rows.push(csv::StringRecord::new());
            }
            let record = &mut rows[n];
            if !self
                .reader
                .read_record(record)
                .map_err(|e| csv_err(&self.path, &e))?
            {
                break;
            }
            if record.len() > self.columns.len() {
                let line = record.position().map_or(0, |p| p.line());
                return Err(error(
                    ErrorKind::Data,
                    format!(
                        "file `{}`: line {line}: {} fields where the header has {}",
                        self.path,
                        record.len(),
                        self.columns.len()
                    ),
                ));
            }
            // a blank line is no row (pandas skips them)
            if !(record.len() == 1 && record[0].is_empty()) {
                n += 1;
            }
        }
        let any = n > 0;
        if any {
            self.typed_lines(&rows[..n], lines);
        }
        self.rows = rows;
        Ok(any)
    }

    fn typed_lines(&self, rows: &[csv::StringRecord], lines: &mut Lines) {
        fn field(r: &csv::StringRecord, i: usize) -> &str {
            // a short row's missing fields are NA, as in pandas
            r.get(i).unwrap_or("")
        }
        let kinds: Vec<(Kind, bool)> = (0..self.columns.len())
            .map(|i| kind(rows.iter().map(|r| field(r, i))))
            .collect();
        let keys = &self.keys;
        let names_len: usize = keys.iter().map(Vec::len).sum();
        let text_len: usize = rows.iter().map(|r| r.as_slice().len()).sum();
        lines.buf.clear();
        lines.ends.clear();
        lines.next = 0;
        lines
            .buf
            .reserve(text_len + rows.len() * (names_len + 3 * keys.len() + 8));
        let out = &mut lines.buf;
        for r in rows {
            out.push(b'{');
            for (i, key) in keys.iter().enumerate() {
                out.extend_from_slice(key);
                push_json(out, field(r, i), kinds[i].0, kinds[i].1);
            }
            out.extend_from_slice(b"}\n");
            lines.ends.push(out.len());
        }
    }
}

/// Column names as pandas makes them from a header row: an empty name is `Unnamed: N`, a
/// repeated one gets `.1`, `.2`, ….
fn header_names(row: &csv::StringRecord) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(row.len());
    for (i, raw) in row.iter().enumerate() {
        let base = if raw.is_empty() {
            format!("Unnamed: {i}")
        } else {
            raw.to_owned()
        };
        let mut name = base.clone();
        let mut n = 0;
        while names.contains(&name) {
            n += 1;
            name = format!("{base}.{n}");
        }
        names.push(name);
    }
    names
}

/// The first records of `sample` read with `delimiter` and `quote` (the last one, maybe cut
/// by the sample's end, left out).
fn sample_rows(sample: &[u8], delimiter: u8, quote: u8) -> Vec<csv::ByteRecord> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quote(quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(sample);
    let mut rows: Vec<csv::ByteRecord> = reader
        .byte_records()
        .take(50)
        .map_while(Result::ok)
        .filter(|r| !(r.len() == 1 && r[0].is_empty()))
        .collect();
    if sample.len() >= SAMPLE && rows.len() > 1 {
        rows.pop();
    }
    rows
}

/// The separator that splits the sample's rows into the same number (more than one) of
/// fields most consistently; ties go to the earlier of `, \t ; |`.
fn sniff_delimiter(sample: &[u8], quote: u8) -> Option<u8> {
    let mut best: Option<(usize, usize, u8)> = None;
    for d in SEPARATORS {
        let rows = sample_rows(sample, d, quote);
        let Some(first) = rows.first() else { continue };
        let width = first.len();
        if width < 2 {
            continue;
        }
        let same = rows.iter().filter(|r| r.len() == width).count();
        let score = (same, width, d);
        if best.is_none_or(|(s, w, _)| (same, width) > (s, w)) {
            best = Some(score);
        }
    }
    best.map(|(_, _, d)| d)
}

/// `'` when the sample quotes fields with it and never with `"`.
fn sniff_quote(sample: &[u8]) -> u8 {
    let opens = |q: u8| {
        sample
            .windows(2)
            .filter(|w| w[1] == q && (SEPARATORS.contains(&w[0]) || w[0] == b'\n'))
            .count()
            + usize::from(sample.first() == Some(&q))
    };
    if opens(b'"') == 0 && opens(b'\'') > 0 {
        b'\''
    } else {
        b'"'
    }
}

/// Whether the first row names the columns, by Python's `csv.Sniffer.has_header` rule: per
/// column, the first row votes "header" when its value is not a number where the other rows
/// hold numbers (two votes), or has another length where theirs is fixed (one), and "data"
/// when it fits. Only a majority for "data" makes the first row data: on a tie, or when no
/// column can tell, it is the header, as pandas (and so dlt) always assumes.
fn looks_like_header(sample: &[u8], delimiter: u8, quote: u8) -> bool {
    let rows = sample_rows(sample, delimiter, quote);
    let Some((first, rest)) = rows.split_first() else {
        return true;
    };
    if rest.is_empty() {
        return true;
    }
    let number = |v: &[u8]| {
        std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .is_some()
    };
    let mut votes = 0i32;
    for (i, head) in first.iter().enumerate() {
        let col: Vec<&[u8]> = rest.iter().filter_map(|r| r.get(i)).collect();
        if col.is_empty() {
            continue;
        }
        if col.iter().all(|v| number(v)) {
            // a number column tells the most
            votes += if number(head) { -2 } else { 2 };
        } else if col.iter().all(|v| v.len() == col[0].len()) {
            votes += if head.len() == col[0].len() { -1 } else { 1 };
        }
    }
    // a tie, or no column that could tell: a header, as pandas assumes
    votes >= 0
}

/// Text of another encoding, decoded to UTF-8 as it is read.
struct Decoded {
    input: BufReader<Box<dyn Read>>,
    decoder: encoding_rs::Decoder,
    out: Vec<u8>,
    at: usize,
    done: bool,
}

impl Decoded {
    fn new(input: Box<dyn Read>, encoding: &'static encoding_rs::Encoding) -> Decoded {
        Decoded {
            input: BufReader::with_capacity(1 << 20, input),
            decoder: encoding.new_decoder_with_bom_removal(),
            out: Vec::new(),
            at: 0,
            done: false,
        }
    }

    fn refill(&mut self) -> std::io::Result<()> {
        let src = self.input.fill_buf()?;
        let last = src.is_empty();
        let mut dst = vec![
            0u8;
            self.decoder
                .max_utf8_buffer_length(src.len())
                .unwrap_or(src.len() * 3 + 16)
        ];
        let (_, read, written, _) = self.decoder.decode_to_utf8(src, &mut dst, last);
        dst.truncate(written);
        self.input.consume(read);
        self.out = dst;
        self.at = 0;
        self.done = last;
        Ok(())
    }
}

impl Read for Decoded {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.out.len() {
            if self.done {
                return Ok(0);
            }
            self.refill()?;
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_quotes_and_headers_are_sniffed() {
        assert_eq!(
            sniff_delimiter(b"a;b;c\n1;2;3\n4;5;\"x;y\"\n", b'"'),
            Some(b';')
        );
        assert_eq!(sniff_delimiter(b"a\tb, c\n1\t2\n", b'"'), Some(b'\t'));
        assert_eq!(sniff_delimiter(b"a,b\n\"1,5\",2\n", b'"'), Some(b','));
        assert_eq!(sniff_delimiter(b"just one column\nx\n", b'"'), None);
        assert_eq!(sniff_quote(b"a,b\n'x, y',2\n"), b'\'');
        assert_eq!(sniff_quote(b"a,b\n\"it's\",2\n"), b'"');
        assert!(looks_like_header(b"id,name\n1,ann\n2,bo\n", b',', b'"'));
        assert!(!looks_like_header(b"1,ann\n2,bo\n3,cy\n", b',', b'"'));
        assert!(looks_like_header(
            b"name,city\nann,rome\nbob,oslo\n",
            b',',
            b'"'
        ));
    }

    #[test]
    fn headers_are_named_as_pandas_names_them() {
        let row = csv::StringRecord::from(vec!["a", "", "a", "a"]);
        assert_eq!(header_names(&row), ["a", "Unnamed: 1", "a.1", "a.2"]);
    }

    #[test]
    fn other_encodings_are_decoded() {
        let latin1: &[u8] = b"name\nJos\xe9\n";
        let mut d = Decoded::new(Box::new(latin1), encoding_rs::WINDOWS_1252);
        let mut s = String::new();
        d.read_to_string(&mut s).expect("decoded");
        assert_eq!(s, "name\nJosé\n");
    }
}
