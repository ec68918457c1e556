//! Arrow pages: a connector's Arrow IPC stream → batches of the resource's root table, the way
//! dlt takes an Arrow table — column names normalized, dlt types from Arrow types
//! ([`dlt_type`]), struct, list and map columns as json, no nested tables, and neither
//! `_dlt_load_id` nor `_dlt_id` unless [`ArrowIds`] asks (an scd2 table always gets the row
//! hash `_dlt_id` its merge needs; dlt fails there instead) — under the resource's contract.

use std::io::Cursor;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray};
use arrow_ipc::reader::StreamReader;
use arrow_schema::{DataType as ArrowType, Field, FieldRef, Schema as ArrowSchema, TimeUnit};
use sluice_schema::{Column, ContractEntity, ContractMode, DataType, Schema};

use crate::resource::ResourceTable;
use crate::{NormalizeError, Normalizer, cut};

/// Which dlt columns an Arrow page gets (dlt's `[normalize.parquet_normalizer]`
/// `add_dlt_load_id` and `add_dlt_id`; both off by default, as in dlt).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArrowIds {
    pub load_id: bool,
    pub row_id: bool,
}

/// The dlt type of a column holding `ty`, as dlt's `get_column_type_from_py_arrow` gives it:
/// `None` for the null type (the column stays incomplete until a value comes).
pub fn dlt_type(ty: &ArrowType) -> Result<Option<Column>, String> {
    let col = |data_type, precision, scale| Column {
        data_type: Some(data_type),
        precision,
        scale,
        nullable: true,
        ..Default::default()
    };
    let unit_precision = |u: &TimeUnit| match u {
        TimeUnit::Second => Some(0),
        TimeUnit::Millisecond => Some(3),
        TimeUnit::Microsecond | TimeUnit::Nanosecond => None,
    };
    Ok(Some(match ty {
        ArrowType::Null => return Ok(None),
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => {
            col(DataType::Text, None, None)
        }
        ArrowType::Float16 | ArrowType::Float32 | ArrowType::Float64 => {
            col(DataType::Double, None, None)
        }
        ArrowType::Boolean => col(DataType::Bool, None, None),
        ArrowType::Timestamp(unit, _) => col(DataType::Timestamp, unit_precision(unit), None),
        ArrowType::Date32 | ArrowType::Date64 => col(DataType::Date, None, None),
        ArrowType::Time32(unit) | ArrowType::Time64(unit) => {
            col(DataType::Time, unit_precision(unit), None)
        }
        ArrowType::Int8 | ArrowType::UInt8 => col(DataType::Bigint, Some(8), None),
        ArrowType::Int16 | ArrowType::UInt16 => col(DataType::Bigint, Some(16), None),
        ArrowType::Int32 | ArrowType::UInt32 => col(DataType::Bigint, Some(32), None),
        ArrowType::Int64 | ArrowType::UInt64 => col(DataType::Bigint, None, None),
        ArrowType::FixedSizeBinary(n) => col(DataType::Binary, Some(*n as u32), None),
        ArrowType::Binary | ArrowType::LargeBinary | ArrowType::BinaryView => {
            col(DataType::Binary, None, None)
        }
        ArrowType::Decimal128(p, s) | ArrowType::Decimal256(p, s) => col(
            DataType::Decimal,
            Some(u32::from(*p)),
            Some((*s).max(0) as u32),
        ),
        ArrowType::Struct(_)
        | ArrowType::List(_)
        | ArrowType::LargeList(_)
        | ArrowType::FixedSizeList(..)
        | ArrowType::ListView(_)
        | ArrowType::LargeListView(_)
        | ArrowType::Map(..) => col(DataType::Json, None, None),
        ArrowType::Dictionary(_, value) => return dlt_type(value),
        other => return Err(format!("Arrow type {other} has no dlt type")),
    }))
}

/// What happens to one field of the page.
enum Fate {
    /// loaded into this column of the table
    Keep(String),
    /// dropped (`discard_value` on a new column, or the null type with no column yet)
    Drop,
    /// rows with a value here are dropped (`discard_row` on a new column)
    DropRows,
}

impl Normalizer {
    /// Which dlt columns Arrow pages get (see [`ArrowIds`]).
    pub fn set_arrow_ids(&mut self, ids: ArrowIds) {
        self.arrow_ids = ids;
    }

