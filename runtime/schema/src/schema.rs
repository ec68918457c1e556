//! The schema of a dataset: tables and columns in dlt's stored format (engine version 11).
//!
//! Tables and columns are only ever added; column order is the order of first appearance.

use base64::Engine as _;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use sha3::Digest as _;

use crate::{DataType, SchemaContract};

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

    /// The name [`WriteDisposition::parse`] takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Append => "append",
            Self::Replace => "replace",
            Self::Merge => "merge",
            Self::Skip => "skip",
        }
    }
}

/// How a merge table takes new rows (dlt's `x-merge-strategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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
    /// the key of the column in its table (dlt's YAML export leaves it out)
    #[serde(default)]
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
    #[serde(default)]
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
    /// the table's data contract (nested tables follow their root's)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_contract: Option<SchemaContract>,
}

impl Table {
    /// Whether the table received rows in a completed package (dlt's `x-normalizer.seen-data`).
    /// A table that has not is "new" to data contracts.
    pub fn seen_data(&self) -> bool {
        self.normalizer
            .as_ref()
            .and_then(|n| n.get("seen-data"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    }

    /// Set one key of `x-normalizer`, keeping the others.
    pub fn set_normalizer_key(&mut self, key: &str, value: serde_json::Value) {
        let n = self
            .normalizer
            .get_or_insert_with(|| serde_json::Value::Object(Default::default()));
        if !n.is_object() {
            *n = serde_json::Value::Object(Default::default());
        }
        if let Some(map) = n.as_object_mut() {
            map.insert(key.to_owned(), value);
        }
    }

    /// `x-normalizer.max_nesting`, dlt's per-table `max_table_nesting`.
    pub fn max_nesting(&self) -> Option<u32> {
        self.normalizer
            .as_ref()
            .and_then(|n| n.get("max_nesting"))
            .and_then(serde_json::Value::as_u64)
            .map(|n| n.min(u32::MAX as u64) as u32)
    }

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

/// Schema settings: detections, default hints, preferred types and the schema-wide data
/// contract, as dlt stores them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    #[serde(default)]
    pub detections: Vec<String>,
    #[serde(default)]
    pub default_hints: IndexMap<String, Vec<String>>,
    /// column name pattern → type of new columns of that name; a pattern is an exact
    /// (normalized) name or `re:<regex>`
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub preferred_types: IndexMap<String, DataType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_contract: Option<SchemaContract>,
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
            preferred_types: IndexMap::new(),
            schema_contract: None,
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
    /// hash of the schema file last imported into this one
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_version_hash: Option<String>,
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
            imported_version_hash: None,
        };
        s.bump_version();
        s
    }

