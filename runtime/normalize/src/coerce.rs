//! Types of cells, ISO timestamp detection and dlt's coercion rules (reference §2).

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use sluice_schema::DataType;

use crate::flatten::Cell;

/// A value converted to its column's type, ready for Arrow.
#[derive(Clone, Debug, PartialEq)]
pub enum Typed {
    Null,
    Text(String),
    Bigint(i64),
    Double(f64),
    Bool(bool),
    /// microseconds since the epoch, UTC
    Timestamp(i64),
    /// unscaled value; the scale is the column's
    Decimal(i128),
    Json(String),
    /// days since the epoch
    Date(i32),
    /// microseconds since midnight
    Time(i64),
    Binary(Vec<u8>),
}

/// Precision of decimals inferred from integers beyond 64 bits.
pub const BIG_INT_PRECISION: u32 = 38;

/// The type a new column gets from its first non-null value, with `iso_timestamp` detection.
/// Integers beyond 64 bits become `decimal(38,0)` when they fit, else text (dlt fails here).
pub fn infer_type(cell: &Cell) -> Option<(DataType, Option<(u32, u32)>)> {
    Some(match cell {
        Cell::Null => return None,
        Cell::Bool(_) => (DataType::Bool, None),
        Cell::Int(_) => (DataType::Bigint, None),
        Cell::BigInt(digits) => {
            if digits.trim_start_matches('-').len() <= BIG_INT_PRECISION as usize {
                (DataType::Decimal, Some((BIG_INT_PRECISION, 0)))
            } else {
                (DataType::Text, None)
            }
        }
        Cell::Float(_) => (DataType::Double, None),
        Cell::Str(s) => {
            if is_iso_timestamp(s) {
                (DataType::Timestamp, None)
            } else {
                (DataType::Text, None)
            }
        }
        Cell::Json(_) => (DataType::Json, None),
    })
}

/// The natural type of a cell without detection: names the variant column it goes to.
pub fn cell_type(cell: &Cell) -> Option<DataType> {
    infer_type(cell).map(|(t, _)| match (cell, t) {
        (Cell::Str(_), _) => DataType::Text,
        (_, t) => t,
    })
}

/// Whether dlt's `iso_timestamp` detection fires for `s`: a date with a time, optionally with
/// fractions and an offset; a date alone does not.
pub fn is_iso_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 15 {
        return false;
    }
    parse_timestamp(s).is_some()
}

/// Parse an ISO 8601 timestamp into UTC microseconds. Naive values are taken as UTC.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    // the common shape, read by hand; anything else (and every refusal) goes the long way,
    // so the answer is always the general parser's
    strict_timestamp(s.as_bytes()).or_else(|| parse_timestamp_general(s))
}

/// `YYYY-MM-DD[T ]HH:MM[:SS[.f]][Z|±HH:MM|±HHMM]` with exactly these widths, a fraction of 1 to
/// 9 digits and no leap second: what most timestamps are. `None` for everything else, which
/// [`parse_timestamp_general`] decides.
fn strict_timestamp(b: &[u8]) -> Option<i64> {
    let num = |from: usize, len: usize| digits(b, from, len);
    if b.len() < 16
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b' ')
        || b[13] != b':'
    {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 2)?, num(8, 2)?)?;
    let (hour, minute) = (num(11, 2)?, num(14, 2)?);
    let mut at = 16;
    let mut second = 0;
    let mut nanos = 0;
    if b.get(at) == Some(&b':') {
        second = num(at + 1, 2)?;
        at += 3;
        if b.get(at) == Some(&b'.') {
            let digits = b[at + 1..]
                .iter()
                .take_while(|d| d.is_ascii_digit())
                .count();
            if !(1..=9).contains(&digits) {
                return None;
            }
            nanos = num(at + 1, digits)? * 10u32.pow(9 - digits as u32);
            at += 1 + digits;
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let offset_secs = match &b[at..] {
        [] | [b'Z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] if rest.len() == 5 || rest.len() == 4 => {
            let (oh, om) = match rest.len() {
                5 if rest[2] == b':' => (num(at + 1, 2)?, num(at + 4, 2)?),
                // `+0100` after minutes alone is no form the general parser takes
                4 if at > 16 => (num(at + 1, 2)?, num(at + 3, 2)?),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = i64::from(oh * 3600 + om * 60);
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    let local = date.and_time(time).and_utc().timestamp_micros();
    local.checked_sub(offset_secs * 1_000_000)
}

/// The number `len` ASCII digits at `from` spell; `None` when any is not a digit.
fn digits(b: &[u8], from: usize, len: usize) -> Option<u32> {
    b.get(from..from + len)?.iter().try_fold(0u32, |n, d| {
        d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
    })
}

/// Every ISO 8601 shape dlt detects, through chrono: RFC 3339, a space for the `T`, offsets
/// with or without a colon, basic format (`20240101T100000Z`), minutes without seconds.
fn parse_timestamp_general(s: &str) -> Option<i64> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_micros());
    }
    let t_sep = s.replacen(' ', "T", 1);
    if let Ok(dt) = DateTime::parse_from_rfc3339(&t_sep) {
        return Some(dt.timestamp_micros());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%:z",
        "%Y%m%dT%H%M%S%z",
        "%Y%m%dT%H%M%S%.f%z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(&t_sep, fmt) {
            return Some(dt.timestamp_micros());
        }
    }
    let naive = t_sep.strip_suffix('Z').unwrap_or(&t_sep);
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y%m%dT%H%M%S",
        "%Y%m%dT%H%M%S%.f",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(dt.and_utc().timestamp_micros());
        }
    }
    None
}

