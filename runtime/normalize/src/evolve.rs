//! Schema evolution of one flattened row, in three steps: admit the row's table (its parent,
//! `limits.max_tables`, the `tables` contract), plan each cell's effect (a value, a new
//! column, a variant, a dropped value — under the `columns` and `data_type` contracts and
//! `limits.max_columns`), then apply the plan to the schema and the table's builder. Nothing
//! is applied until the whole row passed, so a discarded row changes nothing.
//!
//! Rows are applied in record order, so the same input gives the same schema and batches for
//! any number of threads: parallelism lives in flattening, evolution is one ordered pass.

use indexmap::IndexMap;
use sluice_schema::{
    Column, ContractEntity, ContractMode, DataType, Schema, SchemaContract, SchemaUpdate, Table,
    make_path,
};

use crate::coerce::{Typed, cell_type, coerce, infer_type};
use crate::flatten::{Cell, FlatRow};
use crate::tables::{
    DEFAULT_DECIMAL, Discards, PreferredTypes, SchemaCaps, TableBuilder, decimal_of, new_column,
    push,
};

/// What one row may do to the schema, fixed for a page.
pub struct RowRules<'a> {
    pub resource: &'a str,
    pub max_identifier_len: usize,
    pub contract: SchemaContract,
    pub preferred: &'a PreferredTypes,
    /// dlt's `iso_timestamp` detection is on
    pub detect_timestamps: bool,
    /// how far the schema may grow
    pub caps: SchemaCaps,
}

/// What became of a row.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Accepted,
    /// dropped by a `discard_row` (or, for a new table, `discard_*`) contract
    Discarded,
}

/// A contract violation before it is placed (record, resource and page are added by the
/// caller).
#[derive(Debug)]
pub struct Violation {
    pub table: String,
    pub column: Option<String>,
    pub entity: ContractEntity,
    pub mode: ContractMode,
    /// the offending row as JSON, cut short
    pub data: String,
}

/// Why a row could not be applied.
#[derive(Debug)]
pub enum RowError {
    Contract(Violation),
    Coerce {
        column: String,
        reason: String,
    },
    /// internal: the row is dropped by `discard_row`
    Discard,
    /// the record cannot be shaped into tables
    Shape(String),
    /// the row would take the schema past a cap ([`SchemaCaps`])
    Limit(String),
    Internal(String),
}

/// One planned effect of a cell.
enum Action {
    /// the value of cell `idx`
    Push(usize, Typed),
    /// a value for another column than its cell's (a variant)
    PushTo(String, Typed),
    /// create (or complete) a column, then push cell `idx` coerced to it
    New(Column, usize),
    /// a null for a column not seen before (cell `idx`): remember it as incomplete
    Incomplete(usize),
}

/// The planned effects of a row's cells, and the columns whose values it drops.
#[derive(Default)]
struct RowPlan {
    actions: Vec<Action>,
    dropped: Vec<String>,
}

/// Apply one flattened row: check the contract, evolve the schema, append the typed values.
pub fn apply_row(
    schema: &mut Schema,
    update: &mut SchemaUpdate,
    builders: &mut IndexMap<String, TableBuilder>,
    discards: &mut IndexMap<String, Discards>,
    row: &FlatRow,
    rules: &RowRules<'_>,
) -> Result<Applied, RowError> {
    let Some(columns_mode) = admit_table(schema, discards, row, rules)? else {
        return Ok(Applied::Discarded);
    };
    let planner = Planner {
        existing: schema.tables.get(&row.table),
        row,
        rules,
        columns_mode,
    };
    let plan = match planner.plan() {
        Ok(plan) => plan,
        Err(RowError::Discard) => {
            discards.entry(row.table.clone()).or_default().rows += 1;
            return Ok(Applied::Discarded);
        }
        Err(e) => return Err(e),
    };
    if !plan.dropped.is_empty() {
        let d = discards.entry(row.table.clone()).or_default();
        for c in &plan.dropped {
            d.value(c);
        }
    }
    apply(schema, update, builders, row, rules, plan.actions)?;
    Ok(Applied::Accepted)
}

