//! Columnar builders that become Arrow batches, and what bounds a schema's growth: caps,
//! preferred types, discard counts. How a row evolves the schema is in `evolve`.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int64Builder,
    StringBuilder, Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType as ArrowType, Field, Schema as ArrowSchema, TimeUnit};
use indexmap::IndexMap;
use sluice_schema::{
    Column, DLT_ID, DLT_LIST_IDX, DLT_LOAD_ID, DLT_PARENT_ID, DLT_ROOT_ID, DataType, Table,
};

use crate::NormalizeError;
use crate::coerce::Typed;

/// Default decimal precision and scale (dlt: `decimal` → DECIMAL(38,9)).
pub const DEFAULT_DECIMAL: (u32, u32) = (38, 9);

/// Values of one table collected for the current batch, column by column.
#[derive(Default)]
pub struct TableBuilder {
    rows: u32,
    columns: IndexMap<String, Vec<(u32, Typed)>, foldhash::fast::RandomState>,
}

impl TableBuilder {
    /// Start a row; returns its index in the batch.
    pub(crate) fn next_row(&mut self) -> u32 {
        self.rows += 1;
        self.rows - 1
    }
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

/// Rows and values a contract dropped, per table.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Discards {
    pub rows: u64,
    pub values: u64,
    /// columns whose values were dropped (first 20)
    pub columns: Vec<String>,
}

impl Discards {
    pub(crate) fn value(&mut self, column: &str) {
        self.values += 1;
        if self.columns.len() < 20 && !self.columns.iter().any(|c| c == column) {
            self.columns.push(column.to_owned());
        }
    }
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

pub(crate) fn new_column(name: &str, t: DataType, ps: Option<(u32, u32)>) -> Column {
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

pub(crate) fn push(builder: &mut TableBuilder, column: &str, row: u32, value: Typed) {
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
