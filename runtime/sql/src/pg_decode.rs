//! PostgreSQL's binary wire values decoded straight into Arrow builders, one builder per
//! column chosen by the column's dlt type: no text parsing, no intermediate rows.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int64Builder,
    StringBuilder, Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use arrow_schema::{DataType as ArrowType, Field, TimeUnit};

use crate::ColumnInfo;

/// Microseconds and days between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_US: i64 = 946_684_800_000_000;
const PG_EPOCH_DAYS: i32 = 10_957;

/// Decimal precision and scale of a numeric column without them (dlt's default).
const DEFAULT_DECIMAL: (u8, i8) = (38, 9);

/// One column's builder.
pub(crate) enum ColumnBuilder {
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Text(StringBuilder),
    /// JSON text, re-serialized compactly (as dlt writes json columns)
    Json(StringBuilder),
    Decimal(Decimal128Builder, i8),
    Date(Date32Builder),
    Time(Time64MicrosecondBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Binary(BinaryBuilder),
}

impl ColumnBuilder {
    /// The builder and Arrow field for `col`.
    pub(crate) fn new(col: &ColumnInfo, rows: usize) -> (ColumnBuilder, Field) {
        use ColumnBuilder as B;
        let (builder, ty) = match col.data_type {
            "bigint" => (B::Int(Int64Builder::with_capacity(rows)), ArrowType::Int64),
            "double" => (
                B::Float(Float64Builder::with_capacity(rows)),
                ArrowType::Float64,
            ),
            "bool" => (
                B::Bool(BooleanBuilder::with_capacity(rows)),
                ArrowType::Boolean,
            ),
            "decimal" => {
                let (p, s) = match (col.precision, col.scale) {
                    (Some(p), s) if p <= 38 => (p as u8, s.unwrap_or(0) as i8),
                    _ => DEFAULT_DECIMAL,
                };
                let b = Decimal128Builder::with_capacity(rows)
                    .with_precision_and_scale(p, s)
                    .unwrap_or_default();
                (B::Decimal(b, s), ArrowType::Decimal128(p, s))
            }
            "date" => (
                B::Date(Date32Builder::with_capacity(rows)),
                ArrowType::Date32,
            ),
            "time" => (
                B::Time(Time64MicrosecondBuilder::with_capacity(rows)),
                ArrowType::Time64(TimeUnit::Microsecond),
            ),
            "timestamp" => {
                let tz: Option<Arc<str>> = (col.timezone == Some(true)).then(|| "UTC".into());
                let b =
                    TimestampMicrosecondBuilder::with_capacity(rows).with_timezone_opt(tz.clone());
                (
                    B::Timestamp(b),
                    ArrowType::Timestamp(TimeUnit::Microsecond, tz),
                )
            }
            "binary" => (B::Binary(BinaryBuilder::new()), ArrowType::Binary),
            "json" => (B::Json(StringBuilder::new()), ArrowType::Utf8),
            _ => (B::Text(StringBuilder::new()), ArrowType::Utf8),
        };
        (builder, Field::new(&col.name, ty, true))
    }

    /// Append one wire value of type `oid` (`None`: NULL).
    pub(crate) fn push(&mut self, oid: u32, raw: Option<&[u8]>) -> Result<(), String> {
        use ColumnBuilder as B;
        let Some(v) = raw else {
            self.push_null();
            return Ok(());
        };
        match self {
            B::Int(b) => b.append_value(int(oid, v)?),
            B::Float(b) => b.append_value(match oid {
                700 => f64::from(f32::from_be_bytes(fixed(v)?)),
                _ => f64::from_be_bytes(fixed(v)?),
            }),
            B::Bool(b) => b.append_value(v.first().is_some_and(|x| *x != 0)),
            B::Text(b) => b.append_value(text(oid, v)?),
            // jsonb text is the server's own rendering: only its spaces need to go
            B::Json(b) if oid == JSONB => b.append_value(strip_json_spaces(&text(oid, v)?)),
            B::Json(b) => b.append_value(compact_json(&text(oid, v)?)?),
            B::Decimal(b, scale) => b.append_value(numeric(v, *scale)?),
            B::Date(b) => b.append_value(date(v)?),
            B::Time(b) => b.append_value(i64::from_be_bytes(fixed(v)?)),
            B::Timestamp(b) => b.append_value(timestamp(v)?),
            B::Binary(b) => b.append_value(v),
        }
        Ok(())
    }

