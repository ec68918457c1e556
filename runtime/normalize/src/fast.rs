//! The fast path: records that fit the schema as it stands are parsed with simd-json's tape
//! and written straight into Arrow builders, with each table's column slots resolved once per
//! chunk of records and no per-row maps or intermediate values.
//!
//! "Fits" means a chunk changes nothing but data: every table and every column it touches
//! exists, every value coerces to its column's type without a variant, no two keys of a record
//! land on one column or nested table, no value is kept whole as JSON, and no record sets a
//! `_dlt_*` column. Anything else — including every malformed input — returns [`Bail`], and
//! `Normalizer::add_page_bytes` sends that chunk through the general path
//! ([`crate::Normalizer::add_page`]'s machinery), which alone evolves schemas, applies
//! contracts and reports errors; the next chunks try the fast path again. The output (rows,
//! row counts, schema, errors) is therefore that of the general path by construction, and a
//! property test holds the two to it.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int64Builder,
    StringBuilder, Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType as ArrowType, Field, Schema as ArrowSchema};
use rayon::prelude::*;
use simd_json::{Node, StaticNode};
use sluice_schema::{
    DLT_ID, DLT_LIST_IDX, DLT_LOAD_ID, DLT_PARENT_ID, DLT_ROOT_ID, DataType, IdText, Schema, Table,
    child_row_ids_with, make_path, normalize_identifier, salted_row_ids,
};

use crate::RecordsFormat;
use crate::coerce::{Typed, coerce, parse_timestamp};
use crate::flatten::Cell;
use crate::tables::arrow_type;

type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Records per unit of parallel work (fixed, so chunking never depends on the thread count).
/// Tests use chunks of 3 so that small generated pages have many.
pub(crate) const CHUNK: usize = if cfg!(test) { 3 } else { 512 };
/// Records the general path takes from the one a chunk bailed at (the first of a new table,
/// or one with a new column or type): enough for the columns of records like it, few enough
/// that a page's first records do not wait on the slow path (a whole chunk of deeply nested
/// records took 0.17 s there).
pub(crate) const PROBE: usize = if cfg!(test) { 2 } else { 32 };
/// Nesting deeper than this leaves the fast path (the general parser refuses beyond 128).
const MAX_DEPTH: usize = 100;

/// Why a chunk (or a page) left the fast path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bail(pub &'static str);

/// A chunk that left the fast path: at which record of the page, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BailAt {
    pub record: usize,
    pub bail: Bail,
}

/// What the fast path needs to know, fixed for a page.
pub(crate) struct Spec<'a> {
    pub schema: &'a Schema,
    pub root: &'a str,
    pub max_nesting: u32,
    pub root_key: bool,
    pub load_id: &'a str,
    pub salt: [u8; 16],
    pub page_seq: u64,
    pub max_identifier_len: usize,
    /// the resource's contract lets new tables evolve (then tables that have not seen data
    /// accept rows as they are)
    pub tables_evolve: bool,
    /// root ids are dlt's key hash over these (normalized) primary key columns (upsert,
    /// insert-only); otherwise they come from the package salt
    pub key_hash: Option<&'a [String]>,
}

/// Chunks normalized on the fast path, merged.
pub(crate) struct FastPage {
    /// one batch per table that got rows, in schema order
    pub batches: Vec<(String, RecordBatch)>,
    /// rows per table, tables in order of their first row
    pub rows: Vec<(String, u64)>,
    /// records the rows were made from
    pub records: u64,
}

/// A page read for the fast path: its records as NDJSON lines or as elements of one
/// simd-json tape, worked on in chunks of [`CHUNK`] records.
pub(crate) struct Page<'t> {
    records: Records<'t>,
}

enum Records<'t> {
    /// each non-blank line with its line number (from 1)
    Lines(Vec<(usize, &'t [u8])>),
    Tape {
        tape: &'t [Node<'t>],
        starts: Vec<usize>,
    },
}

