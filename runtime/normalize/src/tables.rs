//! Schema evolution over flattened rows and columnar builders that become Arrow batches.
//!
//! Rows are applied in record order, so the same input gives the same schema and batches for
//! any number of threads: parallelism lives in flattening, evolution is one ordered pass.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int64Builder,
    StringBuilder, Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType as ArrowType, Field, Schema as ArrowSchema, TimeUnit};
use indexmap::IndexMap;
use sluice_schema::{
    Column, ContractEntity, ContractMode, DLT_ID, DLT_LIST_IDX, DLT_LOAD_ID, DLT_PARENT_ID,
    DLT_ROOT_ID, DataType, Schema, SchemaContract, SchemaUpdate, Table, make_path,
};

use crate::NormalizeError;
use crate::coerce::{Typed, cell_type, coerce, infer_type};
use crate::flatten::{Cell, FlatRow};

/// Default decimal precision and scale (dlt: `decimal` → DECIMAL(38,9)).
pub const DEFAULT_DECIMAL: (u32, u32) = (38, 9);

/// Values of one table collected for the current batch, column by column.
#[derive(Default)]
pub struct TableBuilder {
    rows: u32,
    columns: IndexMap<String, Vec<(u32, Typed)>, foldhash::fast::RandomState>,
}

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

/// How far data may grow a schema: a connector (or a hostile API) cannot create a million
/// columns or tables in the user's database. A row that would pass a cap fails its page, or
/// is dropped when the contract for that entity discards (`discard_row` / `discard_value`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchemaCaps {
    /// columns of one table (`limits.max_columns`; PostgreSQL's own limit is 1,600)
    pub max_columns: usize,
    /// data tables of one schema, nested tables included (`limits.max_tables`)
    pub max_tables: usize,
    /// levels objects and lists may nest in a record (`limits.max_nesting_depth`)
    pub max_depth: usize,
    /// bytes of one key, before the destination shortens it (`limits.max_identifier_bytes`)
    pub max_key_bytes: usize,
}

impl Default for SchemaCaps {
    fn default() -> Self {
        SchemaCaps {
            max_columns: 1_600,
            max_tables: 1_000,
            max_depth: 64,
            max_key_bytes: 1_024,
        }
    }
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

/// Rows and values a contract dropped, per table.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Discards {
    pub rows: u64,
    pub values: u64,
    /// columns whose values were dropped (first 20)
    pub columns: Vec<String>,
}

impl Discards {
    fn value(&mut self, column: &str) {
        self.values += 1;
        if self.columns.len() < 20 && !self.columns.iter().any(|c| c == column) {
            self.columns.push(column.to_owned());
        }
    }
}

/// One planned effect of a cell. Planned first, applied after the whole row passed its
/// contract, so a discarded row changes nothing.
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

