//! Pages of JSON records → relational tables as Arrow record batches, the way dlt's relational
//! normalizer shapes them (flattening with `__`, nested tables with `_dlt_parent_id`,
//! `_dlt_list_idx`, `_dlt_id`, type inference, coercion and variant columns).
//!
//! Invariant: no IO and no async, and the same output for any number of threads — records
//! flatten in parallel on rayon, the schema evolves in one pass in record order.
//!
//! ```
//! use sluice_normalize::{Normalizer, ResourceTable, RecordsFormat, parse_page};
//! use sluice_schema::Schema;
//!
//! let mut schema = Schema::new("demo");
//! let mut n = Normalizer::new("1700000000.0", [0; 16], 65536);
//! let resource = ResourceTable::new("users", "users");
//! let records = parse_page(br#"[{"id": 1, "tags": ["a", "b"]}]"#, RecordsFormat::JsonArray).unwrap();
//! n.add_page(&mut schema, &resource, 0, records).unwrap();
//! let out = n.take_batches(&schema).unwrap();
//! assert_eq!(out.iter().map(|(t, b)| (t.as_str(), b.num_rows())).collect::<Vec<_>>(),
//!            [("users", 1), ("users__tags", 2)]);
//! ```

// tests unwrap freely; input paths never do
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod arrow_ipc;
mod arrow_page;
mod check;
mod coerce;
mod error;
mod evolve;
mod fast;
mod flatten;
mod general;
mod jsonschema;
mod keys;
mod page;
mod resource;
mod shape;
mod tables;

use arrow_array::RecordBatch;
use indexmap::IndexMap;
use serde_json::Value;
pub use sluice_schema::ColumnHint;
use sluice_schema::{Column, ContractMode, DataType, Schema, SchemaUpdate, Table};

pub use arrow_ipc::{arrow_filter, arrow_row_count, arrow_rows_json, check_arrow_page};
pub use arrow_page::{ArrowIds, dlt_type};
pub use check::check_page;
pub use coerce::{Typed, is_iso_timestamp, parse_timestamp};
pub use error::NormalizeError;
pub use fast::Bail;
pub use flatten::{Cell, RootId};
pub use jsonschema::{JsonSchema, Verdict};
pub use page::{RecordsFormat, parse_page};
pub(crate) use page::{ndjson_lines, parse_lines};
pub use resource::{Collisions, NestedHints, ResourceTable, Scd2Options};
pub use tables::{DEFAULT_DECIMAL, Discards, PreferredTypes, SchemaCaps, arrow_type, decimal_of};

/// Normalizes the pages of one package, keeping the values collected since the last
/// [`Normalizer::take_batches`].
pub struct Normalizer {
    load_id: String,
    salt: [u8; 16],
    max_identifier_len: usize,
    update: SchemaUpdate,
    builders: IndexMap<String, tables::TableBuilder>,
    row_counts: IndexMap<String, u64>,
    discards: IndexMap<String, Discards>,
    collisions: IndexMap<String, Collisions>,
    /// compiled `settings.preferred_types`, with the patterns they were compiled from
    preferred: Option<(IndexMap<String, DataType>, PreferredTypes)>,
    /// compiled JSON Schemas by resource
    json_schemas: IndexMap<String, JsonSchema>,
    /// batches made before the builders' rows (fast-path pages, and the builders flushed
    /// before them), in order
    ready: Vec<(String, RecordBatch)>,
    paths: PathStats,
    fast_path: bool,
    caps: tables::SchemaCaps,
    arrow_ids: ArrowIds,
}

/// How many pages took the fast path, and why the others did not.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct PathStats {
    /// pages made on the fast path alone
    pub fast_pages: u64,
    /// pages of which some records (or all) went the general path
    pub general_pages: u64,
    pub fast_records: u64,
    pub general_records: u64,
    /// why chunks of records left the fast path, with counts (the first reason met per chunk,
    /// or per page when the whole page did)
    pub reasons: IndexMap<String, u64>,
}

