//! The schema of a dataset: tables and columns in dlt's stored format (engine version 11).
//!
//! Tables and columns are only ever added; column order is the order of first appearance.

use base64::Engine as _;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use sha3::Digest as _;

use crate::DataType;

/// dlt's schema engine version, written to `_dlt_version.engine_version`.
pub const ENGINE_VERSION: u32 = 11;

/// How a root table's rows are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteDisposition {
    #[default]
    Append,
    Replace,
    Merge,
    Skip,
}

impl WriteDisposition {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "append" => Self::Append,
            "replace" => Self::Replace,
            "merge" => Self::Merge,
            "skip" => Self::Skip,
            _ => return None,
        })
    }
}

/// How a merge table takes new rows (dlt's `x-merge-strategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MergeStrategy {
    #[default]
    DeleteInsert,
    Upsert,
    InsertOnly,
    Scd2,
}

impl MergeStrategy {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "delete-insert" => Self::DeleteInsert,
            "upsert" => Self::Upsert,
            "insert-only" => Self::InsertOnly,
            "scd2" => Self::Scd2,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeleteInsert => "delete-insert",
            Self::Upsert => "upsert",
            Self::InsertOnly => "insert-only",
            Self::Scd2 => "scd2",
        }
    }
}

/// One column of a table, with dlt's column properties.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_type: Option<DataType>,
    #[serde(default = "yes")]
    pub nullable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<bool>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub primary_key: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub merge_key: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub row_key: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub parent_key: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub root_key: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub hard_delete: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_sort: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub variant: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// scd2: the column holding when a row version became active
    #[serde(default, rename = "x-valid-from", skip_serializing_if = "is_false")]
    pub valid_from: bool,
    /// scd2: the column holding when a row version was retired
    #[serde(default, rename = "x-valid-to", skip_serializing_if = "is_false")]
    pub valid_to: bool,
    /// scd2: the `valid_to` value of active rows (NULL when absent)
    #[serde(
        default,
        rename = "x-active-record-timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub active_record_timestamp: Option<String>,
    /// scd2: the row version (row hash) column
    #[serde(default, rename = "x-row-version", skip_serializing_if = "is_false")]
    pub row_version: bool,
}

fn yes() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Column {
    /// A nullable data column of a known type.
    pub fn data(name: &str, data_type: DataType) -> Self {
        Column {
            name: name.to_owned(),
            data_type: Some(data_type),
            nullable: true,
            ..Default::default()
        }
    }

    /// A NOT NULL text system column.
    fn system(name: &str, data_type: DataType) -> Self {
        Column {
            name: name.to_owned(),
            data_type: Some(data_type),
            nullable: false,
            ..Default::default()
        }
    }

    /// `_dlt_id`: text, not null, unique, row key.
    pub fn dlt_id() -> Self {
        Column {
            unique: true,
            row_key: true,
            ..Column::system(crate::DLT_ID, DataType::Text)
        }
    }

    pub fn dlt_load_id() -> Self {
        Column::system(crate::DLT_LOAD_ID, DataType::Text)
    }

    pub fn dlt_parent_id() -> Self {
        Column {
            parent_key: true,
            ..Column::system(crate::DLT_PARENT_ID, DataType::Text)
        }
    }

    pub fn dlt_list_idx() -> Self {
        Column::system(crate::DLT_LIST_IDX, DataType::Bigint)
    }

    pub fn dlt_root_id() -> Self {
        Column {
            root_key: true,
            ..Column::system(crate::DLT_ROOT_ID, DataType::Text)
        }
    }

    /// Whether the column has a type and so exists in the destination.
    pub fn is_complete(&self) -> bool {
        self.data_type.is_some()
    }
}

/// One table: a root table of a resource, or a nested table under `parent`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    #[serde(default)]
    pub columns: IndexMap<String, Column>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_disposition: Option<WriteDisposition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(
        default,
        rename = "x-merge-strategy",
        skip_serializing_if = "Option::is_none"
    )]
    pub merge_strategy: Option<String>,
    #[serde(
        default,
        rename = "x-normalizer",
        skip_serializing_if = "Option::is_none"
    )]
    pub normalizer: Option<serde_json::Value>,
    /// merge: the staged rows are known to be unique by primary key (skip dedup)
    #[serde(
        default,
        rename = "x-stage-data-deduplicated",
        skip_serializing_if = "is_false"
    )]
    pub deduplicated: bool,
    /// scd2: validity boundary to use instead of the load's creation time (ISO timestamp)
    #[serde(
        default,
        rename = "x-boundary-timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub boundary_timestamp: Option<String>,
}

impl Table {
    /// Columns that exist in the destination (have a type), in order.
    pub fn complete_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.values().filter(|c| c.is_complete())
    }

    pub fn is_root(&self) -> bool {
        self.parent.is_none()
    }

    /// Complete columns carrying a hint, in order.
    pub fn hinted(&self, hint: impl Fn(&Column) -> bool) -> Vec<&Column> {
        self.complete_columns().filter(|c| hint(c)).collect()
    }

    /// The merge strategy of a merge table (dlt's default: `delete-insert`).
    pub fn strategy(&self) -> MergeStrategy {
        self.merge_strategy
            .as_deref()
            .and_then(MergeStrategy::parse)
            .unwrap_or_default()
    }
}

/// Schema settings: detections and default hints, as dlt stores them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub detections: Vec<String>,
    pub default_hints: IndexMap<String, Vec<String>>,
}