    fn push_null(&mut self) {
        use ColumnBuilder as B;
        match self {
            B::Int(b) => b.append_null(),
            B::Float(b) => b.append_null(),
            B::Bool(b) => b.append_null(),
            B::Text(b) | B::Json(b) => b.append_null(),
            B::Decimal(b, _) => b.append_null(),
            B::Date(b) => b.append_null(),
            B::Time(b) => b.append_null(),
            B::Timestamp(b) => b.append_null(),
            B::Binary(b) => b.append_null(),
        }
    }

    pub(crate) fn finish(&mut self) -> ArrayRef {
        use ColumnBuilder as B;
        match self {
            B::Int(b) => Arc::new(b.finish()),
            B::Float(b) => Arc::new(b.finish()),
            B::Bool(b) => Arc::new(b.finish()),
            B::Text(b) | B::Json(b) => Arc::new(b.finish()),
            B::Decimal(b, _) => Arc::new(b.finish()),
            B::Date(b) => Arc::new(b.finish()),
            B::Time(b) => Arc::new(b.finish()),
            B::Timestamp(b) => Arc::new(b.finish()),
            B::Binary(b) => Arc::new(b.finish()),
        }
    }
}

fn fixed<const N: usize>(v: &[u8]) -> Result<[u8; N], String> {
    v.try_into()
        .map_err(|_| format!("expected {N} bytes, the server sent {}", v.len()))
}

fn int(oid: u32, v: &[u8]) -> Result<i64, String> {
    Ok(match oid {
        21 => i64::from(i16::from_be_bytes(fixed(v)?)),
        23 => i64::from(i32::from_be_bytes(fixed(v)?)),
        26 => i64::from(u32::from_be_bytes(fixed(v)?)),
        _ => i64::from_be_bytes(fixed(v)?),
    })
}

/// The type oid of `jsonb`.
const JSONB: u32 = 3802;

fn text(oid: u32, v: &[u8]) -> Result<Cow<'_, str>, String> {
    match oid {
        2950 => {
            let b: [u8; 16] = fixed(v)?;
            let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
            Ok(Cow::Owned(format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            )))
        }
        // jsonb: a version byte, then the text
        JSONB => match v.split_first() {
            Some((1, rest)) => utf8(rest),
            _ => Err("unknown jsonb format version".into()),
        },
        _ => utf8(v),
    }
}

/// JSON text without insignificant whitespace (key order and number text kept).
pub(crate) fn compact_json(text: &str) -> Result<String, String> {
    serde_json::from_str::<serde_json::Value>(text)
        .map(|v| v.to_string())
        .map_err(|e| format!("not JSON: {e}"))
}

fn utf8(v: &[u8]) -> Result<Cow<'_, str>, String> {
    std::str::from_utf8(v)
        .map(Cow::Borrowed)
        .map_err(|e| format!("text is not UTF-8: {e}"))
}

