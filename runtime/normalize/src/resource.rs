//! What the normalizer takes for a resource: its root table, disposition, keys, column
//! hints, nesting, SCD2 options and contracts — and what it reports per table (key
//! collisions).

use serde_json::Value;
use sluice_schema::{ColumnHint, MergeStrategy, Schema, SchemaContract, Table, WriteDisposition};

use crate::flatten::RootId;

/// Keys of records that normalized to one name (`"a b"` and `"a_b"` are both `a_b`): dlt keeps
/// the later value silently; Sluice keeps it too and reports it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Collisions {
    pub rows: u64,
    /// the colliding column or nested-table names (first 20)
    pub columns: Vec<String>,
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

/// Column hints of one nested table (dlt's `nested_hints`): `path` names it level by level
/// below the root, each level the key path from its parent's rows to the list (`["items"]`
/// is `<root>__items`; `["items", "parts"]` that table's child `<root>__items__parts`; a list
/// under a nested dict is one level `a__items`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NestedHints {
    pub path: Vec<String>,
    /// in order: the table takes them as its first columns, as the root takes `columns`
    pub columns: Vec<ColumnHint>,
}

/// What the normalizer needs to know about a resource's root table.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ResourceTable {
    pub resource: String,
    /// root table name as given (normalized here)
    pub table: String,
    pub write_disposition: WriteDisposition,
    pub merge_strategy: Option<MergeStrategy>,
    pub primary_key: Vec<String>,
    pub merge_key: Vec<String>,
    pub columns: Vec<ColumnHint>,
    /// column hints of nested tables
    #[serde(default)]
    pub nested: Vec<NestedHints>,
    /// dlt's max_table_nesting; 1000 when absent
    pub max_nesting: Option<u32>,
    /// merge: staged rows are unique by primary key already (skip dedup)
    #[serde(default)]
    pub deduplicated: bool,
    #[serde(default)]
    pub scd2: Scd2Options,
    /// the contract set for this run or resource (wins over the schema's)
    #[serde(default)]
    pub schema_contract: Option<SchemaContract>,
    /// the contract set for the whole source (below the schema's table contract)
    #[serde(default)]
    pub source_contract: Option<SchemaContract>,
    /// a JSON Schema document the records must satisfy (validated before flattening)
    #[serde(default)]
    pub json_schema: Option<Value>,
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
            nested: Vec::new(),
            max_nesting: None,
            deduplicated: false,
            scd2: Scd2Options::default(),
            schema_contract: None,
            source_contract: None,
            json_schema: None,
        }
    }

    /// The contract of this resource's tables: the run's or resource's, then (with a JSON
    /// Schema) dlt's model default, then the root table's in the schema, the source's, the
    /// schema settings', else evolve.
    pub fn effective_contract(&self, schema: &Schema, root: &str) -> SchemaContract {
        self.schema_contract
            .or_else(|| {
                self.json_schema
                    .as_ref()
                    .map(|_| SchemaContract::for_model())
            })
            .or_else(|| schema.tables.get(root).and_then(|t| t.schema_contract))
            .or(self.source_contract)
            .or(schema.settings.schema_contract)
            .unwrap_or_default()
    }

    /// dlt's max_table_nesting for the root table: the schema's, else the resource's, else
    /// 1000.
    pub(crate) fn max_nesting_in(&self, schema: &Schema, root: &str) -> u32 {
        schema
            .tables
            .get(root)
            .and_then(Table::max_nesting)
            .or(self.max_nesting)
            .unwrap_or(1000)
    }

    pub(crate) fn is_scd2(&self) -> bool {
        self.write_disposition == WriteDisposition::Merge
            && self.merge_strategy == Some(MergeStrategy::Scd2)
    }

    pub(crate) fn root_id(&self) -> RootId {
        match (self.write_disposition, self.merge_strategy) {
            (WriteDisposition::Merge, Some(MergeStrategy::Upsert | MergeStrategy::InsertOnly)) => {
                RootId::KeyHash(
                    self.primary_key
                        .iter()
                        .map(|k| sluice_schema::normalize_path(k, usize::MAX))
                        .collect(),
                )
            }
            (WriteDisposition::Merge, Some(MergeStrategy::Scd2)) => RootId::RowHash,
            _ => RootId::Given,
        }
    }

    pub(crate) fn root_key(&self) -> bool {
        self.write_disposition == WriteDisposition::Merge
            && self.merge_strategy != Some(MergeStrategy::Scd2)
    }
}