    /// The content hash: base64 sha3-256 over the canonical JSON of the schema without its
    /// version fields, then every table name and its column names in order.
    pub fn content_hash(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(obj) = value.as_object_mut() {
            for k in [
                "version",
                "version_hash",
                "previous_hashes",
                "imported_version_hash",
            ] {
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
        let mut s: Schema = serde_json::from_str(text)?;
        s.name_entries();
        Ok(s)
    }

    /// The schema in dlt's YAML export form (`<name>.schema.yaml`): the stored dict, keys in
    /// dlt's order, block style.
    pub fn to_yaml(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        // names are the keys (dlt leaves them out of the export)
        if let Some(tables) = value.get_mut("tables").and_then(|t| t.as_object_mut()) {
            for t in tables.values_mut() {
                if let Some(t) = t.as_object_mut() {
                    t.shift_remove("name");
                    if let Some(cols) = t.get_mut("columns").and_then(|c| c.as_object_mut()) {
                        for c in cols.values_mut() {
                            if let Some(c) = c.as_object_mut() {
                                c.shift_remove("name");
                            }
                        }
                    }
                }
            }
        }
        serde_norway::to_string(&yaml_value(&value)).unwrap_or_default()
    }

    /// Read a schema in dlt's YAML (or JSON, a YAML subset) form. Column and table names may
    /// be left out of their entries (they are the keys). Errors give the line and column.
    pub fn from_yaml(text: &str) -> Result<Schema, String> {
        let value: serde_json::Value = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        let mut value = value;
        if let Some(obj) = value.as_object_mut() {
            // a hand-written file may leave out what a schema file always has
            obj.entry("version").or_insert(serde_json::json!(1));
            obj.entry("version_hash").or_insert(serde_json::json!(""));
            obj.entry("engine_version")
                .or_insert(serde_json::json!(ENGINE_VERSION));
            obj.entry("tables")
                .or_insert(serde_json::Value::Object(Default::default()));
        }
        let mut s: Schema = serde_path_json(value)?;
        s.name_entries();
        Ok(s)
    }

    /// Merge an imported schema file (dlt's `import_schema_path`): its settings replace ours;
    /// its tables and columns are added; columns we have without a type take the imported
    /// definition; hints of typed columns are taken, but a different type is refused (tables
    /// and columns are only ever added, never changed).
    pub fn merge_import(&mut self, imported: &Schema) -> Result<(), String> {
        let mut settings = imported.settings.clone();
        if settings.default_hints.is_empty() {
            settings.default_hints = Settings::default().default_hints;
        }
        self.settings = settings;
        for (tname, t) in &imported.tables {
            if tname.starts_with("_dlt_") {
                continue;
            }
            if let Some(p) = &t.parent
                && !imported.tables.contains_key(p)
                && !self.tables.contains_key(p)
            {
                return Err(format!("tables.{tname}: parent `{p}` is not a table"));
            }
            match self.tables.get_mut(tname) {
                None => {
                    let mut t = t.clone();
                    // a table is new until this dataset loads rows into it
                    if let Some(serde_json::Value::Object(n)) = t.normalizer.as_mut() {
                        n.shift_remove("seen-data");
                    }
                    self.tables.insert(tname.clone(), t);
                }
                Some(ours) => {
                    if t.schema_contract.is_some() {
                        ours.schema_contract = t.schema_contract;
                    }
                    if t.description.is_some() {
                        ours.description.clone_from(&t.description);
                    }
                    for (cname, c) in &t.columns {
                        match ours.columns.get_mut(cname) {
                            None => {
                                ours.columns.insert(cname.clone(), c.clone());
                            }
                            Some(mine) if !mine.is_complete() => *mine = c.clone(),
                            Some(mine) => {
                                if c.data_type.is_some() && c.data_type != mine.data_type {
                                    return Err(format!(
                                        "tables.{tname}.columns.{cname}: data_type `{}` differs from `{}` already in the dataset; columns are only ever added",
                                        c.data_type.map(|d| d.name()).unwrap_or_default(),
                                        mine.data_type.map(|d| d.name()).unwrap_or_default()
                                    ));
                                }
                                mine.primary_key = c.primary_key;
                                mine.merge_key = c.merge_key;
                                mine.unique |= c.unique;
                                mine.hard_delete = c.hard_delete;
                                mine.dedup_sort.clone_from(&c.dedup_sort);
                                if c.description.is_some() {
                                    mine.description.clone_from(&c.description);
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Give tables and columns the names of their keys.
    fn name_entries(&mut self) {
        for (tname, table) in self.tables.iter_mut() {
            table.name.clone_from(tname);
            for (cname, col) in table.columns.iter_mut() {
                col.name.clone_from(cname);
            }
        }
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

/// JSON → YAML value (numbers by value: the JSON side keeps them as text).
fn yaml_value(v: &serde_json::Value) -> serde_norway::Value {
    use serde_norway::Value as Y;
    match v {
        serde_json::Value::Null => Y::Null,
        serde_json::Value::Bool(b) => Y::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Y::Number(i.into())
            } else if let Some(u) = n.as_u64() {
                Y::Number(u.into())
            } else {
                Y::Number(n.as_f64().unwrap_or(f64::NAN).into())
            }
        }
        serde_json::Value::String(s) => Y::String(s.clone()),
        serde_json::Value::Array(a) => Y::Sequence(a.iter().map(yaml_value).collect()),
        serde_json::Value::Object(m) => Y::Mapping(
            m.iter()
                .map(|(k, v)| (Y::String(k.clone()), yaml_value(v)))
                .collect(),
        ),
    }
}

/// Deserialize a schema value, naming the path of the first offending entry.
fn serde_path_json(value: serde_json::Value) -> Result<Schema, String> {
    // walk tables and columns first so an error names its place
    if let Some(tables) = value.get("tables").and_then(|t| t.as_object()) {
        for (tname, t) in tables {
            if let Some(cols) = t.get("columns").and_then(|c| c.as_object()) {
                for (cname, c) in cols {
                    serde_json::from_value::<Column>(c.clone())
                        .map_err(|e| format!("tables.{tname}.columns.{cname}: {e}"))?;
                }
            }
            serde_json::from_value::<Table>(t.clone())
                .map_err(|e| format!("tables.{tname}: {e}"))?;
        }
    }
    if let Some(settings) = value.get("settings") {
        serde_json::from_value::<Settings>(settings.clone())
            .map_err(|e| format!("settings: {e}"))?;
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
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