impl Default for Settings {
    fn default() -> Self {
        let mut default_hints = IndexMap::new();
        default_hints.insert(
            "not_null".to_owned(),
            [
                "_dlt_id",
                "_dlt_root_id",
                "_dlt_parent_id",
                "_dlt_list_idx",
                "_dlt_load_id",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        );
        default_hints.insert("parent_key".to_owned(), vec!["_dlt_parent_id".to_owned()]);
        default_hints.insert("root_key".to_owned(), vec!["_dlt_root_id".to_owned()]);
        default_hints.insert("unique".to_owned(), vec!["_dlt_id".to_owned()]);
        default_hints.insert("row_key".to_owned(), vec!["_dlt_id".to_owned()]);
        Settings {
            detections: vec!["iso_timestamp".to_owned()],
            default_hints,
        }
    }
}

/// A versioned, content-hashed schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    pub version: u64,
    pub version_hash: String,
    pub engine_version: u32,
    pub name: String,
    pub tables: IndexMap<String, Table>,
    #[serde(default)]
    pub settings: Settings,
    #[serde(default)]
    pub normalizers: serde_json::Value,
    #[serde(default)]
    pub previous_hashes: Vec<String>,
}

/// What a load added to a schema: new tables and new columns, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SchemaUpdate {
    /// table name → columns added to it (a new table lists all its columns)
    pub tables: IndexMap<String, Vec<String>>,
    /// tables that did not exist before
    pub new_tables: Vec<String>,
}

impl SchemaUpdate {
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    pub fn record_column(&mut self, table: &str, column: &str) {
        self.tables
            .entry(table.to_owned())
            .or_default()
            .push(column.to_owned());
    }

    pub fn record_table(&mut self, table: &str) {
        if !self.new_tables.iter().any(|t| t == table) {
            self.new_tables.push(table.to_owned());
        }
        self.tables.entry(table.to_owned()).or_default();
    }

    /// Merge another update (of a later page) into this one.
    pub fn extend(&mut self, other: SchemaUpdate) {
        for t in other.new_tables {
            self.record_table(&t);
        }
        for (t, cols) in other.tables {
            let entry = self.tables.entry(t).or_default();
            for c in cols {
                if !entry.contains(&c) {
                    entry.push(c);
                }
            }
        }
    }
}

impl Schema {
    /// An empty schema named `name`.
    pub fn new(name: &str) -> Self {
        let mut s = Schema {
            version: 0,
            version_hash: String::new(),
            engine_version: ENGINE_VERSION,
            name: name.to_owned(),
            tables: IndexMap::new(),
            settings: Settings::default(),
            normalizers: serde_json::json!({
                "names": "snake_case",
                "json": {"module": "dlt.common.normalizers.json.relational"}
            }),
            previous_hashes: Vec::new(),
        };
        s.bump_version();
        s
    }

    /// The content hash: base64 sha3-256 over the canonical JSON of the schema without its
    /// version fields, then every table name and its column names in order.
    pub fn content_hash(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(obj) = value.as_object_mut() {
            for k in ["version", "version_hash", "previous_hashes"] {
                obj.shift_remove(k);
            }
        }
        let canonical = canonical_json(&value);
        let mut hasher = sha3::Sha3_256::new();
        hasher.update(canonical.as_bytes());
        let mut names: Vec<&String> = self.tables.keys().collect();
        names.sort();
        for t in names {
            hasher.update(t.as_bytes());
            for c in self.tables[t].columns.keys() {
                hasher.update(c.as_bytes());
            }
        }
        base64::engine::general_purpose::STANDARD.encode(hasher.finalize())
    }

    /// Recompute the hash; when it changed, increment the version and remember the old hash.
    /// Returns whether the schema changed.
    pub fn bump_version(&mut self) -> bool {
        let hash = self.content_hash();
        if hash == self.version_hash {
            return false;
        }
        if !self.version_hash.is_empty() {
            self.previous_hashes.insert(0, self.version_hash.clone());
            self.previous_hashes.truncate(10);
        }
        self.version += 1;
        self.version_hash = hash;
        true
    }

    /// The schema as dlt's stored JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Schema, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Tables that hold data (not `_dlt_*` system tables).
    pub fn data_tables(&self) -> impl Iterator<Item = &Table> {
        self.tables
            .values()
            .filter(|t| !t.name.starts_with("_dlt_"))
    }

    /// The nested tables under `root`, parents before children.
    pub fn table_chain(&self, root: &str) -> Vec<&Table> {
        let mut out: Vec<&Table> = Vec::new();
        if let Some(t) = self.tables.get(root) {
            out.push(t);
        }
        let mut i = 0;
        while i < out.len() {
            let name = out[i].name.clone();
            for t in self.tables.values() {
                if t.parent.as_deref() == Some(name.as_str()) {
                    out.push(t);
                }
            }
            i += 1;
        }
        out
    }

    /// The root table of `table` (itself when it is a root).
    pub fn root_of<'a>(&'a self, table: &'a str) -> &'a str {
        let mut cur = table;
        while let Some(p) = self.tables.get(cur).and_then(|t| t.parent.as_deref()) {
            cur = p;
        }
        cur
    }
}

/// JSON with object keys sorted, compact: the form hashed for versions.
pub fn canonical_json(value: &serde_json::Value) -> String {
    fn sort(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    out.insert(k.clone(), sort(&m[k]));
                }
                serde_json::Value::Object(out)
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string(&sort(value)).unwrap_or_default()
}
