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

mod coerce;
mod flatten;
mod tables;

use arrow_array::RecordBatch;
use indexmap::IndexMap;
use rayon::prelude::*;
use serde_json::Value;
use sluice_schema::{Column, DataType, Schema, SchemaUpdate, Table, WriteDisposition};

pub use coerce::{Typed, is_iso_timestamp, parse_timestamp};
pub use flatten::{Cell, RootId};
pub use tables::{DEFAULT_DECIMAL, arrow_type, decimal_of};

/// Errors of normalization. Every variant names its place.
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    #[error("record {index} of the page is not valid JSON: {reason}")]
    Json { index: usize, reason: String },
    #[error("record {index} of table `{table}`: {reason}")]
    Record {
        table: String,
        index: usize,
        reason: String,
    },
    #[error("table `{table}` column `{column}`: {reason}")]
    Coerce {
        table: String,
        column: String,
        reason: String,
    },
    #[error("internal normalizer error: {0}")]
    Internal(String),
}

/// How the records of a page are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordsFormat {
    JsonArray,
    Ndjson,
}

/// Parse a page into records. A JSON array gives its elements, NDJSON one record per
/// non-empty line; a single JSON object is one record.
pub fn parse_page(bytes: &[u8], format: RecordsFormat) -> Result<Vec<Value>, NormalizeError> {
    match format {
        RecordsFormat::JsonArray => {
            let v: Value = serde_json::from_slice(bytes).map_err(|e| NormalizeError::Json {
                index: 0,
                reason: format!("{e}"),
            })?;
            Ok(match v {
                Value::Array(items) => items,
                other => vec![other],
            })
        }
        RecordsFormat::Ndjson => {
            // lines parse in parallel; the first error (in line order) is reported
            let lines: Vec<&[u8]> = bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                .collect();
            lines
                .into_par_iter()
                .enumerate()
                .map(|(i, line)| {
                    serde_json::from_slice(line).map_err(|e| NormalizeError::Json {
                        index: i,
                        reason: format!("line {}: {e}", i + 1),
                    })
                })
                .collect()
        }
    }
}

/// A column hint of a resource, as given by the connector or the pipeline.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ColumnHint {
    pub name: String,
    pub data_type: Option<DataType>,
    pub nullable: Option<bool>,
    pub primary_key: bool,
    pub merge_key: bool,
    pub unique: bool,
    pub dedup_sort: Option<String>,
    pub hard_delete: bool,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
    pub timezone: Option<bool>,
}

/// scd2 options of a resource (dlt's `validity_column_names`, `active_record_timestamp`,
/// `boundary_timestamp`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scd2Options {
    /// `[valid_from, valid_to]`; default `_dlt_valid_from`, `_dlt_valid_to`
    pub validity_column_names: Option<[String; 2]>,
    /// `valid_to` of active rows instead of NULL, e.g. `9999-12-31`
    pub active_record_timestamp: Option<String>,
    /// validity boundary instead of the load's creation time
    pub boundary_timestamp: Option<String>,
}

/// What the normalizer needs to know about a resource's root table.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ResourceTable {
    pub resource: String,
    /// root table name as given (normalized here)
    pub table: String,
    pub write_disposition: WriteDisposition,
    pub merge_strategy: Option<String>,
    pub primary_key: Vec<String>,
    pub merge_key: Vec<String>,
    pub columns: Vec<ColumnHint>,
    /// dlt's max_table_nesting; 1000 when absent
    pub max_nesting: Option<u32>,
    /// merge: staged rows are unique by primary key already (skip dedup)
    #[serde(default)]
    pub deduplicated: bool,
    #[serde(default)]
    pub scd2: Scd2Options,
}

impl ResourceTable {
    /// An append resource with no hints.
    pub fn new(resource: &str, table: &str) -> Self {
        ResourceTable {
            resource: resource.to_owned(),
            table: table.to_owned(),
            write_disposition: WriteDisposition::Append,
            merge_strategy: None,
            primary_key: Vec::new(),
            merge_key: Vec::new(),
            columns: Vec::new(),
            max_nesting: None,
            deduplicated: false,
            scd2: Scd2Options::default(),
        }
    }

    fn is_scd2(&self) -> bool {
        self.write_disposition == WriteDisposition::Merge
            && self.merge_strategy.as_deref() == Some("scd2")
    }

