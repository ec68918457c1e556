//! Column builders of a chunk: where a key lands in a table ([`Slot`]) and the Arrow builder
//! each column's values are written into.

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int64Builder,
    StringBuilder, Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use arrow_schema::DataType as ArrowType;
use sluice_schema::DataType;

use crate::coerce::{Typed, coerce, parse_timestamp};
use crate::flatten::Cell;

use super::Bail;
use super::scan::V;

/// Where a column name lands in a table.
#[derive(Clone, Copy, Debug)]
pub(super) enum Slot {
    /// a complete column, by position among the table's complete columns
    Col(usize),
    /// a column without a type yet: takes nulls only
    Incomplete(usize),
    /// not in the schema: any value would add it
    Missing,
}

/// One column's builder for a chunk.
pub(super) struct ColOut {
    pub(super) data_type: DataType,
    pub(super) scale: u32,
    pub(super) timezone: bool,
    /// values appended so far (rows below `len` are filled)
    pub(super) len: usize,
    pub(super) builder: Builder,
}

pub(super) enum Builder {
    Utf8(StringBuilder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Decimal(Decimal128Builder),
    Date(Date32Builder),
    Time(Time64MicrosecondBuilder),
    Binary(BinaryBuilder),
}

impl Builder {
    pub(super) fn new(ty: &ArrowType) -> Result<Self, Bail> {
        Ok(match ty {
            ArrowType::Utf8 => Builder::Utf8(StringBuilder::new()),
            ArrowType::Int64 => Builder::Int64(Int64Builder::new()),
            ArrowType::Float64 => Builder::Float64(Float64Builder::new()),
            ArrowType::Boolean => Builder::Bool(BooleanBuilder::new()),
            ArrowType::Timestamp(_, tz) => {
                Builder::Timestamp(TimestampMicrosecondBuilder::new().with_timezone_opt(tz.clone()))
            }
            ArrowType::Decimal128(p, s) => Builder::Decimal(
                Decimal128Builder::new()
                    .with_precision_and_scale(*p, *s)
                    .map_err(|_| Bail("decimal precision"))?,
            ),
            ArrowType::Date32 => Builder::Date(Date32Builder::new()),
            ArrowType::Time64(_) => Builder::Time(Time64MicrosecondBuilder::new()),
            ArrowType::Binary => Builder::Binary(BinaryBuilder::new()),
            _ => return Err(Bail("arrow type")),
        })
    }

    pub(super) fn append_null(&mut self) {
        match self {
            Builder::Utf8(b) => b.append_null(),
            Builder::Int64(b) => b.append_null(),
            Builder::Float64(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Timestamp(b) => b.append_null(),
            Builder::Decimal(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Time(b) => b.append_null(),
            Builder::Binary(b) => b.append_null(),
        }
    }

    pub(super) fn append_str(&mut self, s: &str) -> Result<(), Bail> {
        let Builder::Utf8(b) = self else {
            return Err(Bail("text into a non-text builder"));
        };
        // dlt's loader drops NUL characters from text (as the general path does)
        if s.contains('\0') {
            b.append_value(s.replace('\0', ""));
        } else {
            b.append_value(s);
        }
        Ok(())
    }

    pub(super) fn append_typed(&mut self, v: Typed) -> Result<(), Bail> {
        match (self, v) {
            (b, Typed::Null) => b.append_null(),
            (b @ Builder::Utf8(_), Typed::Text(s) | Typed::Json(s)) => b.append_str(&s)?,
            (Builder::Int64(b), Typed::Bigint(x)) => b.append_value(x),
            (Builder::Float64(b), Typed::Double(x)) => b.append_value(x),
            (Builder::Bool(b), Typed::Bool(x)) => b.append_value(x),
            (Builder::Timestamp(b), Typed::Timestamp(x)) => b.append_value(x),
            (Builder::Decimal(b), Typed::Decimal(x)) => b.append_value(x),
            (Builder::Date(b), Typed::Date(x)) => b.append_value(x),
            (Builder::Time(b), Typed::Time(x)) => b.append_value(x),
            (Builder::Binary(b), Typed::Binary(x)) => b.append_value(x),
            _ => return Err(Bail("typed value does not fit its builder")),
        }
        Ok(())
    }

    pub(super) fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Utf8(b) => Arc::new(b.finish()),
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Float64(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
            Builder::Decimal(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish()),
            Builder::Binary(b) => Arc::new(b.finish()),
        }
    }
}

impl ColOut {
    /// Write the value of `row`: rows skipped since the last write become nulls; a second
    /// write to one row (two keys normalized alike) leaves the fast path.
    pub(super) fn write(&mut self, row: usize, v: V<'_>) -> Result<(), Bail> {
        if self.len > row {
            return Err(Bail("two keys land on one column"));
        }
        while self.len < row {
            self.builder.append_null();
            self.len += 1;
        }
        match (&mut self.builder, self.data_type, v) {
            (b, _, V::Null) => b.append_null(),
            (b @ Builder::Utf8(_), DataType::Text, V::Str(s)) => b.append_str(s)?,
            (Builder::Int64(b), DataType::Bigint, V::Int(i)) => b.append_value(i),
            (Builder::Float64(b), DataType::Double, V::Float(f)) => b.append_value(f),
            (Builder::Float64(b), DataType::Double, V::Int(i)) => b.append_value(i as f64),
            (Builder::Bool(b), DataType::Bool, V::Bool(x)) => b.append_value(x),
            (Builder::Timestamp(b), DataType::Timestamp, V::Str(s))
                if let Some(us) = parse_timestamp(s) =>
            {
                b.append_value(us)
            }
            // everything else goes through the general coercion, value by value
            (b, t, v) => {
                let cell = match v {
                    V::Null => Cell::Null,
                    V::Bool(x) => Cell::Bool(x),
                    V::Int(i) => Cell::Int(i),
                    V::Float(f) => Cell::Float(f),
                    V::Str(s) => Cell::Str(s.to_owned()),
                };
                let typed = coerce(&cell, t, self.scale, self.timezone)
                    .ok_or(Bail("a value needs a variant column"))?;
                b.append_typed(typed)?;
            }
        }
        self.len += 1;
        Ok(())
    }

    pub(super) fn finish(&mut self, rows: usize) -> ArrayRef {
        while self.len < rows {
            self.builder.append_null();
            self.len += 1;
        }
        self.builder.finish()
    }
}