    /// Normalize one page given as an Arrow IPC stream into the resource's root table.
    pub fn add_arrow_page(
        &mut self,
        schema: &mut Schema,
        resource: &ResourceTable,
        page_seq: u64,
        bytes: &[u8],
    ) -> Result<(), NormalizeError> {
        if resource.json_schema.is_some() {
            return Err(arrow_err(format!(
                "resource `{}` has a JSON Schema, which checks JSON records; send JSON pages or drop the schema",
                resource.resource
            )));
        }
        let reader = StreamReader::try_new(Cursor::new(bytes), None)
            .map_err(|e| arrow_err(format!("not an Arrow IPC stream: {e}")))?;
        let fields = reader.schema();
        let root = self.ensure_root_table(schema, resource);
        let contract = resource.effective_contract(schema, &root);
        let is_new = schema.tables.get(&root).is_none_or(|t| !t.seen_data());
        let mut batches = Vec::new();
        for batch in reader {
            batches.push(batch.map_err(|e| arrow_err(format!("a record batch: {e}")))?);
        }
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if rows == 0 {
            return Ok(());
        }
        if is_new && contract.tables != ContractMode::Evolve {
            if contract.tables == ContractMode::Freeze {
                return Err(self.violation(schema, &root, None, ContractEntity::Tables, &batches));
            }
            self.discards.entry(root.clone()).or_default().rows += rows as u64;
            return Ok(());
        }
        let columns_mode = if is_new {
            ContractMode::Evolve
        } else {
            contract.columns
        };
        let fates = self.plan_fields(schema, &root, &fields, columns_mode, &batches)?;
        let mut first = 0u64;
        for batch in batches {
            let n = batch.num_rows() as u64;
            let out =
                self.arrow_batch(schema, resource, &root, &fates, batch, (page_seq, first))?;
            first += n;
            *self.row_counts.entry(root.clone()).or_default() += out.num_rows() as u64;
            self.ready.push((root.clone(), out));
        }
        Ok(())
    }

    /// Each field's fate, adding the columns the page brings (under `mode` for new columns).
    fn plan_fields(
        &mut self,
        schema: &mut Schema,
        root: &str,
        fields: &ArrowSchema,
        mode: ContractMode,
        batches: &[RecordBatch],
    ) -> Result<Vec<Fate>, NormalizeError> {
        let mut names: Vec<(String, &str)> = Vec::new();
        let mut fates = Vec::new();
        for field in fields.fields() {
            let name = self.column_name(field.name());
            if let Some((_, other)) = names.iter().find(|(n, _)| *n == name) {
                return Err(arrow_err(format!(
                    "fields `{other}` and `{}` both normalize to column `{name}`",
                    field.name()
                )));
            }
            names.push((name.clone(), field.name()));
            let table = schema
                .tables
                .get(root)
                .ok_or_else(|| NormalizeError::Internal(format!("no table `{root}`")))?;
            let known = table.columns.get(&name);
            if known.is_some_and(Column::is_complete) {
                fates.push(Fate::Keep(name));
                continue;
            }
            let inferred = dlt_type(field.data_type())
                .map_err(|e| arrow_err(format!("field `{}`: {e}", field.name())))?;
            let Some(inferred) = inferred else {
                fates.push(Fate::Drop);
                continue;
            };
            // a hinted column without a type takes the page's; a new one is the contract's
            if known.is_none() {
                match mode {
                    ContractMode::Evolve => {}
                    ContractMode::Freeze => {
                        return Err(self.violation(
                            schema,
                            root,
                            Some(&name),
                            ContractEntity::Columns,
                            batches,
                        ));
                    }
                    ContractMode::DiscardValue => {
                        fates.push(Fate::Drop);
                        continue;
                    }
                    ContractMode::DiscardRow => {
                        fates.push(Fate::DropRows);
                        continue;
                    }
                }
                if table.columns.len() >= self.caps.max_columns {
                    return Err(arrow_err(format!(
                        "column `{name}` would take table `{root}` past {} columns (limits.max_columns)",
                        self.caps.max_columns
                    )));
                }
            }
            self.add_column(schema, root, &name, inferred);
            fates.push(Fate::Keep(name));
        }
        Ok(fates)
    }