fn parse_date(s: &str) -> Option<i32> {
    let s = s.trim();
    // `YYYY-MM-DD` read by hand; anything else goes through chrono
    let strict = |b: &[u8]| -> Option<NaiveDate> {
        (b.len() == 10 && b[4] == b'-' && b[7] == b'-')
            .then(|| {
                NaiveDate::from_ymd_opt(digits(b, 0, 4)? as i32, digits(b, 5, 2)?, digits(b, 8, 2)?)
            })
            .flatten()
    };
    let d = strict(s.as_bytes())
        .or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .or_else(|| {
            parse_timestamp(s)
                .and_then(DateTime::from_timestamp_micros)
                .map(|d| d.date_naive())
        })?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((d - epoch).num_days()).ok()
}

fn parse_time(s: &str) -> Option<i64> {
    let t = NaiveTime::parse_from_str(s.trim(), "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(s.trim(), "%H:%M"))
        .ok()?;
    let midnight = NaiveTime::from_hms_opt(0, 0, 0)?;
    (t - midnight).num_microseconds()
}

/// Python's `str()` of a float, which dlt uses when a float lands in a text column.
pub fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f.fract() == 0.0 && f.abs() < 1e16 {
        return format!("{f:.1}");
    }
    let s = format!("{f}");
    if f.abs() >= 1e16 || (f != 0.0 && f.abs() < 1e-4) {
        let e = format!("{f:e}");
        // Python writes 1e+20 and 1e-05
        if let Some((m, exp)) = e.split_once('e') {
            let (sign, digits) = exp
                .strip_prefix('-')
                .map(|d| ('-', d))
                .unwrap_or(('+', exp));
            return format!("{m}e{sign}{digits:0>2}");
        }
    }
    s
}