/// Read `bytes` as a page for the fast path and hand it to `f`; a page that cannot be read
/// so (an array page with invalid JSON, raw control characters or lone surrogates in it, a
/// top-level scalar) is refused as a whole.
pub(crate) fn with_page<R>(
    bytes: &[u8],
    format: RecordsFormat,
    f: impl FnOnce(&Page<'_>) -> R,
) -> Result<R, Bail> {
    match format {
        RecordsFormat::Ndjson => Ok(f(&Page {
            // the lines `parse_page` reads
            records: Records::Lines(crate::ndjson_lines(bytes)),
        })),
        RecordsFormat::JsonArray => {
            if bytes.iter().any(|b| *b < 0x20) && !whitespace_only_between(bytes)
                || has_lone_surrogate(bytes)
            {
                return Err(Bail("control character or lone surrogate"));
            }
            let mut copy = bytes.to_vec();
            let tape = simd_json::to_tape(&mut copy).map_err(|_| Bail("not valid JSON"))?;
            let tape = &tape.0;
            let starts: Vec<usize> = match tape.first() {
                Some(Node::Array { len, .. }) => {
                    let mut starts = Vec::with_capacity(*len);
                    let mut pos = 1;
                    for _ in 0..*len {
                        starts.push(pos);
                        pos += span(tape, pos)?;
                    }
                    starts
                }
                Some(Node::Object { .. }) => vec![0],
                _ => return Err(Bail("page is not an array or object")),
            };
            Ok(f(&Page {
                records: Records::Tape { tape, starts },
            }))
        }
    }
}

impl Page<'_> {
    /// Number of records.
    pub fn len(&self) -> usize {
        match &self.records {
            Records::Lines(lines) => lines.len(),
            Records::Tape { starts, .. } => starts.len(),
        }
    }

    /// The NDJSON lines of records `range` with their line numbers; `None` for an array page.
    pub fn lines(&self, range: std::ops::Range<usize>) -> Option<&[(usize, &[u8])]> {
        match &self.records {
            Records::Lines(lines) => lines.get(range),
            Records::Tape { .. } => None,
        }
    }

    /// Chunks of [`CHUNK`] records from record `from`, at most `window` of them.
    pub fn chunks_from(&self, from: usize, window: usize) -> Vec<std::ops::Range<usize>> {
        (from..self.len())
            .step_by(CHUNK)
            .take(window)
            .map(|start| start..(start + CHUNK).min(self.len()))
            .collect()
    }

    /// Normalize the record `ranges` in parallel, each on its own; results in order. A range
    /// that bails says at which record (its first when the bail came after the last record).
    pub fn run(
        &self,
        spec: &Spec<'_>,
        ranges: &[std::ops::Range<usize>],
    ) -> Vec<Result<FastChunk, BailAt>> {
        ranges
            .par_iter()
            .map(|records| {
                let at = |i: usize| move |bail| BailAt { record: i, bail };
                let ids = root_ids(spec, records.start, records.len());
                let mut w = Worker::new(spec);
                match &self.records {
                    Records::Lines(lines) => {
                        let mut scratch = Vec::new();
                        let mut buffers = simd_json::Buffers::default();
                        for ((i, (_, line)), id) in
                            records.clone().zip(&lines[records.clone()]).zip(&ids)
                        {
                            if needs_general_parser(line) {
                                return Err(at(i)(Bail("control character or lone surrogate")));
                            }
                            scratch.clear();
                            scratch.extend_from_slice(line);
                            let tape = simd_json::to_tape_with_buffers(&mut scratch, &mut buffers)
                                .map_err(|_| at(i)(Bail("not valid JSON")))?;
                            w.record(&tape.0, 0, id).map_err(at(i))?;
                        }
                    }
                    Records::Tape { tape, starts } => {
                        for ((i, start), id) in
                            records.clone().zip(&starts[records.clone()]).zip(&ids)
                        {
                            w.record(tape, *start, id).map_err(at(i))?;
                        }
                    }
                }
                w.finish().map_err(at(records.start))
            })
            .collect()
    }
}

/// The root ids of the `n` records from record `first` of the page.
fn root_ids(spec: &Spec<'_>, first: usize, n: usize) -> Vec<IdText> {
    salted_row_ids(&spec.salt, spec.page_seq, first as u64, n)
}

fn id_str(id: &IdText) -> Result<&str, Bail> {
    std::str::from_utf8(id).map_err(|_| Bail("row id"))
}

/// Raw control characters inside strings and lone UTF-16 surrogate escapes are invalid JSON
/// that simd-json lets through: a record with either goes to the general parser, which refuses
/// them. In an NDJSON line any byte below 0x20 but a final CR counts (a tab could be inside
/// a string); an array page may have whitespace between tokens.
fn needs_general_parser(line: &[u8]) -> bool {
    let body = line.strip_suffix(b"\r").unwrap_or(line);
    // a branch-free fold per 64 bytes vectorizes; `any` byte by byte does not
    let control = body
        .chunks(64)
        .any(|c| c.iter().fold(false, |seen, b| seen | (*b < 0x20)));
    control || has_lone_surrogate(line)
}

