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

use arrow_array::RecordBatch;
use rayon::prelude::*;
use simd_json::Node;
use sluice_schema::{IdText, Schema, salted_row_ids};

use crate::RecordsFormat;

mod builders;
mod merge;
mod scan;
mod walk;

pub(crate) use merge::merge;
use scan::{has_lone_surrogate, needs_general_parser, span, whitespace_only_between};
pub(crate) use walk::FastChunk;
use walk::Worker;

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
    /// the schema's names, for keys whose dlt name differs from Sluice's earlier one
    pub known: crate::keys::LazyNames,
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