/// Valid JSON text without the whitespace between its tokens: what [`compact_json`] makes of
/// JSON that is already in its canonical escaping (PostgreSQL's `jsonb` output), without
/// parsing it.
pub(crate) fn strip_json_spaces(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

fn date(v: &[u8]) -> Result<i32, String> {
    let days = i32::from_be_bytes(fixed(v)?);
    if days == i32::MAX || days == i32::MIN {
        return Err("the date is ±infinity, which no destination holds".into());
    }
    days.checked_add(PG_EPOCH_DAYS)
        .ok_or_else(|| "the date is out of range".into())
}

fn timestamp(v: &[u8]) -> Result<i64, String> {
    let us = i64::from_be_bytes(fixed(v)?);
    if us == i64::MAX || us == i64::MIN {
        return Err("the timestamp is ±infinity, which no destination holds".into());
    }
    us.checked_add(PG_EPOCH_US)
        .ok_or_else(|| "the timestamp is out of range".into())
}

/// A binary `numeric` as an unscaled integer at `scale` (rounded half away from zero when
/// the value has more fraction digits than the column keeps).
pub(crate) fn numeric(v: &[u8], scale: i8) -> Result<i128, String> {
    let word = |i: usize| -> Result<i16, String> {
        v.get(i * 2..i * 2 + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "truncated numeric".to_string())
    };
    let (ndigits, weight, sign) = (word(0)?, word(1)?, word(2)? as u16);
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Err("NaN has no decimal value".into()),
        _ => return Err("±Infinity has no decimal value".into()),
    }
    let overflow = || "the value does not fit 38 decimal digits".to_string();
    let mut acc: i128 = 0;
    for i in 0..ndigits.max(0) as usize {
        let d = i128::from(word(4 + i)?);
        acc = acc
            .checked_mul(10_000)
            .and_then(|a| a.checked_add(d))
            .ok_or_else(overflow)?;
    }
    // acc = value · 10^(4·(ndigits − 1 − weight))
    let exp = 4 * (i32::from(ndigits) - 1 - i32::from(weight));
    let shift = i32::from(scale) - exp;
    let unscaled = if shift >= 0 {
        10i128
            .checked_pow(shift as u32)
            .and_then(|m| acc.checked_mul(m))
            .ok_or_else(overflow)?
    } else {
        let div = 10i128.checked_pow((-shift) as u32).ok_or_else(overflow)?;
        let (q, r) = (acc / div, acc % div);
        if r * 2 >= div { q + 1 } else { q }
    };
    if unscaled.unsigned_abs() >= 10u128.pow(38) {
        return Err(overflow());
    }
    Ok(if sign == 0x4000 { -unscaled } else { unscaled })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [ndigits, weight, sign as i16, dscale as i16] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_decode_at_the_column_scale() {
        // 12345.678 = 1 2345 . 6780
        let v = wire(3, 1, 0, 3, &[1, 2345, 6780]);
        assert_eq!(numeric(&v, 3), Ok(12_345_678));
        assert_eq!(numeric(&v, 5), Ok(1_234_567_800));
        assert_eq!(numeric(&v, 2), Ok(1_234_568), "rounded half away from zero");
        let neg = wire(3, 1, 0x4000, 3, &[1, 2345, 6780]);
        assert_eq!(numeric(&neg, 3), Ok(-12_345_678));
        // 0.0005 = weight -1, digit 5
        assert_eq!(numeric(&wire(1, -1, 0, 4, &[5]), 4), Ok(5));
        // 10^20 (beyond 64 bits): one digit 1 at weight 5
        assert_eq!(numeric(&wire(1, 5, 0, 0, &[1]), 0), Ok(10i128.pow(20)));
        assert_eq!(numeric(&wire(0, 0, 0, 0, &[]), 2), Ok(0));
        assert!(numeric(&wire(0, 0, 0xC000, 0, &[]), 2).is_err());
        assert!(
            numeric(&wire(1, 10, 0, 0, &[1]), 0).is_err(),
            "10^40 overflows"
        );
    }

    #[test]
    fn dates_and_timestamps_move_to_the_unix_epoch() {
        assert_eq!(date(&0i32.to_be_bytes()), Ok(10_957));
        assert!(date(&i32::MAX.to_be_bytes()).is_err());
        assert_eq!(timestamp(&0i64.to_be_bytes()), Ok(PG_EPOCH_US));
        assert!(timestamp(&i64::MIN.to_be_bytes()).is_err());
        let uuid = [
            0x12u8, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0, 1, 2, 3, 4, 5, 6, 7,
        ];
        assert_eq!(
            text(2950, &uuid).as_deref(),
            Ok("12345678-9abc-def0-0001-020304050607")
        );
    }

    #[test]
    fn jsonb_spaces_go_as_a_reserialization_would_drop_them() {
        for json in [
            r#"{"a": 1, "b": [1, 2.50, {"c d": "x \" y"}], "e": "\\", "f": "a\n b"}"#,
            r#"[]"#,
            r#" "only a string with  spaces" "#,
            r#"{"k": null, "t": true, "u": "é ü", "n": -1.5e+10}"#,
        ] {
            assert_eq!(Ok(strip_json_spaces(json)), compact_json(json), "{json}");
        }
    }
}