    /// The column a field's name becomes (dlt's naming of an Arrow column).
    fn column_name(&self, field: &str) -> String {
        let normalized = sluice_schema::normalize_identifier(field);
        sluice_schema::shorten_identifier(&normalized, field, self.max_identifier_len)
    }

    /// Add (or complete) column `name` of `root` with the type inferred from the page.
    fn add_column(&mut self, schema: &mut Schema, root: &str, name: &str, inferred: Column) {
        let Some(table) = schema.tables.get_mut(root) else {
            return;
        };
        let col = table
            .columns
            .entry(name.to_owned())
            .or_insert_with(|| Column {
                name: name.to_owned(),
                nullable: true,
                ..Default::default()
            });
        col.data_type = inferred.data_type;
        col.precision = col.precision.or(inferred.precision);
        col.scale = col.scale.or(inferred.scale);
        self.update.record_column(root, name);
    }

    /// One input batch as a batch of the table: fields cast to their columns' types, rows a
    /// `discard_row` column holds values in left out, dlt's columns added as asked.
    fn arrow_batch(
        &mut self,
        schema: &mut Schema,
        resource: &ResourceTable,
        root: &str,
        fates: &[Fate],
        batch: RecordBatch,
        (page_seq, first): (u64, u64),
    ) -> Result<RecordBatch, NormalizeError> {
        let mut keep: Option<BooleanArray> = None;
        let mut out: Vec<(Column, ArrayRef)> = Vec::new();
        let table = schema
            .tables
            .get(root)
            .ok_or_else(|| NormalizeError::Internal(format!("no table `{root}`")))?;
        for (fate, array) in fates.iter().zip(batch.columns()) {
            match fate {
                Fate::Drop => {}
                Fate::DropRows => {
                    let absent: BooleanArray =
                        (0..array.len()).map(|i| Some(array.is_null(i))).collect();
                    keep = Some(match keep {
                        None => absent,
                        Some(k) => k
                            .iter()
                            .zip(absent.iter())
                            .map(|(x, y)| Some(x == Some(true) && y == Some(true)))
                            .collect(),
                    });
                }
                Fate::Keep(name) => {
                    let col = table.columns.get(name).ok_or_else(|| {
                        NormalizeError::Internal(format!("no column `{name}` in `{root}`"))
                    })?;
                    out.push((col.clone(), convert(root, col, array)?));
                }
            }
        }
        let mut ids = self.arrow_ids;
        if resource.is_scd2() {
            ids.row_id = true;
        }
        let rows = batch.num_rows();
        if ids.load_id {
            let col = self.system_column(schema, root, Column::dlt_load_id());
            let ids: StringArray = std::iter::repeat_n(Some(self.load_id.as_str()), rows).collect();
            out.push((col, Arc::new(ids)));
        }
        if ids.row_id {
            let col = self.system_column(schema, root, Column::dlt_id());
            let ids = if resource.is_scd2() {
                row_hashes(&out, rows)?
            } else {
                let ids = sluice_schema::salted_row_ids(&self.salt, page_seq, first, rows);
                ids.iter().map(|i| std::str::from_utf8(i).ok()).collect()
            };
            out.push((col, Arc::new(ids)));
        }
        let fields: Vec<FieldRef> = out
            .iter()
            .map(|(c, a)| Arc::new(Field::new(&c.name, a.data_type().clone(), true)))
            .collect();
        let arrays: Vec<ArrayRef> = out.into_iter().map(|(_, a)| a).collect();
        let made = RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), arrays)
            .map_err(|e| NormalizeError::Internal(format!("an Arrow batch of `{root}`: {e}")))?;
        match keep {
            None => Ok(made),
            Some(k) => {
                let dropped = (k.len() - k.true_count()) as u64;
                if dropped > 0 {
                    self.discards.entry(root.to_owned()).or_default().rows += dropped;
                }
                arrow_select::filter::filter_record_batch(&made, &k).map_err(|e| {
                    NormalizeError::Internal(format!("discarding rows of `{root}`: {e}"))
                })
            }
        }
    }

    /// A dlt system column of `root`, added to the schema the first time.
    fn system_column(&mut self, schema: &mut Schema, root: &str, col: Column) -> Column {
        if let Some(table) = schema.tables.get_mut(root) {
            if !table.columns.contains_key(&col.name) {
                self.update.record_column(root, &col.name);
            }
            return table.columns.entry(col.name.clone()).or_insert(col).clone();
        }
        col
    }

    /// The error of a frozen contract, showing the page's first row.
    fn violation(
        &self,
        schema: &Schema,
        root: &str,
        column: Option<&str>,
        entity: ContractEntity,
        batches: &[RecordBatch],
    ) -> NormalizeError {
        NormalizeError::Contract {
            schema: schema.name.clone(),
            table: root.to_owned(),
            column: column.map(str::to_owned),
            entity,
            mode: ContractMode::Freeze,
            record: 0,
            data: batches.first().map(first_row_json).unwrap_or_default(),
        }
    }
}

