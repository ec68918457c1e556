//! The general path: parsed records are checked (shape caps, JSON Schema), flattened into rows
//! in parallel, then applied in record order — the schema evolves, contracts decide, values
//! land in the table builders. It takes every input, reports every error with its place, and
//! is the reference the fast path is held to.

use indexmap::IndexMap;
use rayon::prelude::*;
use serde_json::Value;
use sluice_schema::{ContractEntity, ContractMode, Schema, SchemaContract, SchemaUpdate};

use crate::evolve::{self, Applied, RowError, RowRules};
use crate::flatten::{self, FlatRow};
use crate::jsonschema::{JsonSchema, Verdict};
use crate::tables::{PreferredTypes, TableBuilder};
use crate::{Collisions, Discards, NormalizeError, Normalizer, ResourceTable, cut_json, shape};

/// The rows of each record of a page (`None`: its JSON Schema discarded it).
type FlatRecords = Vec<Result<Option<Vec<FlatRow>>, NormalizeError>>;

impl Normalizer {
    /// Normalize one page of `resource`. `page_seq` numbers pages within the package.
    pub fn add_page(
        &mut self,
        schema: &mut Schema,
        resource: &ResourceTable,
        page_seq: u64,
        records: Vec<Value>,
    ) -> Result<(), NormalizeError> {
        self.add_records(schema, resource, page_seq, 0, records)
    }

    /// Normalize records of a page that start at position `first` in it (root ids and
    /// errors use the position in the page).
    pub(crate) fn add_records(
        &mut self,
        schema: &mut Schema,
        resource: &ResourceTable,
        page_seq: u64,
        first: usize,
        records: Vec<Value>,
    ) -> Result<(), NormalizeError> {
        if self.refuses_root(schema, resource) {
            return self.refuse_root(schema, resource, first, &records);
        }
        let root = self.ensure_root_table(schema, resource);
        let contract = resource.effective_contract(schema, &root);
        self.compile_settings(schema, resource)?;
        let flat = self.flatten(
            schema,
            resource,
            (&root, contract),
            page_seq,
            first,
            records,
        );
        let preferred = self
            .preferred
            .as_ref()
            .map(|(_, p)| p)
            .ok_or_else(|| NormalizeError::Internal("preferred types not compiled".into()))?;
        let rules = RowRules {
            resource: &resource.resource,
            max_identifier_len: self.max_identifier_len,
            contract,
            preferred,
            detect_timestamps: schema
                .settings
                .detections
                .iter()
                .any(|d| d == "iso_timestamp"),
            caps: self.caps,
        };
        let mut applier = Applier {
            schema,
            rules,
            update: &mut self.update,
            builders: &mut self.builders,
            discards: &mut self.discards,
            collisions: &mut self.collisions,
            row_counts: &mut self.row_counts,
            discarded_ids: Vec::new(),
        };
        for (record, rows) in flat.into_iter().enumerate() {
            let Some(rows) = rows? else {
                applier.discards.entry(root.clone()).or_default().rows += 1;
                continue;
            };
            applier.discarded_ids.clear();
            for row in rows {
                applier.row(row, first + record)?;
            }
        }
        Ok(())
    }

    /// The resource's root table refuses new tables: fail (`freeze`) or count the records
    /// as discarded.
    fn refuse_root(
        &mut self,
        schema: &Schema,
        resource: &ResourceTable,
        first: usize,
        records: &[Value],
    ) -> Result<(), NormalizeError> {
        let root = self.root_table_name(resource);
        let contract = resource.effective_contract(schema, &root);
        if contract.tables == ContractMode::Freeze {
            return Err(NormalizeError::Contract {
                schema: schema.name.clone(),
                table: root,
                column: None,
                entity: ContractEntity::Tables,
                mode: ContractMode::Freeze,
                record: first,
                data: records.first().map(cut_json).unwrap_or_default(),
            });
        }
        self.discards.entry(root).or_default().rows += records.len() as u64;
        Ok(())
    }

    /// Compile the schema's preferred types (when they changed) and the resource's JSON
    /// Schema (once).
    fn compile_settings(
        &mut self,
        schema: &Schema,
        resource: &ResourceTable,
    ) -> Result<(), NormalizeError> {
        if self
            .preferred
            .as_ref()
            .is_none_or(|(p, _)| *p != schema.settings.preferred_types)
        {
            let compiled = PreferredTypes::compile(&schema.settings.preferred_types)
                .map_err(NormalizeError::Settings)?;
            self.preferred = Some((schema.settings.preferred_types.clone(), compiled));
        }
        if let Some(doc) = &resource.json_schema
            && !self.json_schemas.contains_key(&resource.resource)
        {
            let compiled =
                JsonSchema::compile(doc).map_err(|reason| NormalizeError::JsonSchema {
                    resource: resource.resource.clone(),
                    record: 0,
                    path: "#".into(),
                    reason,
                })?;
            self.json_schemas
                .insert(resource.resource.clone(), compiled);
        }
        Ok(())
    }