impl PathStats {
    /// Add another normalizer's counts.
    pub fn add(&mut self, other: &PathStats) {
        self.fast_pages += other.fast_pages;
        self.general_pages += other.general_pages;
        self.fast_records += other.fast_records;
        self.general_records += other.general_records;
        for (r, n) in &other.reasons {
            *self.reasons.entry(r.clone()).or_default() += n;
        }
    }
}

impl Normalizer {
    /// `salt` makes root ids unique per package while keeping them reproducible.
    pub fn new(load_id: &str, salt: [u8; 16], max_identifier_len: usize) -> Self {
        Normalizer {
            load_id: load_id.to_owned(),
            salt,
            max_identifier_len,
            update: SchemaUpdate::default(),
            builders: IndexMap::new(),
            row_counts: IndexMap::new(),
            discards: IndexMap::new(),
            collisions: IndexMap::new(),
            preferred: None,
            json_schemas: IndexMap::new(),
            ready: Vec::new(),
            paths: PathStats::default(),
            fast_path: true,
            caps: tables::SchemaCaps::default(),
            arrow_ids: ArrowIds::default(),
        }
    }

    /// How far this normalizer may grow the schema (defaults: [`SchemaCaps::default`]).
    pub fn set_caps(&mut self, caps: tables::SchemaCaps) {
        self.caps = caps;
    }

    /// Whether [`Self::add_page_bytes`] may use the fast path (on by default).
    pub fn set_fast_path(&mut self, on: bool) {
        self.fast_path = on;
    }

    /// Normalize one page given as bytes. Chunks of records that fit the schema as it stands
    /// go the fast path (see the `fast` module); a chunk that does not — it makes a table or
    /// column, needs a variant, breaks a contract, is malformed — and the resources the fast
    /// path does not serve go the general path ([`Self::add_page`]), after which the next
    /// chunks try the fast path again on the evolved schema. The result is what
    /// `parse_page` + `add_page` give: the same rows in the same order, the same schema and
    /// the same errors.
    pub fn add_page_bytes(
        &mut self,
        schema: &mut Schema,
        resource: &ResourceTable,
        page_seq: u64,
        bytes: &[u8],
        format: RecordsFormat,
    ) -> Result<(), NormalizeError> {
        let refused = if !self.fast_path {
            Some("fast path off")
        } else if resource.json_schema.is_some() {
            Some("resource has a JSON Schema")
        } else if matches!(resource.root_id(), RootId::RowHash) {
            Some("root ids are row hashes (scd2)")
        } else if self.refuses_root(schema, resource) {
            Some("contract refuses the root table")
        } else {
            None
        };
        let outcome = match refused {
            Some(reason) => Err(fast::Bail(reason)),
            None => fast::with_page(bytes, format, |page| {
                self.add_fast_page(schema, resource, page_seq, bytes, format, page)
            }),
        };
        match outcome {
            Ok(result) => result,
            Err(fast::Bail(reason)) => {
                self.paths.general_pages += 1;
                *self.paths.reasons.entry(reason.to_owned()).or_default() += 1;
                let records = parse_page(bytes, format)?;
                self.paths.general_records += records.len() as u64;
                self.add_page(schema, resource, page_seq, records)
            }
        }
    }