fn arrow_err(reason: String) -> NormalizeError {
    NormalizeError::Arrow(reason)
}

/// `array` as the Arrow type the loaders take for `col`: json columns as JSON text, the rest
/// cast (failing on a value that does not fit rather than nulling it).
fn convert(root: &str, col: &Column, array: &ArrayRef) -> Result<ArrayRef, NormalizeError> {
    let err = |reason: String| NormalizeError::Coerce {
        table: root.to_owned(),
        column: col.name.clone(),
        reason,
    };
    if col.data_type == Some(DataType::Json) && !matches!(array.data_type(), ArrowType::Utf8) {
        return json_text(array).map_err(err);
    }
    let target = crate::arrow_type(col);
    if array.data_type() == &target {
        return Ok(array.clone());
    }
    let options = arrow_cast::CastOptions {
        safe: false,
        ..Default::default()
    };
    arrow_cast::cast_with_options(array, &target, &options).map_err(|e| {
        err(format!(
            "the Arrow page's {} values do not fit the column's {}: {e}",
            array.data_type(),
            target
        ))
    })
}

/// Each value of a nested array as compact JSON text (nulls stay null).
fn json_text(array: &ArrayRef) -> Result<ArrayRef, String> {
    let field: FieldRef = Arc::new(Field::new("v", array.data_type().clone(), true));
    let options = arrow_json::writer::EncoderOptions::default().with_explicit_nulls(true);
    let mut encoder = arrow_json::writer::make_encoder(&field, array.as_ref(), &options)
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut out: Vec<Option<String>> = Vec::with_capacity(array.len());
    for i in 0..array.len() {
        if encoder.is_null(i) {
            out.push(None);
            continue;
        }
        buf.clear();
        encoder.encode(i, &mut buf);
        out.push(Some(String::from_utf8_lossy(&buf).into_owned()));
    }
    Ok(Arc::new(StringArray::from(out)))
}

/// scd2 row hashes: each row's values (system columns aside) as JSON, hashed.
fn row_hashes(columns: &[(Column, ArrayRef)], rows: usize) -> Result<StringArray, NormalizeError> {
    let data: Vec<&(Column, ArrayRef)> = columns
        .iter()
        .filter(|(c, _)| !c.name.starts_with("_dlt_"))
        .collect();
    let fields: Vec<FieldRef> = data
        .iter()
        .map(|(c, a)| Arc::new(Field::new(&c.name, a.data_type().clone(), true)))
        .collect();
    let batch = RecordBatch::try_new_with_options(
        Arc::new(ArrowSchema::new(fields)),
        data.iter().map(|(_, a)| a.clone()).collect(),
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(|e| NormalizeError::Internal(format!("row hashes: {e}")))?;
    let mut w = arrow_json::LineDelimitedWriter::new(Vec::new());
    w.write(&batch)
        .map_err(|e| NormalizeError::Internal(format!("row hashes: {e}")))?;
    w.finish()
        .map_err(|e| NormalizeError::Internal(format!("row hashes: {e}")))?;
    let text = w.into_inner();
    let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').take(rows).collect();
    Ok(lines
        .iter()
        .map(|l| Some(sluice_schema::digest_id(l)))
        .collect())
}

/// The first row of a batch as JSON, cut for an error message.
fn first_row_json(batch: &RecordBatch) -> String {
    let mut w = arrow_json::LineDelimitedWriter::new(Vec::new());
    if w.write(&batch.slice(0, batch.num_rows().min(1))).is_err() || w.finish().is_err() {
        return String::new();
    }
    cut(String::from_utf8_lossy(&w.into_inner()).trim().to_owned())
}