/// Whether a `\uXXXX` escape is a UTF-16 surrogate without its partner.
fn has_lone_surrogate(bytes: &[u8]) -> bool {
    let hex = |at: usize| -> Option<u16> {
        let digits = bytes.get(at..at + 4)?;
        u16::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let mut at = 0;
    while let Some(i) = memchr::memchr(b'\\', &bytes[at..]) {
        let i = at + i;
        match bytes.get(i + 1) {
            Some(b'u') => match hex(i + 2) {
                Some(0xD800..=0xDBFF) => {
                    let low = (bytes.get(i + 6..i + 8) == Some(b"\\u".as_slice()))
                        .then(|| hex(i + 8))
                        .flatten();
                    if !matches!(low, Some(0xDC00..=0xDFFF)) {
                        return true;
                    }
                    at = i + 12;
                }
                Some(0xDC00..=0xDFFF) => return true,
                _ => at = i + 6,
            },
            // any other escape is two bytes (an escaped backslash is not an escape start)
            _ => at = i + 2,
        }
        if at >= bytes.len() {
            break;
        }
    }
    false
}

/// Whether every byte below 0x20 of a JSON text is whitespace outside strings.
fn whitespace_only_between(bytes: &[u8]) -> bool {
    let mut in_str = false;
    let mut escaped = false;
    for b in bytes {
        if in_str {
            if *b < 0x20 {
                return false;
            }
            if escaped {
                escaped = false;
            } else if *b == b'\\' {
                escaped = true;
            } else if *b == b'"' {
                in_str = false;
            }
        } else if *b == b'"' {
            in_str = true;
        } else if *b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t') {
            return false;
        }
    }
    true
}

/// Number of tape nodes a value takes.
fn span(tape: &[Node<'_>], pos: usize) -> Result<usize, Bail> {
    match tape.get(pos) {
        Some(Node::Object { count, .. } | Node::Array { count, .. }) => Ok(1 + count),
        Some(_) => Ok(1),
        None => Err(Bail("truncated tape")),
    }
}

/// A scalar as read from the tape.
#[derive(Clone, Copy)]
enum V<'t> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'t str),
}

fn scalar(node: &StaticNode) -> Result<V<'static>, Bail> {
    Ok(match node {
        StaticNode::Null => V::Null,
        StaticNode::Bool(b) => V::Bool(*b),
        StaticNode::I64(i) => V::Int(*i),
        StaticNode::U64(u) => {
            V::Int(i64::try_from(*u).map_err(|_| Bail("integer beyond 64 bits"))?)
        }
        StaticNode::F64(f) => V::Float(*f),
    })
}

/// Where a column name lands in a table.
#[derive(Clone, Copy, Debug)]
enum Slot {
    /// a complete column, by position among the table's complete columns
    Col(usize),
    /// a column without a type yet: takes nulls only
    Incomplete(usize),
    /// not in the schema: any value would add it
    Missing,
}

/// One column's builder for a chunk.
struct ColOut {
    data_type: DataType,
    scale: u32,
    timezone: bool,
    /// values appended so far (rows below `len` are filled)
    len: usize,
    builder: Builder,
}

enum Builder {
    Utf8(StringBuilder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Decimal(Decimal128Builder),
    Date(Date32Builder),
    Time(Time64MicrosecondBuilder),
    Binary(BinaryBuilder),
}

impl Builder {
    fn new(ty: &ArrowType) -> Result<Self, Bail> {
        Ok(match ty {
            ArrowType::Utf8 => Builder::Utf8(StringBuilder::new()),
            ArrowType::Int64 => Builder::Int64(Int64Builder::new()),
            ArrowType::Float64 => Builder::Float64(Float64Builder::new()),
            ArrowType::Boolean => Builder::Bool(BooleanBuilder::new()),
            ArrowType::Timestamp(_, tz) => {
                Builder::Timestamp(TimestampMicrosecondBuilder::new().with_timezone_opt(tz.clone()))
            }
            ArrowType::Decimal128(p, s) => Builder::Decimal(
                Decimal128Builder::new()
                    .with_precision_and_scale(*p, *s)
                    .map_err(|_| Bail("decimal precision"))?,
            ),
            ArrowType::Date32 => Builder::Date(Date32Builder::new()),
            ArrowType::Time64(_) => Builder::Time(Time64MicrosecondBuilder::new()),
            ArrowType::Binary => Builder::Binary(BinaryBuilder::new()),
            _ => return Err(Bail("arrow type")),
        })
    }