/// Whether the row's table takes it: `Some(mode)` the `columns` contract mode its cells
/// follow (`evolve` for a table that has not seen data), `None` when the row is discarded
/// (counted).
fn admit_table(
    schema: &Schema,
    discards: &mut IndexMap<String, Discards>,
    row: &FlatRow,
    rules: &RowRules<'_>,
) -> Result<Option<ContractMode>, RowError> {
    let contract = rules.contract;
    let existing = schema.tables.get(&row.table);
    if let Some(t) = existing
        && t.parent != row.parent
    {
        return Err(RowError::Shape(format!(
            "nested table `{}` is reached from `{}` and from `{}`: two paths of the record normalize to the same table name (e.g. a key `list` under a list of lists); rename the key or lower max_table_nesting",
            row.table,
            t.parent.as_deref().unwrap_or("(root)"),
            row.parent.as_deref().unwrap_or("(root)"),
        )));
    }
    if existing.is_none() {
        let tables = schema
            .tables
            .keys()
            .filter(|t| !t.starts_with("_dlt"))
            .count();
        if tables >= rules.caps.max_tables {
            if matches!(
                contract.tables,
                ContractMode::DiscardRow | ContractMode::DiscardValue
            ) {
                discards.entry(row.table.clone()).or_default().rows += 1;
                return Ok(None);
            }
            return Err(RowError::Limit(format!(
                "a new table `{}` would take schema `{}` past {} tables (limits.max_tables)",
                row.table, schema.name, rules.caps.max_tables
            )));
        }
    }
    // a table that has not seen data is new: `tables` decides, and all its columns evolve
    let is_new = existing.is_none_or(|t| !t.seen_data());
    if !is_new {
        return Ok(Some(contract.columns));
    }
    match contract.tables {
        ContractMode::Evolve => Ok(Some(ContractMode::Evolve)),
        ContractMode::Freeze => Err(violation(
            row,
            None,
            ContractEntity::Tables,
            contract.tables,
        )),
        _ => {
            discards.entry(row.table.clone()).or_default().rows += 1;
            Ok(None)
        }
    }
}

fn violation(
    row: &FlatRow,
    column: Option<&str>,
    entity: ContractEntity,
    mode: ContractMode,
) -> RowError {
    RowError::Contract(Violation {
        table: row.table.clone(),
        column: column.map(str::to_owned),
        entity,
        mode,
        data: crate::row_json(&row.cells),
    })
}

/// Plans the cells of one admitted row against its table as it is.
struct Planner<'a> {
    existing: Option<&'a Table>,
    row: &'a FlatRow,
    rules: &'a RowRules<'a>,
    columns_mode: ContractMode,
}