/// Parse a decimal string into an unscaled integer at `scale`. Rounds half away from zero.
pub fn parse_decimal(s: &str, scale: u32) -> Option<i128> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (mantissa, exp) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (body, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part
        .bytes()
        .chain(frac_part.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let shift = scale as i32 + exp - frac_part.len() as i32;
    let mut value: i128 = 0;
    let mut round_up = false;
    let keep = if shift >= 0 {
        digits.len()
    } else {
        digits.len().saturating_sub((-shift) as usize)
    };
    for (i, b) in digits.bytes().enumerate() {
        if i < keep {
            value = value.checked_mul(10)?.checked_add((b - b'0') as i128)?;
        } else if i == keep {
            round_up = b >= b'5';
        }
    }
    if shift > 0 {
        value = value.checked_mul(10i128.checked_pow(shift as u32)?)?;
    }
    if round_up {
        value = value.checked_add(1)?;
    }
    if value >= 10i128.pow(38) {
        return None;
    }
    Some(if neg { -value } else { value })
}

/// Convert `cell` to a value of `data_type`, or `None` when dlt would not coerce it (the value
/// then goes to a variant column).
pub fn coerce(cell: &Cell, data_type: DataType, scale: u32, timezone: bool) -> Option<Typed> {
    let _ = timezone;
    Some(match (data_type, cell) {
        (_, Cell::Null) => Typed::Null,
        (DataType::Text, c) => Typed::Text(match c {
            Cell::Str(s) => s.clone(),
            Cell::Int(i) => i.to_string(),
            Cell::BigInt(s) | Cell::Json(s) => s.clone(),
            Cell::Float(f) => py_float(*f),
            Cell::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
            Cell::Null => return None,
        }),
        (DataType::Bigint, Cell::Int(i)) => Typed::Bigint(*i),
        (DataType::Bigint, Cell::Str(s)) => {
            let t = s.trim();
            let v = if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                i64::from_str_radix(hex, 16).ok()?
            } else {
                t.parse::<i64>().ok()?
            };
            Typed::Bigint(v)
        }
        // a whole float within i64; any other float falls to `return None` below
        (DataType::Bigint, Cell::Float(f)) if f.fract() == 0.0 && f.abs() < 9.2e18 => {
            Typed::Bigint(*f as i64)
        }
        (DataType::Double, Cell::Float(f)) => Typed::Double(*f),
        (DataType::Double, Cell::Int(i)) => Typed::Double(*i as f64),
        (DataType::Double, Cell::BigInt(s)) => Typed::Double(s.parse().ok()?),
        (DataType::Double, Cell::Str(s)) => Typed::Double(s.trim().parse().ok()?),
        (DataType::Bool, Cell::Bool(b)) => Typed::Bool(*b),
        (DataType::Bool, Cell::Str(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "t" | "y" | "1" => Typed::Bool(true),
            "no" | "false" | "f" | "n" | "0" => Typed::Bool(false),
            _ => return None,
        },
        (DataType::Bool, Cell::Int(i)) => Typed::Bool(*i != 0),
        (DataType::Bool, Cell::Float(f)) => Typed::Bool(*f != 0.0),
        (DataType::Timestamp, Cell::Str(s)) => Typed::Timestamp(
            parse_timestamp(s).or_else(|| parse_date(s).map(|d| d as i64 * 86_400_000_000))?,
        ),
        (DataType::Timestamp, Cell::Int(i)) => Typed::Timestamp(i.checked_mul(1_000_000)?),
        (DataType::Timestamp, Cell::Float(f)) => Typed::Timestamp((f * 1e6).round() as i64),
        (DataType::Decimal | DataType::Wei, Cell::Int(i)) => {
            Typed::Decimal((*i as i128).checked_mul(10i128.checked_pow(scale)?)?)
        }
        (DataType::Decimal | DataType::Wei, Cell::BigInt(s) | Cell::Str(s)) => {
            Typed::Decimal(parse_decimal(s, scale)?)
        }
        (DataType::Decimal | DataType::Wei, Cell::Float(f)) => {
            Typed::Decimal(parse_decimal(&format!("{f}"), scale)?)
        }
        (DataType::Json, Cell::Json(s)) => Typed::Json(s.clone()),
        (DataType::Json, Cell::Str(s)) => {
            serde_json::from_str::<serde_json::Value>(s).ok()?;
            Typed::Json(s.clone())
        }
        (DataType::Json, Cell::Int(i)) => Typed::Json(i.to_string()),
        (DataType::Json, Cell::BigInt(s)) => Typed::Json(s.clone()),
        (DataType::Json, Cell::Float(f)) => Typed::Json(format!("{f}")),
        (DataType::Json, Cell::Bool(b)) => Typed::Json(b.to_string()),
        (DataType::Date, Cell::Str(s)) => Typed::Date(parse_date(s)?),
        (DataType::Time, Cell::Str(s)) => Typed::Time(parse_time(s)?),
        (DataType::Binary, Cell::Str(s)) => {
            use base64::Engine as _;
            if let Some(hex) = s.strip_prefix("0x") {
                Typed::Binary(decode_hex(hex)?)
            } else {
                Typed::Binary(base64::engine::general_purpose::STANDARD.decode(s).ok()?)
            }
        }
        _ => return None,
    })
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests;