    /// The chunk loop of [`Self::add_page_bytes`]: a window of chunks runs in parallel on
    /// the schema as it stands; the chunks before the first that bails are kept, that one
    /// goes the general path, and the next window starts after it.
    fn add_fast_page(
        &mut self,
        schema: &mut Schema,
        resource: &ResourceTable,
        page_seq: u64,
        bytes: &[u8],
        format: RecordsFormat,
        page: &fast::Page<'_>,
    ) -> Result<(), NormalizeError> {
        let root = self.ensure_root_table(schema, resource);
        let contract = resource.effective_contract(schema, &root);
        let max_nesting = resource.max_nesting_in(schema, &root);
        // all chunks at once while none bails (a page that fits, the usual case); after a bail
        // a window of two chunks per thread, which bounds the work a later bail throws away
        let mut window = usize::MAX;
        let root_id = resource.root_id();
        let key_hash = match &root_id {
            RootId::KeyHash(keys) => Some(keys.as_slice()),
            _ => None,
        };
        // an array page as `parse_page` reads it, made at the first bail that needs it: a
        // page that does not parse fails before any of it is kept, as on the general path
        // (NDJSON lines parse one by one, so a bad line fails where the fast path meets it)
        let mut parsed: Option<Vec<Value>> = None;
        let mut kept: Vec<fast::FastChunk> = Vec::new();
        let mut general = false;
        let mut next = 0;
        while next < page.len() {
            let spec = fast::Spec {
                known: Default::default(),
                schema,
                root: &root,
                max_nesting,
                root_key: resource.root_key(),
                load_id: &self.load_id,
                salt: self.salt,
                page_seq,
                max_identifier_len: self.max_identifier_len,
                tables_evolve: contract.tables == ContractMode::Evolve,
                key_hash,
            };
            let ranges = page.chunks_from(next, window);
            let mut bail = None;
            for (range, result) in ranges.iter().zip(page.run(&spec, &ranges)) {
                match result {
                    Ok(chunk) => kept.push(chunk),
                    Err(b) => {
                        bail = Some((range.clone(), b));
                        break;
                    }
                }
            }
            let Some((range, fast::BailAt { record, bail })) = bail else {
                next = ranges.last().map_or(page.len(), |r| r.end);
                continue;
            };
            *self.paths.reasons.entry(bail.0.to_owned()).or_default() += 1;
            general = true;
            window = 2 * rayon::current_num_threads().max(1);
            // the chunk's records before the one that bailed went through once: again, kept
            let mut slow = record..(record + fast::PROBE).min(range.end);
            if record > range.start {
                let before = range.start..record;
                match page.run(&spec, std::slice::from_ref(&before)).pop() {
                    Some(Ok(chunk)) => kept.push(chunk),
                    _ => slow = range.start..slow.end,
                }
            }
            // the record that bailed and a few after it take the general path, which adds
            // the columns and types they bring
            let records = match page.lines(slow.clone()) {
                Some(lines) => parse_lines(slow.start, lines)?,
                None => {
                    if parsed.is_none() {
                        parsed = Some(parse_page(bytes, format)?);
                    }
                    parsed
                        .as_mut()
                        .and_then(|p| p.get_mut(slow.clone()))
                        .ok_or_else(|| NormalizeError::Internal("records outside the page".into()))?
                        .iter_mut()
                        .map(Value::take)
                        .collect()
                }
            };
            self.keep_fast(schema, std::mem::take(&mut kept))?;
            self.paths.general_records += records.len() as u64;
            self.add_records(schema, resource, page_seq, slow.start, records)?;
            next = slow.end;
        }
        self.keep_fast(schema, kept)?;
        if general {
            self.paths.general_pages += 1;
        } else {
            self.paths.fast_pages += 1;
        }
        Ok(())
    }

    /// Keep chunks made on the fast path: after the rows collected so far, in order.
    fn keep_fast(
        &mut self,
        schema: &Schema,
        chunks: Vec<fast::FastChunk>,
    ) -> Result<(), NormalizeError> {
        if chunks.is_empty() {
            return Ok(());
        }
        let page = fast::merge(schema, chunks)
            .map_err(|fast::Bail(r)| NormalizeError::Internal(format!("fast path: {r}")))?;
        let earlier = self.build_pending(schema)?;
        self.ready.extend(earlier);
        self.ready.extend(page.batches);
        for (table, n) in page.rows {
            *self.row_counts.entry(table).or_default() += n;
        }
        self.paths.fast_records += page.records;
        Ok(())
    }

    /// Pages that took the fast path and pages that did not.
    pub fn path_stats(&self) -> &PathStats {
        &self.paths
    }

    /// The normalized root table name of a resource.
    pub fn root_table_name(&self, resource: &ResourceTable) -> String {
        sluice_schema::normalize_path(&resource.table, self.max_identifier_len)
    }