impl Planner<'_> {
    fn plan(&self) -> Result<RowPlan, RowError> {
        let mut plan = RowPlan {
            actions: Vec::with_capacity(self.row.cells.len()),
            dropped: Vec::new(),
        };
        let mut columns = self.existing.map_or(0, |t| t.columns.len());
        for (idx, (name, cell)) in self.row.cells.iter().enumerate() {
            let complete = self
                .existing
                .and_then(|t| t.columns.get(name))
                .filter(|c| c.is_complete());
            match complete {
                Some(col) => self.known_cell(col, idx, name, cell, &mut plan)?,
                None => self.new_cell(idx, name, cell, &mut columns, &mut plan)?,
            }
        }
        Ok(plan)
    }

    /// A value for a complete column: coerced to it, or into a variant.
    fn known_cell(
        &self,
        col: &Column,
        idx: usize,
        name: &str,
        cell: &Cell,
        plan: &mut RowPlan,
    ) -> Result<(), RowError> {
        let t = col.data_type.unwrap_or(DataType::Text);
        match coerce(cell, t, decimal_of(col).1, col.timezone.unwrap_or(true)) {
            Some(Typed::Null) => Ok(()),
            Some(v) => {
                plan.actions.push(Action::Push(idx, v));
                Ok(())
            }
            // dlt: a value a variant column cannot take gets its own variant
            // (`a__v_double__v_text`); only the value being placed is final
            None => self.variant(idx, name, cell, plan),
        }
    }

    /// A value for a column the table has not completed: infer its type (or a preferred
    /// one), then create the column under the contract and the column cap.
    fn new_cell(
        &self,
        idx: usize,
        name: &str,
        cell: &Cell,
        columns: &mut usize,
        plan: &mut RowPlan,
    ) -> Result<(), RowError> {
        let rules = self.rules;
        let system = name.starts_with("_dlt");
        let Some((mut t, mut ps)) = infer_type(cell) else {
            // a null never creates a column; remember it as incomplete
            if self.columns_mode == ContractMode::Evolve || system {
                plan.actions.push(Action::Incomplete(idx));
            }
            return Ok(());
        };
        if t == DataType::Timestamp && !rules.detect_timestamps {
            t = DataType::Text;
        }
        let mut needs_variant = false;
        if !system && let Some(p) = rules.preferred.get(name) {
            let scale = match p {
                DataType::Decimal => DEFAULT_DECIMAL.1,
                _ => 0,
            };
            if coerce(cell, p, scale, true).is_some() {
                t = p;
                ps = None;
            } else {
                // dlt: a value the preferred type cannot take goes to a variant
                needs_variant = true;
            }
        }
        let known = self.existing.is_some_and(|t| t.columns.contains_key(name));
        if !system && !known && !needs_variant && *columns >= rules.caps.max_columns {
            return match rules.contract.columns {
                ContractMode::DiscardRow => Err(RowError::Discard),
                ContractMode::DiscardValue => {
                    plan.dropped.push(name.to_owned());
                    Ok(())
                }
                _ => Err(RowError::Limit(format!(
                    "column `{name}` would take table `{}` past {} columns (limits.max_columns)",
                    self.row.table, rules.caps.max_columns
                ))),
            };
        }
        if needs_variant {
            return self.variant(idx, name, cell, plan);
        }
        if system || self.columns_mode == ContractMode::Evolve {
            if !known {
                *columns += 1;
            }
            plan.actions.push(Action::New(new_column(name, t, ps), idx));
            return Ok(());
        }
        match self.columns_mode {
            ContractMode::Freeze => Err(violation(
                self.row,
                Some(name),
                ContractEntity::Columns,
                ContractMode::Freeze,
            )),
            ContractMode::DiscardRow => Err(RowError::Discard),
            _ => {
                plan.dropped.push(name.to_owned());
                Ok(())
            }
        }
    }

    /// A value that needs a variant column (`name__v_<type>`): the `data_type` contract
    /// decides whether it may be created.
    fn variant(
        &self,
        idx: usize,
        name: &str,
        cell: &Cell,
        plan: &mut RowPlan,
    ) -> Result<(), RowError> {
        let Some(vt) = cell_type(cell) else {
            return Ok(());
        };
        let variant = make_path(&[name, &format!("v_{vt}")], self.rules.max_identifier_len);
        if let Some(vcol) = self
            .existing
            .and_then(|t| t.columns.get(&variant))
            .filter(|c| c.is_complete())
        {
            let vtype = vcol.data_type.unwrap_or(vt);
            let v =
                coerce(cell, vtype, decimal_of(vcol).1, true).ok_or_else(|| RowError::Coerce {
                    column: variant.clone(),
                    reason: format!("cannot coerce {cell:?} to `{vtype}`"),
                })?;
            plan.actions.push(Action::PushTo(variant, v));
            return Ok(());
        }
        match self.rules.contract.data_type {
            ContractMode::Evolve => {
                let mut col = Column::data(&variant, self.variant_type(cell, vt));
                col.variant = true;
                col.description = Some(format!("Variant of column {name} generated by dlt"));
                if vt == DataType::Decimal {
                    col.precision = Some(38);
                    col.scale = Some(0);
                }
                plan.actions.push(Action::New(col, idx));
                Ok(())
            }
            ContractMode::Freeze => Err(violation(
                self.row,
                Some(&variant),
                ContractEntity::DataType,
                ContractMode::Freeze,
            )),
            ContractMode::DiscardRow => Err(RowError::Discard),
            ContractMode::DiscardValue => {
                plan.dropped.push(name.to_owned());
                Ok(())
            }
        }
    }

    /// The type of a new variant column: named after the value's own type (`__v_text`), typed
    /// as detection finds it — dlt's variant of an ISO timestamp string is `x__v_text`, typed
    /// timestamp.
    fn variant_type(&self, cell: &Cell, named: DataType) -> DataType {
        match infer_type(cell) {
            Some((DataType::Timestamp, _)) if self.rules.detect_timestamps => DataType::Timestamp,
            _ => named,
        }
    }
}