    fn append_null(&mut self) {
        match self {
            Builder::Utf8(b) => b.append_null(),
            Builder::Int64(b) => b.append_null(),
            Builder::Float64(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Timestamp(b) => b.append_null(),
            Builder::Decimal(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Time(b) => b.append_null(),
            Builder::Binary(b) => b.append_null(),
        }
    }

    fn append_str(&mut self, s: &str) -> Result<(), Bail> {
        let Builder::Utf8(b) = self else {
            return Err(Bail("text into a non-text builder"));
        };
        // dlt's loader drops NUL characters from text (as the general path does)
        if s.contains('\0') {
            b.append_value(s.replace('\0', ""));
        } else {
            b.append_value(s);
        }
        Ok(())
    }

    fn append_typed(&mut self, v: Typed) -> Result<(), Bail> {
        match (self, v) {
            (b, Typed::Null) => b.append_null(),
            (b @ Builder::Utf8(_), Typed::Text(s) | Typed::Json(s)) => b.append_str(&s)?,
            (Builder::Int64(b), Typed::Bigint(x)) => b.append_value(x),
            (Builder::Float64(b), Typed::Double(x)) => b.append_value(x),
            (Builder::Bool(b), Typed::Bool(x)) => b.append_value(x),
            (Builder::Timestamp(b), Typed::Timestamp(x)) => b.append_value(x),
            (Builder::Decimal(b), Typed::Decimal(x)) => b.append_value(x),
            (Builder::Date(b), Typed::Date(x)) => b.append_value(x),
            (Builder::Time(b), Typed::Time(x)) => b.append_value(x),
            (Builder::Binary(b), Typed::Binary(x)) => b.append_value(x),
            _ => return Err(Bail("typed value does not fit its builder")),
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Utf8(b) => Arc::new(b.finish()),
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Float64(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
            Builder::Decimal(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish()),
            Builder::Binary(b) => Arc::new(b.finish()),
        }
    }
}

impl ColOut {
    /// Write the value of `row`: rows skipped since the last write become nulls; a second
    /// write to one row (two keys normalized alike) leaves the fast path.
    fn write(&mut self, row: usize, v: V<'_>) -> Result<(), Bail> {
        if self.len > row {
            return Err(Bail("two keys land on one column"));
        }
        while self.len < row {
            self.builder.append_null();
            self.len += 1;
        }
        match (&mut self.builder, self.data_type, v) {
            (b, _, V::Null) => b.append_null(),
            (b @ Builder::Utf8(_), DataType::Text, V::Str(s)) => b.append_str(s)?,
            (Builder::Int64(b), DataType::Bigint, V::Int(i)) => b.append_value(i),
            (Builder::Float64(b), DataType::Double, V::Float(f)) => b.append_value(f),
            (Builder::Float64(b), DataType::Double, V::Int(i)) => b.append_value(i as f64),
            (Builder::Bool(b), DataType::Bool, V::Bool(x)) => b.append_value(x),
            (Builder::Timestamp(b), DataType::Timestamp, V::Str(s))
                if let Some(us) = parse_timestamp(s) =>
            {
                b.append_value(us)
            }
            // everything else goes through the general coercion, value by value
            (b, t, v) => {
                let cell = match v {
                    V::Null => Cell::Null,
                    V::Bool(x) => Cell::Bool(x),
                    V::Int(i) => Cell::Int(i),
                    V::Float(f) => Cell::Float(f),
                    V::Str(s) => Cell::Str(s.to_owned()),
                };
                let typed = coerce(&cell, t, self.scale, self.timezone)
                    .ok_or(Bail("a value needs a variant column"))?;
                b.append_typed(typed)?;
            }
        }
        self.len += 1;
        Ok(())
    }

    fn finish(&mut self, rows: usize) -> ArrayRef {
        while self.len < rows {
            self.builder.append_null();
            self.len += 1;
        }
        self.builder.finish()
    }
}

/// The system columns of a table.
struct System {
    id: Slot,
    load_id: Slot,
    parent_id: Slot,
    list_idx: Slot,
    root_id: Slot,
}

/// One table's rows in a chunk.
struct TableOut {
    name: String,
    rows: usize,
    cols: Vec<ColOut>,
    /// for each incomplete column, one past the last row that wrote it (a null)
    incomplete: Vec<usize>,
    index: Map<String, Slot>,
    system: System,
    /// its items' level (dlt's max_table_nesting left)
    level: u32,
    /// the key node of its rows' dicts
    node: usize,
    /// the nested table `<name>__list` of lists in lists, once resolved
    list_child: Option<usize>,
    /// the parent table of a nested table
    parent: Option<usize>,
    /// for each row of a nested table: where it hangs (its ids are made when the chunk is
    /// done, several digests at a time)
    links: Vec<Link>,
    /// the `_dlt_id` of each row (made in `finish`)
    ids: Vec<IdText>,
}

/// Where a nested row hangs: its parent row, its index in the list, its record.
#[derive(Clone, Copy)]
struct Link {
    parent_row: u32,
    idx: u32,
    root_row: u32,
}

/// Resolution of the keys met at one place: a table and a path of dicts inside it.
struct KeyNode {
    table: usize,
    path: Vec<String>,
    level: u32,
    keys: Map<Box<str>, usize>,
    entries: Vec<Entry>,
}

struct Entry {
    norm: String,
    slot: Slot,
    /// the column is of type json (its dicts and lists are kept whole)
    json: bool,
    /// a `_dlt*` name: the record sets a system column itself
    system: bool,
    /// the key node of a dict value, once resolved
    dict: Option<usize>,
    /// the nested table of a list value, once resolved
    child: Option<usize>,
    /// id of the column path, for list collisions
    path_id: u32,
    /// the last dict this key was seen in (duplicate keys in one object)
    stamp: u64,
    /// position among the primary key columns of the key hash (root table only)
    key: Option<usize>,
}

/// The rows one worker makes from a chunk of records.
struct Worker<'s> {
    spec: &'s Spec<'s>,
    tables: Vec<TableOut>,
    table_by_name: Map<String, usize>,
    nodes: Vec<KeyNode>,
    path_ids: Map<String, u32>,
    /// list paths met by the rows being made; the current row's start at `row_mark`
    lists: Vec<u32>,
    row_mark: usize,
    dicts: u64,
    /// records made so far
    records: usize,
    /// the current record's primary key values, for a key-hash root id
    key_cells: Vec<Option<Cell>>,
}

/// A chunk's result: its tables in order of their first row.
pub(crate) struct FastChunk {
    tables: Vec<(String, usize, Vec<ArrayRef>)>,
    records: usize,
}

impl<'s> Worker<'s> {
    fn new(spec: &'s Spec<'s>) -> Self {
        Worker {
            spec,
            tables: Vec::new(),
            table_by_name: Map::default(),
            nodes: Vec::new(),
            path_ids: Map::default(),
            lists: Vec::new(),
            row_mark: 0,
            dicts: 0,
            records: 0,
            key_cells: Vec::new(),
        }
    }

    /// The table `name` for this chunk, checked against the schema: it exists with that
    /// parent and takes rows under the contract.
    fn table(&mut self, name: &str, parent: Option<usize>, level: u32) -> Result<usize, Bail> {
        if let Some(t) = self.table_by_name.get(name) {
            return Ok(*t);
        }
        let schema_table: &Table = self.spec.schema.tables.get(name).ok_or(Bail("new table"))?;
        let parent_name = parent.map(|p| self.tables[p].name.as_str());
        if schema_table.parent.as_deref() != parent_name {
            return Err(Bail("table reached from another parent"));
        }
        if !schema_table.seen_data() && !self.spec.tables_evolve {
            return Err(Bail("table without data under a tables contract"));
        }
        let mut index = Map::default();
        let mut cols = Vec::new();
        let mut incomplete = Vec::new();
        for col in schema_table.columns.values() {
            if col.is_complete() {
                index.insert(col.name.clone(), Slot::Col(cols.len()));
                cols.push(ColOut {
                    data_type: col.data_type.unwrap_or(DataType::Text),
                    scale: col.scale.unwrap_or(0),
                    timezone: col.timezone.unwrap_or(true),
                    len: 0,
                    builder: Builder::new(&arrow_type(col))?,
                });
            } else {
                index.insert(col.name.clone(), Slot::Incomplete(incomplete.len()));
                incomplete.push(0);
            }
        }
        let slot = |n: &str| index.get(n).copied().unwrap_or(Slot::Missing);
        let system = System {
            id: slot(DLT_ID),
            load_id: slot(DLT_LOAD_ID),
            parent_id: slot(DLT_PARENT_ID),
            list_idx: slot(DLT_LIST_IDX),
            root_id: slot(DLT_ROOT_ID),
        };
        let t = self.tables.len();
        let node = self.nodes.len();
        self.nodes.push(KeyNode {
            table: t,
            path: Vec::new(),
            level,
            keys: Map::default(),
            entries: Vec::new(),
        });
        self.tables.push(TableOut {
            name: name.to_owned(),
            rows: 0,
            cols,
            incomplete,
            index,
            system,
            level,
            node,
            list_child: None,
            parent,
            links: Vec::new(),
            ids: Vec::new(),
        });
        self.table_by_name.insert(name.to_owned(), t);
        Ok(t)
    }

    fn write(&mut self, table: usize, slot: Slot, row: usize, v: V<'_>) -> Result<(), Bail> {
        let t = &mut self.tables[table];
        match slot {
            Slot::Col(c) => t.cols[c].write(row, v),
            Slot::Incomplete(c) => {
                if t.incomplete[c] > row {
                    return Err(Bail("two keys land on one column"));
                }
                if !matches!(v, V::Null) {
                    return Err(Bail("first value of a column"));
                }
                t.incomplete[c] = row + 1;
                Ok(())
            }
            Slot::Missing => Err(Bail("new column")),
        }
    }

    /// The entry of `key` at `node`, made on first sight.
    fn resolve(&mut self, node: usize, key: &str) -> Result<usize, Bail> {
        if let Some(e) = self.nodes[node].keys.get(key) {
            return Ok(*e);
        }
        let norm = normalize_identifier(key);
        let n = &self.nodes[node];
        let mut parts: Vec<&str> = n.path.iter().map(String::as_str).collect();
        parts.push(&norm);
        let column = make_path(&parts, self.spec.max_identifier_len);
        let t = &self.tables[n.table];
        let slot = t.index.get(&column).copied().unwrap_or(Slot::Missing);
        let json = matches!(slot, Slot::Col(c) if t.cols[c].data_type == DataType::Json);
        let next = self.path_ids.len() as u32;
        let system = column.starts_with("_dlt");
        let key_pos = match self.spec.key_hash {
            Some(keys) if n.table == 0 => keys.iter().position(|k| *k == column),
            _ => None,
        };
        let path_id = *self.path_ids.entry(column).or_insert(next);
        let e = self.nodes[node].entries.len();
        self.nodes[node].entries.push(Entry {
            system,
            norm,
            slot,
            json,
            dict: None,
            child: None,
            path_id,
            stamp: 0,
            key: key_pos,
        });
        self.nodes[node].keys.insert(key.into(), e);
        Ok(e)
    }

    /// The key node of the dict under entry `e` of `node`.
    fn dict_node(&mut self, node: usize, e: usize) -> usize {
        if let Some(d) = self.nodes[node].entries[e].dict {
            return d;
        }
        let n = &self.nodes[node];
        let mut path = n.path.clone();
        path.push(n.entries[e].norm.clone());
        let d = self.nodes.len();
        let child = KeyNode {
            table: n.table,
            path,
            level: n.level - 1,
            keys: Map::default(),
            entries: Vec::new(),
        };
        self.nodes.push(child);
        self.nodes[node].entries[e].dict = Some(d);
        d
    }

    /// The nested table of the list under entry `e` of `node`.
    fn child_table(&mut self, node: usize, e: usize) -> Result<usize, Bail> {
        if let Some(c) = self.nodes[node].entries[e].child {
            return Ok(c);
        }
        let n = &self.nodes[node];
        let t = &self.tables[n.table];
        let mut parts: Vec<&str> = vec![&t.name];
        parts.extend(n.path.iter().map(String::as_str));
        parts.push(&n.entries[e].norm);
        let name = make_path(&parts, self.spec.max_identifier_len);
        let (parent, level) = (n.table, t.level.saturating_sub(1));
        let c = self.table(&name, Some(parent), level)?;
        self.nodes[node].entries[e].child = Some(c);
        Ok(c)
    }

    /// One record starting at `pos` of `tape`: its root row and nested rows.
    fn record(&mut self, tape: &[Node<'_>], pos: usize, id: &IdText) -> Result<(), Bail> {
        let Some(Node::Object { len, .. }) = tape.get(pos) else {
            return Err(Bail("record is not an object"));
        };
        let root = self.table(self.spec.root, None, self.spec.max_nesting)?;
        let row = self.tables[root].rows;
        self.tables[root].rows += 1;
        self.lists.clear();
        self.row_mark = 0;
        self.key_cells.clear();
        if let Some(keys) = self.spec.key_hash {
            self.key_cells.resize(keys.len(), None);
        }
        let node = self.tables[root].node;
        self.dict(tape, pos + 1, *len, node, row, row, 0)?;
        let key_id: IdText;
        let id = match self.spec.key_hash {
            Some(keys) => {
                let cells = &self.key_cells;
                let hash = crate::flatten::key_hash_id(keys, |k| {
                    let at = keys.iter().position(|key| key == k)?;
                    cells.get(at)?.as_ref()
                })
                .map_err(|_| Bail("primary key missing"))?;
                key_id = IdText::try_from(hash.as_bytes()).map_err(|_| Bail("row id"))?;
                &key_id
            }
            None => id,
        };
        let system = &self.tables[root].system;
        let (load_slot, id_slot) = (system.load_id, system.id);
        self.write(root, load_slot, row, V::Str(self.spec.load_id))?;
        self.write(root, id_slot, row, V::Str(id_str(id)?))?;
        self.tables[root].ids.push(*id);
        self.records += 1;
        Ok(())
    }

    /// The `len` keys of a dict starting at `pos`, into row `row` of the node's table.
    /// Returns the position after the dict.
    #[allow(clippy::too_many_arguments)] // the recursion carries its whole context
    fn dict(
        &mut self,
        tape: &[Node<'_>],
        mut pos: usize,
        len: usize,
        node: usize,
        row: usize,
        root_row: usize,
        depth: usize,
    ) -> Result<usize, Bail> {
        if depth > MAX_DEPTH {
            return Err(Bail("deep nesting"));
        }
        self.dicts += 1;
        let stamp = self.dicts;
        let (table, level) = (self.nodes[node].table, self.nodes[node].level);
        for _ in 0..len {
            let Some(Node::String(key)) = tape.get(pos) else {
                return Err(Bail("object key"));
            };
            pos += 1;
            let e = self.resolve(node, key)?;
            let entry = &mut self.nodes[node].entries[e];
            if entry.stamp == stamp {
                return Err(Bail("duplicate key"));
            }
            entry.stamp = stamp;
            if entry.system {
                return Err(Bail("record sets a _dlt column"));
            }
            let (slot, json, path_id, key) = (entry.slot, entry.json, entry.path_id, entry.key);
            if let Some(k) = key {
                let cell = match tape.get(pos) {
                    Some(Node::String(s)) => Some(Cell::Str((*s).to_owned())),
                    Some(Node::Static(v)) => Some(match scalar(v)? {
                        V::Null => Cell::Null,
                        V::Bool(b) => Cell::Bool(b),
                        V::Int(i) => Cell::Int(i),
                        V::Float(f) => Cell::Float(f),
                        V::Str(s) => Cell::Str(s.to_owned()),
                    }),
                    _ => None,
                };
                if let Some(slot) = self.key_cells.get_mut(k) {
                    *slot = cell;
                }
            }
            match tape.get(pos) {
                Some(Node::Object { len, .. }) => {
                    if level == 0 || json {
                        return Err(Bail("dict kept as JSON"));
                    }
                    let d = self.dict_node(node, e);
                    pos = self.dict(tape, pos + 1, *len, d, row, root_row, depth + 1)?;
                }
                Some(Node::Array { len, .. }) => {
                    if level == 0 || json {
                        return Err(Bail("list kept as JSON"));
                    }
                    if self.lists[self.row_mark..].contains(&path_id) {
                        return Err(Bail("two lists land on one nested table"));
                    }
                    self.lists.push(path_id);
                    if *len == 0 {
                        pos += 1;
                    } else {
                        let c = self.child_table(node, e)?;
                        pos = self.list(tape, pos + 1, *len, c, row, root_row, depth + 1)?;
                    }
                }
                Some(Node::String(s)) => {
                    self.write(table, slot, row, V::Str(s))?;
                    pos += 1;
                }
                Some(Node::Static(s)) => {
                    self.write(table, slot, row, scalar(s)?)?;
                    pos += 1;
                }
                None => return Err(Bail("truncated tape")),
            }
        }
        Ok(pos)
    }

    /// The `len` items of a list starting at `pos`, as rows of nested table `table`.
    #[allow(clippy::too_many_arguments)] // the recursion carries its whole context
    fn list(
        &mut self,
        tape: &[Node<'_>],
        mut pos: usize,
        len: usize,
        table: usize,
        parent_row: usize,
        root_row: usize,
        depth: usize,
    ) -> Result<usize, Bail> {
        if depth > MAX_DEPTH {
            return Err(Bail("deep nesting"));
        }
        for idx in 0..len {
            let t = &mut self.tables[table];
            let row = t.rows;
            t.rows += 1;
            t.links.push(Link {
                parent_row: parent_row as u32,
                idx: idx as u32,
                root_row: root_row as u32,
            });
            let mark = self.lists.len();
            let outer = std::mem::replace(&mut self.row_mark, mark);
            match tape.get(pos) {
                Some(Node::Object { len, .. }) => {
                    let node = self.tables[table].node;
                    pos = self.dict(tape, pos + 1, *len, node, row, root_row, depth + 1)?;
                }
                Some(Node::Array { len, .. }) => {
                    let t = &self.tables[table];
                    let json = matches!(t.index.get("list"), Some(Slot::Col(c)) if t.cols[*c].data_type == DataType::Json);
                    if t.level == 0 || json {
                        return Err(Bail("list kept as JSON"));
                    }
                    if *len == 0 {
                        pos += 1;
                    } else {
                        let c = match t.list_child {
                            Some(c) => c,
                            None => {
                                let name = make_path(
                                    &[t.name.as_str(), "list"],
                                    self.spec.max_identifier_len,
                                );
                                let level = t.level.saturating_sub(1);
                                let c = self.table(&name, Some(table), level)?;
                                self.tables[table].list_child = Some(c);
                                c
                            }
                        };
                        pos = self.list(tape, pos + 1, *len, c, row, root_row, depth + 1)?;
                    }
                }
                Some(Node::String(s)) => {
                    let slot = value_slot(&self.tables[table]);
                    self.write(table, slot, row, V::Str(s))?;
                    pos += 1;
                }
                Some(Node::Static(s)) => {
                    let slot = value_slot(&self.tables[table]);
                    self.write(table, slot, row, scalar(s)?)?;
                    pos += 1;
                }
                None => return Err(Bail("truncated tape")),
            }
            self.lists.truncate(mark);
            self.row_mark = outer;
            let slot = self.tables[table].system.list_idx;
            self.write(table, slot, row, V::Int(idx as i64))?;
        }
        Ok(pos)
    }

    /// The ids of nested rows, table by table (a parent table comes before its nested
    /// ones), with their `_dlt_parent_id`, `_dlt_root_id` and `_dlt_id` cells.
    fn make_ids(&mut self) -> Result<(), Bail> {
        for t in 0..self.tables.len() {
            let Some(p) = self.tables[t].parent else {
                continue;
            };
            let (done, rest) = self.tables.split_at_mut(t);
            let (parent, table) = (&done[p], &mut rest[0]);
            let links = &table.links;
            table.ids = child_row_ids_with(&table.name, links.len(), |i| {
                (
                    parent.ids[links[i].parent_row as usize],
                    links[i].idx as usize,
                )
            });
            let system = &table.system;
            let (p_slot, r_slot, d_slot) = (system.parent_id, system.root_id, system.id);
            for row in 0..self.tables[t].rows {
                let link = self.tables[t].links[row];
                let parent_id = self.tables[p].ids[link.parent_row as usize];
                let id = self.tables[t].ids[row];
                self.write(t, p_slot, row, V::Str(id_str(&parent_id)?))?;
                if self.spec.root_key {
                    let root_id = self.tables[0].ids[link.root_row as usize];
                    self.write(t, r_slot, row, V::Str(id_str(&root_id)?))?;
                }
                self.write(t, d_slot, row, V::Str(id_str(&id)?))?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<FastChunk, Bail> {
        self.make_ids()?;
        let tables = self
            .tables
            .iter_mut()
            .map(|t| {
                let rows = t.rows;
                let arrays = t.cols.iter_mut().map(|c| c.finish(rows)).collect();
                (std::mem::take(&mut t.name), rows, arrays)
            })
            .collect();
        Ok(FastChunk {
            tables,
            records: self.records,
        })
    }
}

fn value_slot(t: &TableOut) -> Slot {
    t.index.get("value").copied().unwrap_or(Slot::Missing)
}

/// Chunks in order → one batch per table; columns without a value are left out, as the
/// general path leaves them out.
pub(crate) fn merge(schema: &Schema, chunks: Vec<FastChunk>) -> Result<FastPage, Bail> {
    let records = chunks.iter().map(|c| c.records as u64).sum();
    let mut rows: Vec<(String, u64)> = Vec::new();
    let mut parts: Map<String, (usize, Vec<Vec<ArrayRef>>)> = Map::default();
    for chunk in chunks {
        for (name, n, arrays) in chunk.tables {
            match parts.get_mut(&name) {
                Some((total, cols)) => {
                    *total += n;
                    for (col, a) in cols.iter_mut().zip(arrays) {
                        col.push(a);
                    }
                }
                None => {
                    rows.push((name.clone(), 0));
                    parts.insert(name, (n, arrays.into_iter().map(|a| vec![a]).collect()));
                }
            }
        }
    }
    for (name, n) in &mut rows {
        *n = parts.get(name).map(|(total, _)| *total as u64).unwrap_or(0);
    }
    let mut batches = Vec::new();
    for table in schema.tables.values() {
        let Some((total, cols)) = parts.remove(&table.name) else {
            continue;
        };
        let mut fields = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for (col, pieces) in table.complete_columns().zip(cols) {
            let array = if pieces.len() == 1 {
                pieces.into_iter().next().ok_or(Bail("no pieces"))?
            } else {
                let refs: Vec<&dyn Array> = pieces.iter().map(|a| a.as_ref()).collect();
                arrow_select::concat::concat(&refs).map_err(|_| Bail("concat"))?
            };
            if array.null_count() == array.len() {
                continue;
            }
            fields.push(Field::new(&col.name, arrow_type(col), true));
            arrays.push(array);
        }
        let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(total));
        let batch =
            RecordBatch::try_new_with_options(Arc::new(ArrowSchema::new(fields)), arrays, &options)
                .map_err(|_| Bail("record batch"))?;
        batches.push((table.name.clone(), batch));
    }
    Ok(FastPage {
        batches,
        rows,
        records,
    })
}