    /// Create the resource's root table with its hints if it does not exist yet.
    pub fn ensure_root_table(&mut self, schema: &mut Schema, resource: &ResourceTable) -> String {
        let name = self.root_table_name(resource);
        let max_len = self.max_identifier_len;
        let normalize = |c: &str| sluice_schema::normalize_path(c, max_len);
        let table = schema.tables.entry(name.clone()).or_insert_with(|| {
            self.update.record_table(&name);
            Table {
                name: name.clone(),
                ..Default::default()
            }
        });
        table.write_disposition = Some(resource.write_disposition);
        table.resource = Some(resource.resource.clone());
        table.merge_strategy = resource.merge_strategy.map(|m| m.as_str().to_owned());
        table.deduplicated = resource.deduplicated;
        table.boundary_timestamp = resource.scd2.boundary_timestamp.clone();
        if resource.is_scd2() {
            let [from, to] = resource
                .scd2
                .validity_column_names
                .clone()
                .unwrap_or_else(|| {
                    [
                        sluice_schema::DLT_VALID_FROM.to_owned(),
                        sluice_schema::DLT_VALID_TO.to_owned(),
                    ]
                });
            for (i, c) in [from, to].iter().enumerate() {
                let cname = normalize(c);
                let col = table.columns.entry(cname.clone()).or_insert_with(|| {
                    self.update.record_column(&name, &cname);
                    Column::data(&cname, DataType::Timestamp)
                });
                col.valid_from = i == 0;
                col.valid_to = i == 1;
                col.active_record_timestamp = if i == 1 {
                    resource.scd2.active_record_timestamp.clone()
                } else {
                    None
                };
            }
        }
        if let Some(n) = resource.max_nesting {
            table.set_normalizer_key("max_nesting", serde_json::json!(n));
        }
        self.apply_hints(table, &name, &resource.columns);
        for (keys, pk) in [(&resource.primary_key, true), (&resource.merge_key, false)] {
            for k in keys {
                let cname = normalize(k);
                let col = table
                    .columns
                    .entry(cname.clone())
                    .or_insert_with(|| Column {
                        name: cname.clone(),
                        nullable: false,
                        ..Default::default()
                    });
                if pk {
                    col.primary_key = true;
                } else {
                    col.merge_key = true;
                }
                col.nullable = false;
            }
        }
        for nested in &resource.nested {
            self.ensure_nested_table(schema, &name, nested);
        }
        name
    }

    /// Create the nested table `hints.path` names below `root`, with its parent and hints,
    /// if it does not exist yet (its own parents too); an existing one gains the hints its
    /// columns lack, as a root table does.
    fn ensure_nested_table(&mut self, schema: &mut Schema, root: &str, hints: &NestedHints) {
        let mut parent = root.to_owned();
        for level in &hints.path {
            // a level is a record's key path (`Line Items`, `meta__parts`), named as the
            // flattening names it
            let level = sluice_schema::normalize_path(level, self.max_identifier_len);
            let name = sluice_schema::make_path(&[&parent, &level], self.max_identifier_len);
            schema.tables.entry(name.clone()).or_insert_with(|| {
                self.update.record_table(&name);
                Table {
                    name: name.clone(),
                    parent: Some(parent.clone()),
                    ..Default::default()
                }
            });
            parent = name;
        }
        if let Some(table) = schema.tables.get_mut(&parent) {
            self.apply_hints(table, &parent, &hints.columns);
        }
    }

    /// Column hints onto `table` (named `name`): a column is made when missing; a type is set
    /// only on a column without one; keys and flags are added.
    fn apply_hints(&mut self, table: &mut Table, name: &str, hints: &[ColumnHint]) {
        for hint in hints {
            let cname = sluice_schema::normalize_path(&hint.name, self.max_identifier_len);
            let col = table
                .columns
                .entry(cname.clone())
                .or_insert_with(|| Column {
                    name: cname.clone(),
                    nullable: true,
                    ..Default::default()
                });
            if col.data_type.is_none() {
                col.data_type = hint.data_type;
                if hint.data_type.is_some() {
                    self.update.record_column(name, &cname);
                }
            }
            if let Some(n) = hint.nullable {
                col.nullable = n;
            }
            col.primary_key |= hint.primary_key;
            col.merge_key |= hint.merge_key;
            col.unique |= hint.unique;
            col.hard_delete |= hint.hard_delete;
            if let Some(order) = hint.dedup_sort {
                col.dedup_sort = Some(order.as_str().to_owned());
            }
            col.precision = hint.precision.or(col.precision);
            col.scale = hint.scale.or(col.scale);
            col.timezone = hint.timezone.or(col.timezone);
        }
    }