/// Apply a passed row's plan: create its table when new, then each action on the table and
/// the table's builder.
fn apply(
    schema: &mut Schema,
    update: &mut SchemaUpdate,
    builders: &mut IndexMap<String, TableBuilder>,
    row: &FlatRow,
    rules: &RowRules<'_>,
    actions: Vec<Action>,
) -> Result<(), RowError> {
    if !schema.tables.contains_key(&row.table) {
        schema.tables.insert(
            row.table.clone(),
            Table {
                name: row.table.clone(),
                parent: row.parent.clone(),
                resource: row.parent.is_none().then(|| rules.resource.to_owned()),
                ..Default::default()
            },
        );
        update.record_table(&row.table);
    }
    let at = match builders.get_index_of(&row.table) {
        Some(i) => i,
        None => {
            builders
                .insert_full(row.table.clone(), TableBuilder::default())
                .0
        }
    };
    let builder = &mut builders[at];
    let row_idx = builder.next_row();
    let table = schema
        .tables
        .get_mut(&row.table)
        .ok_or_else(|| RowError::Internal(format!("table `{}` vanished", row.table)))?;
    let cell_at = |idx: usize| {
        row.cells
            .get_index(idx)
            .ok_or_else(|| RowError::Internal(format!("cell {idx} vanished")))
    };
    for action in actions {
        match action {
            Action::Push(idx, v) => push(builder, cell_at(idx)?.0, row_idx, v),
            Action::PushTo(name, v) => push(builder, &name, row_idx, v),
            Action::Incomplete(idx) => {
                let name = cell_at(idx)?.0;
                if !table.columns.contains_key(name) {
                    table.columns.insert(
                        name.clone(),
                        Column {
                            name: name.clone(),
                            nullable: true,
                            ..Default::default()
                        },
                    );
                }
            }
            Action::New(col, idx) => {
                let name = complete_column(table, update, &row.table, col);
                let cell = cell_at(idx)?.1;
                let c = &table.columns[&name];
                let t = c.data_type.unwrap_or(DataType::Text);
                match coerce(cell, t, decimal_of(c).1, c.timezone.unwrap_or(true)) {
                    Some(Typed::Null) => {}
                    Some(v) => push(builder, &name, row_idx, v),
                    None => {
                        return Err(RowError::Coerce {
                            column: name,
                            reason: format!("cannot coerce {cell:?} to `{t}`"),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

/// Create `col` in `table`, or complete the incomplete column of its name; returns its name.
fn complete_column(
    table: &mut Table,
    update: &mut SchemaUpdate,
    table_name: &str,
    col: Column,
) -> String {
    let name = col.name.clone();
    match table.columns.get_mut(&name) {
        // made by an earlier cell of this row (two keys normalized alike)
        Some(c) if c.is_complete() => {}
        // an incomplete column may carry hints (a primary key is not null, a unique or
        // precision hint without a type): the hints stay, as in dlt
        Some(incomplete) => {
            incomplete.data_type = col.data_type;
            incomplete.precision = incomplete.precision.or(col.precision);
            incomplete.scale = incomplete.scale.or(col.scale);
            incomplete.nullable &= col.nullable;
            incomplete.unique |= col.unique;
            incomplete.row_key = col.row_key;
            incomplete.parent_key = col.parent_key;
            incomplete.root_key = col.root_key;
            incomplete.variant = col.variant;
            if incomplete.description.is_none() {
                incomplete.description = col.description;
            }
            update.record_column(table_name, &name);
        }
        None => {
            table.columns.insert(name.clone(), col);
            update.record_column(table_name, &name);
        }
    }
    name
}