/// Apply one flattened row: check the contract, evolve the schema, append the typed values.
pub fn apply_row(
    schema: &mut Schema,
    update: &mut SchemaUpdate,
    builders: &mut IndexMap<String, TableBuilder>,
    discards: &mut IndexMap<String, Discards>,
    row: &FlatRow,
    rules: &RowRules<'_>,
) -> Result<Applied, RowError> {
    let contract = rules.contract;
    let existing = schema.tables.get(&row.table);
    // a table that has not seen data is new: `tables` decides, and all its columns evolve
    let is_new = existing.is_none_or(|t| !t.seen_data());
    let violation = |column: Option<&str>, entity: ContractEntity, mode: ContractMode| {
        RowError::Contract(Violation {
            table: row.table.clone(),
            column: column.map(str::to_owned),
            entity,
            mode,
            data: crate::row_json(&row.cells),
        })
    };
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
                return Ok(Applied::Discarded);
            }
            return Err(RowError::Limit(format!(
                "a new table `{}` would take schema `{}` past {} tables (limits.max_tables)",
                row.table, schema.name, rules.caps.max_tables
            )));
        }
    }
    if is_new && contract.tables != ContractMode::Evolve {
        if contract.tables == ContractMode::Freeze {
            return Err(violation(None, ContractEntity::Tables, contract.tables));
        }
        discards.entry(row.table.clone()).or_default().rows += 1;
        return Ok(Applied::Discarded);
    }
    let columns_mode = if is_new {
        ContractMode::Evolve
    } else {
        contract.columns
    };
    let mut actions = Vec::with_capacity(row.cells.len());
    let mut dropped: Vec<String> = Vec::new();
    let mut columns = existing.map_or(0, |t| t.columns.len());
    for (idx, (name, cell)) in row.cells.iter().enumerate() {
        let complete = existing
            .and_then(|t| t.columns.get(name))
            .filter(|c| c.is_complete());
        // a value that needs a variant column: `data_type` decides
        let mut variant_of = |name: &str, cell: &Cell, actions: &mut Vec<Action>| {
            let Some(vt) = cell_type(cell) else {
                return Ok(());
            };
            let variant = make_path(&[name, &format!("v_{vt}")], rules.max_identifier_len);
            if let Some(vcol) = existing
                .and_then(|t| t.columns.get(&variant))
                .filter(|c| c.is_complete())
            {
                let vtype = vcol.data_type.unwrap_or(vt);
                let v = coerce(cell, vtype, vcol.scale.unwrap_or(0), true).ok_or_else(|| {
                    RowError::Coerce {
                        column: variant.clone(),
                        reason: format!("cannot coerce {cell:?} to `{vtype}`"),
                    }
                })?;
                actions.push(Action::PushTo(variant, v));
                return Ok(());
            }
            match contract.data_type {
                ContractMode::Evolve => {
                    let mut col = Column::data(&variant, vt);
                    col.variant = true;
                    col.description = Some(format!("Variant of column {name} generated by dlt"));
                    if vt == DataType::Decimal {
                        col.precision = Some(38);
                        col.scale = Some(0);
                    }
                    actions.push(Action::New(col, idx));
                    Ok(())
                }
                ContractMode::Freeze => Err(violation(
                    Some(&variant),
                    ContractEntity::DataType,
                    ContractMode::Freeze,
                )),
                ContractMode::DiscardRow => Err(RowError::Discard),
                ContractMode::DiscardValue => {
                    dropped.push(name.to_owned());
                    Ok(())
                }
            }
        };
        let step = match complete {
            Some(col) => {
                let t = col.data_type.unwrap_or(DataType::Text);
                match coerce(
                    cell,
                    t,
                    col.scale.unwrap_or(0),
                    col.timezone.unwrap_or(true),
                ) {
                    Some(Typed::Null) => Ok(()),
                    Some(v) => {
                        actions.push(Action::Push(idx, v));
                        Ok(())
                    }
                    // dlt: a value a variant column cannot take gets its own variant
                    // (`a__v_double__v_text`); only the value being placed is final
                    None => variant_of(name, cell, &mut actions),
                }
            }
            None => {
                let system = name.starts_with("_dlt");
                let Some((mut t, mut ps)) = infer_type(cell) else {
                    // a null never creates a column; remember it as incomplete
                    if columns_mode == ContractMode::Evolve || system {
                        actions.push(Action::Incomplete(idx));
                    }
                    continue;
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
                let known = existing.is_some_and(|t| t.columns.contains_key(name));
                if !system && !known && !needs_variant && columns >= rules.caps.max_columns {
                    match contract.columns {
                        ContractMode::DiscardRow => Err(RowError::Discard),
                        ContractMode::DiscardValue => {
                            dropped.push(name.clone());
                            Ok(())
                        }
                        _ => Err(RowError::Limit(format!(
                            "column `{name}` would take table `{}` past {} columns (limits.max_columns)",
                            row.table, rules.caps.max_columns
                        ))),
                    }
                } else if needs_variant {
                    variant_of(name, cell, &mut actions)
                } else if system || columns_mode == ContractMode::Evolve {
                    if !known {
                        columns += 1;
                    }
                    actions.push(Action::New(new_column(name, t, ps), idx));
                    Ok(())
                } else {
                    match columns_mode {
                        ContractMode::Freeze => Err(violation(
                            Some(name),
                            ContractEntity::Columns,
                            ContractMode::Freeze,
                        )),
                        ContractMode::DiscardRow => Err(RowError::Discard),
                        _ => {
                            dropped.push(name.clone());
                            Ok(())
                        }
                    }
                }
            }
        };
        match step {
            Ok(()) => {}
            Err(RowError::Discard) => {
                discards.entry(row.table.clone()).or_default().rows += 1;
                return Ok(Applied::Discarded);
            }
            Err(e) => return Err(e),
        }
    }
    if !dropped.is_empty() {
        let d = discards.entry(row.table.clone()).or_default();
        for c in &dropped {
            d.value(c);
        }
    }
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
    let row_idx = builder.rows;
    builder.rows += 1;
    let table = schema
        .tables
        .get_mut(&row.table)
        .ok_or_else(|| RowError::Internal(format!("table `{}` vanished", row.table)))?;
    let cells = &row.cells;
    let cell_at = |idx: usize| {
        cells
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
                let cell = cell_at(idx)?.1;
                let name = col.name.clone();
                match table.columns.get_mut(&name) {
                    // made by an earlier cell of this row (two keys normalized alike)
                    Some(c) if c.is_complete() => {}
                    // an incomplete column may carry hints (a primary key is not null, a
                    // unique or precision hint without a type): the hints stay, as in dlt
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
                        update.record_column(&row.table, &name);
                    }
                    None => {
                        table.columns.insert(name.clone(), col);
                        update.record_column(&row.table, &name);
                    }
                }
                let c = &table.columns[&name];
                let t = c.data_type.unwrap_or(DataType::Text);
                match coerce(cell, t, c.scale.unwrap_or(0), c.timezone.unwrap_or(true)) {
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
    Ok(Applied::Accepted)
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

/// Preferred types of new columns by name (dlt's `settings.preferred_types`): exact names and
/// `re:` patterns, first match in order wins.
#[derive(Debug, Default)]
pub struct PreferredTypes {
    rules: Vec<(Matcher, DataType)>,
}

#[derive(Debug)]
enum Matcher {
    Exact(String),
    Regex(regex::Regex),
}

impl PreferredTypes {
    /// Compile the patterns; a bad regex names its pattern.
    pub fn compile(patterns: &IndexMap<String, DataType>) -> Result<Self, String> {
        let mut rules = Vec::new();
        for (pattern, t) in patterns {
            let m = match pattern.strip_prefix("re:") {
                Some(re) => Matcher::Regex(
                    regex::Regex::new(re)
                        .map_err(|e| format!("preferred type pattern `{pattern}`: {e}"))?,
                ),
                None => Matcher::Exact(pattern.clone()),
            };
            rules.push((m, *t));
        }
        Ok(PreferredTypes { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The preferred type of a column name (regexes search, as Python's `re.search`).
    pub fn get(&self, column: &str) -> Option<DataType> {
        self.rules.iter().find_map(|(m, t)| {
            let hit = match m {
                Matcher::Exact(n) => n == column,
                Matcher::Regex(r) => r.is_match(column),
            };
            hit.then_some(*t)
        })
    }
}

fn new_column(name: &str, t: DataType, ps: Option<(u32, u32)>) -> Column {
    // a system name with a value of another type (a record's own `_dlt_list_idx: 1.5`) is
    // a plain data column of that type
    let mut col = match (name, t) {
        (DLT_ID, DataType::Text) => Column::dlt_id(),
        (DLT_LOAD_ID, DataType::Text) => Column::dlt_load_id(),
        (DLT_PARENT_ID, DataType::Text) => Column::dlt_parent_id(),
        (DLT_LIST_IDX, DataType::Bigint) => Column::dlt_list_idx(),
        (DLT_ROOT_ID, DataType::Text) => Column::dlt_root_id(),
        _ => Column::data(name, t),
    };
    if let Some((p, s)) = ps {
        col.precision = Some(p);
        col.scale = Some(s);
    }
    col
}

fn push(builder: &mut TableBuilder, column: &str, row: u32, value: Typed) {
    match builder.columns.get_mut(column) {
        Some(values) => values.push((row, value)),
        None => {
            builder
                .columns
                .insert(column.to_owned(), vec![(row, value)]);
        }
    }
}

/// The Arrow type of a column.
pub fn arrow_type(col: &Column) -> ArrowType {
    match col.data_type.unwrap_or(DataType::Text) {
        DataType::Text | DataType::Json => ArrowType::Utf8,
        DataType::Bigint => ArrowType::Int64,
        DataType::Double => ArrowType::Float64,
        DataType::Bool => ArrowType::Boolean,
        DataType::Timestamp => ArrowType::Timestamp(
            TimeUnit::Microsecond,
            (col.timezone != Some(false)).then(|| "UTC".into()),
        ),
        DataType::Decimal | DataType::Wei => {
            let (p, s) = decimal_of(col);
            ArrowType::Decimal128(p as u8, s as i8)
        }
        DataType::Date => ArrowType::Date32,
        DataType::Time => ArrowType::Time64(TimeUnit::Microsecond),
        DataType::Binary => ArrowType::Binary,
    }
}

/// Precision and scale of a decimal column.
pub fn decimal_of(col: &Column) -> (u32, u32) {
    match col.data_type {
        Some(DataType::Wei) => (col.precision.unwrap_or(38), col.scale.unwrap_or(0)),
        _ => (
            col.precision.unwrap_or(DEFAULT_DECIMAL.0),
            col.scale.unwrap_or(DEFAULT_DECIMAL.1),
        ),
    }
}

/// Turn a table's collected values into one Arrow batch (columns in schema order).
pub fn build_batch(table: &Table, builder: TableBuilder) -> Result<RecordBatch, NormalizeError> {
    let rows = builder.rows as usize;
    let mut values = builder.columns;
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for col in table.complete_columns() {
        let Some(cells) = values.swap_remove(&col.name) else {
            continue;
        };
        let ty = arrow_type(col);
        fields.push(Field::new(&col.name, ty.clone(), true));
        arrays.push(build_array(&ty, rows, cells, &table.name, &col.name)?);
    }
    let schema = Arc::new(ArrowSchema::new(fields));
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(schema, arrays, &options)
        .map_err(|e| NormalizeError::Internal(format!("table `{}`: {e}", table.name)))
}

fn build_array(
    ty: &ArrowType,
    rows: usize,
    cells: Vec<(u32, Typed)>,
    table: &str,
    column: &str,
) -> Result<ArrayRef, NormalizeError> {
    // dense view: one slot per row, last write wins (key collisions overwrite, as in dlt)
    let mut dense: Vec<Option<Typed>> = vec![None; rows];
    for (r, v) in cells {
        dense[r as usize] = Some(v);
    }
    let mismatch = |v: &Typed| {
        NormalizeError::Internal(format!(
            "table `{table}` column `{column}`: value {v:?} does not fit {ty}"
        ))
    };
    macro_rules! fill {
        ($builder:expr, $variant:ident, $conv:expr) => {{
            let mut b = $builder;
            for slot in dense {
                match slot {
                    None | Some(Typed::Null) => b.append_null(),
                    Some(Typed::$variant(x)) => b.append_value($conv(x)),
                    Some(other) => return Err(mismatch(&other)),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    Ok(match ty {
        ArrowType::Utf8 => {
            let mut b = StringBuilder::with_capacity(rows, rows * 8);
            for slot in dense {
                match slot {
                    None | Some(Typed::Null) => b.append_null(),
                    Some(Typed::Text(s)) | Some(Typed::Json(s)) => {
                        // dlt's loader drops NUL characters from text
                        if s.contains('\0') {
                            b.append_value(s.replace('\0', ""))
                        } else {
                            b.append_value(s)
                        }
                    }
                    Some(other) => return Err(mismatch(&other)),
                }
            }
            Arc::new(b.finish())
        }
        ArrowType::Int64 => fill!(Int64Builder::with_capacity(rows), Bigint, |x| x),
        ArrowType::Float64 => fill!(Float64Builder::with_capacity(rows), Double, |x| x),
        ArrowType::Boolean => fill!(BooleanBuilder::with_capacity(rows), Bool, |x| x),
        ArrowType::Timestamp(_, tz) => fill!(
            TimestampMicrosecondBuilder::with_capacity(rows).with_timezone_opt(tz.clone()),
            Timestamp,
            |x| x
        ),
        ArrowType::Decimal128(p, s) => fill!(
            Decimal128Builder::with_capacity(rows)
                .with_precision_and_scale(*p, *s)
                .map_err(|e| NormalizeError::Internal(e.to_string()))?,
            Decimal,
            |x| x
        ),
        ArrowType::Date32 => fill!(Date32Builder::with_capacity(rows), Date, |x| x),
        ArrowType::Time64(_) => fill!(Time64MicrosecondBuilder::with_capacity(rows), Time, |x| x),
        ArrowType::Binary => fill!(
            BinaryBuilder::with_capacity(rows, rows * 8),
            Binary,
            |x: Vec<u8>| x
        ),
        other => {
            return Err(NormalizeError::Internal(format!(
                "unsupported arrow type {other}"
            )));
        }
    })
}