    /// Whether the resource's root table is new (no data seen) and its contract refuses new
    /// tables: then the resource's rows are discarded (or the run fails) and nothing is made.
    pub fn refuses_root(&self, schema: &Schema, resource: &ResourceTable) -> bool {
        let root = self.root_table_name(resource);
        let new = schema.tables.get(&root).is_none_or(|t| !t.seen_data());
        new && resource.effective_contract(schema, &root).tables != ContractMode::Evolve
    }

    /// Mark the tables that received rows as having seen data (dlt's `x-normalizer.seen-data`);
    /// call once the package's pages are all normalized. From then on data contracts treat
    /// them as existing tables.
    pub fn finish(&self, schema: &mut Schema) {
        for (t, n) in &self.row_counts {
            if *n > 0
                && let Some(table) = schema.tables.get_mut(t)
                && !table.seen_data()
            {
                table.set_normalizer_key("seen-data", Value::Bool(true));
            }
        }
    }

    /// Rows in which two keys normalized to the same column (the later value was kept), per
    /// table.
    pub fn collisions(&self) -> &IndexMap<String, Collisions> {
        &self.collisions
    }

    /// Rows and values dropped by data contracts so far, per table.
    pub fn discards(&self) -> &IndexMap<String, Discards> {
        &self.discards
    }

    /// Rows collected since the last call, as batches in the order the rows came: a run of
    /// records normalized on one path gives one batch per table, in schema order.
    pub fn take_batches(
        &mut self,
        schema: &Schema,
    ) -> Result<Vec<(String, RecordBatch)>, NormalizeError> {
        let pending = self.build_pending(schema)?;
        let mut out = std::mem::take(&mut self.ready);
        out.extend(pending);
        Ok(out)
    }

    /// The builders' rows as batches (tables in schema order).
    fn build_pending(
        &mut self,
        schema: &Schema,
    ) -> Result<Vec<(String, RecordBatch)>, NormalizeError> {
        let mut builders = std::mem::take(&mut self.builders);
        let mut out = Vec::new();
        for table in schema.tables.values() {
            if let Some(b) = builders.shift_remove(&table.name) {
                out.push((table.name.clone(), tables::build_batch(table, b)?));
            }
        }
        Ok(out)
    }

    /// Rows normalized so far per table.
    pub fn row_counts(&self) -> &IndexMap<String, u64> {
        &self.row_counts
    }

    /// Schema changes made so far.
    pub fn schema_update(&self) -> &SchemaUpdate {
        &self.update
    }
}

/// A record as compact JSON for an error message, cut at 500 bytes.
fn cut_json(v: &Value) -> String {
    cut(v.to_string())
}

fn cut(mut text: String) -> String {
    if text.len() > 500 {
        let mut at = 500;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
        text.push('…');
    }
    text
}

/// A flattened row as compact JSON for an error message, cut at 500 bytes.
pub(crate) fn row_json(cells: &flatten::Cells) -> String {
    let map: serde_json::Map<String, Value> = cells
        .iter()
        .map(|(k, c)| {
            let v = match c {
                Cell::Null => Value::Null,
                Cell::Bool(b) => Value::Bool(*b),
                Cell::Int(i) => Value::from(*i),
                Cell::BigInt(s) | Cell::Json(s) => Value::String(s.clone()),
                Cell::Float(f) => serde_json::Number::from_f64(*f)
                    .map(Value::Number)
                    .unwrap_or(Value::Null),
                Cell::Str(s) => Value::String(s.clone()),
            };
            (k.clone(), v)
        })
        .collect();
    cut(Value::Object(map).to_string())
}

#[cfg(test)]
mod fast_tests;
#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