    /// Check and flatten each record, in parallel, into `root` (whose contract is
    /// `contract`); results in record order.
    fn flatten(
        &self,
        schema: &Schema,
        resource: &ResourceTable,
        (root, contract): (&str, SchemaContract),
        page_seq: u64,
        first: usize,
        records: Vec<Value>,
    ) -> FlatRecords {
        let validator = self.json_schemas.get(&resource.resource);
        let root_id = resource.root_id();
        let spec = flatten::FlattenSpec {
            schema,
            known: Default::default(),
            root_table: root,
            max_nesting: resource.max_nesting_in(schema, root),
            root_id: &root_id,
            root_key: resource.root_key(),
            max_identifier_len: self.max_identifier_len,
            load_id: &self.load_id,
        };
        let salt = self.salt;
        let caps = self.caps;
        records
            .into_par_iter()
            .enumerate()
            .map(|(i, mut record)| {
                let i = first + i;
                shape::check_shape(&record, caps.max_depth, caps.max_key_bytes)
                    .map_err(|reason| NormalizeError::Limit { index: i, reason })?;
                if let Some(v) = validator {
                    match v.validate(&mut record, contract.columns, contract.data_type) {
                        Verdict::Valid => {}
                        Verdict::Discard => return Ok(None),
                        Verdict::Invalid { path, reason } => {
                            return Err(NormalizeError::JsonSchema {
                                resource: resource.resource.clone(),
                                record: i,
                                path,
                                reason,
                            });
                        }
                    }
                }
                let id = sluice_schema::salted_row_id(&salt, page_seq, i as u64);
                flatten::flatten_record(&spec, record, id)
                    .map(Some)
                    .map_err(|e| NormalizeError::Record {
                        table: root.to_owned(),
                        index: i,
                        reason: e.to_string(),
                    })
            })
            .collect()
    }
}

/// Applies the rows of a page's records, in order, to the schema and the normalizer's
/// builders and counts.
struct Applier<'a> {
    schema: &'a mut Schema,
    rules: RowRules<'a>,
    update: &'a mut SchemaUpdate,
    builders: &'a mut IndexMap<String, TableBuilder>,
    discards: &'a mut IndexMap<String, Discards>,
    collisions: &'a mut IndexMap<String, Collisions>,
    row_counts: &'a mut IndexMap<String, u64>,
    /// row ids of the current record discarded so far: their nested rows go with them
    discarded_ids: Vec<String>,
}

impl Applier<'_> {
    /// Apply one row of record `record`.
    fn row(&mut self, row: FlatRow, record: usize) -> Result<(), NormalizeError> {
        // the nested rows of a discarded row go with it (dlt keeps them as orphans)
        if !self.discarded_ids.is_empty()
            && let Some(flatten::Cell::Str(parent)) = row.cells.get(sluice_schema::DLT_PARENT_ID)
            && self.discarded_ids.contains(parent)
        {
            if let Some(flatten::Cell::Str(id)) = row.cells.get(sluice_schema::DLT_ID) {
                self.discarded_ids.push(id.clone());
            }
            self.discards.entry(row.table.clone()).or_default().rows += 1;
            return Ok(());
        }
        if !row.collisions.is_empty() {
            let c = self.collisions.entry(row.table.clone()).or_default();
            c.rows += 1;
            for name in &row.collisions {
                if c.columns.len() < 20 && !c.columns.contains(name) {
                    c.columns.push(name.clone());
                }
            }
        }
        let applied = evolve::apply_row(
            self.schema,
            self.update,
            self.builders,
            self.discards,
            &row,
            &self.rules,
        );
        match applied {
            Ok(Applied::Accepted) => match self.row_counts.get_mut(&row.table) {
                Some(n) => *n += 1,
                None => {
                    self.row_counts.insert(row.table, 1);
                }
            },
            Ok(Applied::Discarded) => {
                if let Some(flatten::Cell::Str(id)) = row.cells.get(sluice_schema::DLT_ID) {
                    self.discarded_ids.push(id.clone());
                }
            }
            Err(e) => return Err(placed(self.schema, row, record, e)),
        }
        Ok(())
    }
}

/// A row's error, placed at its record.
fn placed(schema: &Schema, row: FlatRow, record: usize, e: RowError) -> NormalizeError {
    match e {
        RowError::Contract(v) => NormalizeError::Contract {
            schema: schema.name.clone(),
            table: v.table,
            column: v.column,
            entity: v.entity,
            mode: v.mode,
            record,
            data: v.data,
        },
        RowError::Coerce { column, reason } => NormalizeError::Coerce {
            table: row.table,
            column,
            reason: format!("record {}: {reason}", record + 1),
        },
        RowError::Shape(reason) => NormalizeError::Record {
            table: row.table,
            index: record,
            reason,
        },
        RowError::Limit(reason) => NormalizeError::Limit {
            index: record,
            reason,
        },
        RowError::Discard => NormalizeError::Internal("unplaced discard".into()),
        RowError::Internal(m) => NormalizeError::Internal(m),
    }
}