    fn root_id(&self) -> RootId {
        match (self.write_disposition, self.merge_strategy.as_deref()) {
            (WriteDisposition::Merge, Some("upsert" | "insert-only")) => RootId::KeyHash(
                self.primary_key
                    .iter()
                    .map(|k| sluice_schema::normalize_path(k, usize::MAX))
                    .collect(),
            ),
            (WriteDisposition::Merge, Some("scd2")) => RootId::RowHash,
            _ => RootId::Given,
        }
    }

    fn root_key(&self) -> bool {
        self.write_disposition == WriteDisposition::Merge
            && !matches!(self.merge_strategy.as_deref(), Some("scd2"))
    }
}

/// Normalizes the pages of one package, keeping the values collected since the last
/// [`Normalizer::take_batches`].
pub struct Normalizer {
    load_id: String,
    salt: [u8; 16],
    max_identifier_len: usize,
    update: SchemaUpdate,
    builders: IndexMap<String, tables::TableBuilder>,
    row_counts: IndexMap<String, u64>,
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
        }
    }

    /// The normalized root table name of a resource.
    pub fn root_table_name(&self, resource: &ResourceTable) -> String {
        sluice_schema::normalize_path(&resource.table, self.max_identifier_len)
    }

    /// Create the resource's root table with its hints if it does not exist yet.
    pub fn ensure_root_table(&mut self, schema: &mut Schema, resource: &ResourceTable) -> String {
        let name = self.root_table_name(resource);
        let normalize = |c: &str| sluice_schema::normalize_path(c, self.max_identifier_len);
        let table = schema.tables.entry(name.clone()).or_insert_with(|| {
            self.update.record_table(&name);
            Table {
                name: name.clone(),
                ..Default::default()
            }
        });
        table.write_disposition = Some(resource.write_disposition);
        table.resource = Some(resource.resource.clone());
        table.merge_strategy = resource.merge_strategy.clone();
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
            table.normalizer = Some(serde_json::json!({"max_nesting": n}));
        }
        for hint in &resource.columns {
            let cname = normalize(&hint.name);
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
                    self.update.record_column(&name, &cname);
                }
            }
            if let Some(n) = hint.nullable {
                col.nullable = n;
            }
            col.primary_key |= hint.primary_key;
            col.merge_key |= hint.merge_key;
            col.unique |= hint.unique;
            col.hard_delete |= hint.hard_delete;
            if hint.dedup_sort.is_some() {
                col.dedup_sort = hint.dedup_sort.clone();
            }
            col.precision = hint.precision.or(col.precision);
            col.scale = hint.scale.or(col.scale);
            col.timezone = hint.timezone.or(col.timezone);
        }
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
        name
    }

    /// Normalize one page of `resource`. `page_seq` numbers pages within the package.
    pub fn add_page(
        &mut self,
        schema: &mut Schema,
        resource: &ResourceTable,
        page_seq: u64,
        records: Vec<Value>,
    ) -> Result<(), NormalizeError> {
        let root = self.ensure_root_table(schema, resource);
        let root_id = resource.root_id();
        let max_nesting = schema
            .tables
            .get(&root)
            .and_then(|t| t.normalizer.as_ref())
            .and_then(|n| n.get("max_nesting"))
            .and_then(Value::as_u64)
            .map(|n| n as u32)
            .or(resource.max_nesting)
            .unwrap_or(1000);
        let flat: Vec<Result<Vec<flatten::FlatRow>, NormalizeError>> = {
            let spec = flatten::FlattenSpec {
                schema,
                root_table: &root,
                max_nesting,
                root_id: &root_id,
                root_key: resource.root_key(),
                max_identifier_len: self.max_identifier_len,
                load_id: &self.load_id,
            };
            let salt = self.salt;
            records
                .into_par_iter()
                .enumerate()
                .map(|(i, record)| {
                    let id = sluice_schema::salted_row_id(&salt, page_seq, i as u64);
                    flatten::flatten_record(&spec, record, id).map_err(|e| NormalizeError::Record {
                        table: root.clone(),
                        index: i,
                        reason: e.to_string(),
                    })
                })
                .collect()
        };
        for rows in flat {
            for row in rows? {
                *self.row_counts.entry(row.table.clone()).or_default() += 1;
                tables::apply_row(
                    schema,
                    &mut self.update,
                    &mut self.builders,
                    row,
                    &resource.resource,
                    self.max_identifier_len,
                )?;
            }
        }
        Ok(())
    }

    /// Rows collected since the last call, as one batch per table (tables in schema order).
    pub fn take_batches(
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

#[cfg(test)]
mod tests;
