//! CSV fields typed the way dlt's `read_csv` types them: pandas reads each chunk of 10,000
//! rows and gives every column one type for that chunk, and dlt infers its column types from
//! the Python values of `DataFrame.to_dict`. So, per column and chunk:
//!
//! - pandas' default NA strings (`""`, `NA`, `null`, `NaN`, `None`, `n/a`, …) are NULL, in any column;
//! - integers with no NA give integers; integers with an NA give floats (`3` → `3.0`), as
//!   pandas' float64 column does;
//! - numbers that are not all integers give floats (`inf` and `nan` become NULL, as dlt's JSON
//!   writer turns them);
//! - `True`/`true`/`TRUE` and `False`/`false`/`FALSE` give booleans;
//! - anything else keeps every value as text, numbers included (`007` stays `007`).

/// The rows pandas types together (`read_csv`'s `chunksize` in dlt's reader).
pub const CHUNK_ROWS: usize = 10_000;

/// One column's type over a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int,
    Float,
    Bool,
    Text,
}

/// Whether `field` is one of pandas' default `na_values`.
pub fn is_na(field: &str) -> bool {
    // most fields are longer than any NA string: one length check decides them
    field.len() <= 8
        && matches!(
            field,
            "" | "#N/A"
                | "#N/A N/A"
                | "#NA"
                | "-1.#IND"
                | "-1.#QNAN"
                | "-NaN"
                | "-nan"
                | "1.#IND"
                | "1.#QNAN"
                | "<NA>"
                | "N/A"
                | "NA"
                | "NULL"
                | "NaN"
                | "None"
                | "n/a"
                | "nan"
                | "null"
        )
}

/// An integer as pandas parses one (surrounding spaces allowed, a sign, digits).
fn int_text(field: &str) -> Option<&str> {
    let t = field.trim_matches(' ');
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(t)
}

fn float(field: &str) -> Option<f64> {
    field.trim_matches(' ').parse::<f64>().ok()
}

fn boolean(field: &str) -> Option<bool> {
    match field {
        "True" | "TRUE" | "true" => Some(true),
        "False" | "FALSE" | "false" => Some(false),
        _ => None,
    }
}

/// The type pandas gives a column whose fields in this chunk are `fields`, and whether any
/// of them is NA.
pub fn kind<'a>(fields: impl Iterator<Item = &'a str>) -> (Kind, bool) {
    let (mut ints, mut floats, mut bools, mut any, mut na) = (true, true, true, false, false);
    for f in fields {
        if is_na(f) {
            na = true;
            continue;
        }
        if !ints && !floats && !bools {
            // text: only an NA can still change what is written
            continue;
        }
        any = true;
        let is_int = ints && int_text(f).is_some_and(|t| t.parse::<i128>().is_ok_and(fits_64));
        ints &= is_int;
        floats &= is_int || float(f).is_some();
        bools &= boolean(f).is_some();
    }
    let kind = match (any, ints, floats, bools) {
        // an all-NA column is float64 in pandas: NULLs either way
        (false, ..) => Kind::Float,
        (_, true, ..) => Kind::Int,
        (_, _, true, _) => Kind::Float,
        (_, _, _, true) => Kind::Bool,
        _ => Kind::Text,
    };
    (kind, na)
}

/// pandas keeps integers that fit int64 or uint64.
fn fits_64(v: i128) -> bool {
    i64::try_from(v).is_ok() || u64::try_from(v).is_ok()
}

/// Append `field` as the JSON value a column of `kind` (with an NA in the chunk or not)
/// makes of it.
pub fn push_json(out: &mut Vec<u8>, field: &str, kind: Kind, column_has_na: bool) {
    if is_na(field) {
        out.extend_from_slice(b"null");
        return;
    }
    match kind {
        Kind::Int if !column_has_na => match int_text(field) {
            Some(t) => push_int(out, t),
            None => out.extend_from_slice(b"null"),
        },
        Kind::Int | Kind::Float => match float(field) {
            Some(v) if v.is_finite() => push_float(out, v),
            _ => out.extend_from_slice(b"null"),
        },
        Kind::Bool => out.extend_from_slice(match boolean(field) {
            Some(true) => b"true",
            Some(false) => b"false",
            None => b"null",
        }),
        Kind::Text => push_string(out, field),
    }
}

fn push_int(out: &mut Vec<u8>, text: &str) {
    let t = text.strip_prefix('+').unwrap_or(text);
    let (sign, digits) = match t.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", t),
    };
    let digits = digits.trim_start_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let sign = if digits == "0" { "" } else { sign };
    out.extend_from_slice(sign.as_bytes());
    out.extend_from_slice(digits.as_bytes());
}

/// A float as Python writes one: always with a fraction or an exponent, so it reads back as
/// a float (`3.0`, `1e+300`).
fn push_float(out: &mut Vec<u8>, v: f64) {
    use std::io::Write as _;
    let start = out.len();
    // writing into a Vec cannot fail
    let _ = write!(out, "{v:?}");
    if !out[start..].iter().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        out.extend_from_slice(b".0");
    }
}

/// `s` as a JSON string literal.
pub fn push_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut plain = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            b if b < 0x20 => b"",
            _ => continue,
        };
        // a run of bytes that need no escape (UTF-8 sequences included) is copied whole
        out.extend_from_slice(&bytes[plain..i]);
        if escaped.is_empty() {
            let _ = std::io::Write::write_fmt(out, format_args!("\\u{b:04x}"));
        } else {
            out.extend_from_slice(escaped);
        }
        plain = i + 1;
    }
    out.extend_from_slice(&bytes[plain..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(fields: &[&str]) -> (Kind, Vec<String>) {
        let (k, na) = kind(fields.iter().copied());
        let out = fields
            .iter()
            .map(|f| {
                let mut o = Vec::new();
                push_json(&mut o, f, k, na);
                String::from_utf8(o).unwrap_or_default()
            })
            .collect();
        (k, out)
    }

    #[test]
    fn columns_type_as_pandas_types_a_chunk() {
        assert_eq!(
            json(&["1", "-2", "+3", "007"]),
            (
                Kind::Int,
                vec!["1".into(), "-2".into(), "3".into(), "7".into()]
            )
        );
        assert_eq!(
            json(&["3", "", "12"]),
            (Kind::Int, vec!["3.0".into(), "null".into(), "12.0".into()])
        );
        assert_eq!(
            json(&["-1.25", "2e3", "0.5", "inf"]).1,
            ["-1.25", "2000.0", "0.5", "null"]
        );
        assert_eq!(
            json(&["true", "False", "NA"]),
            (
                Kind::Bool,
                vec!["true".into(), "false".into(), "null".into()]
            )
        );
        assert_eq!(json(&["7", "x", "null"]).1, ["\"7\"", "\"x\"", "null"]);
        assert_eq!(json(&["", "NaN"]).0, Kind::Float);
        assert_eq!(json(&["a \"q\"\n\\"]).1, ["\"a \\\"q\\\"\\n\\\\\""]);
        assert_eq!(
            json(&["é\u{1}x\t", "NA"]).1,
            ["\"é\\u0001x\\t\"", "null"],
            "UTF-8 copied whole, control characters escaped"
        );
        assert!(is_na("#N/A N/A") && is_na("") && !is_na("NAN") && !is_na("None "));
        assert_eq!(
            json(&["99999999999999999999"]).0,
            Kind::Float,
            "beyond 64 bits"
        );
    }
}
