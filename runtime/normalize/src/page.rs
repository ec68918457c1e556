//! Pages as records: NDJSON lines or one JSON array, parsed with the line or record each
//! error names.

use rayon::prelude::*;
use serde_json::Value;

use crate::NormalizeError;

/// How the records of a page are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordsFormat {
    JsonArray,
    Ndjson,
}

/// Parse a page into records. A JSON array gives its elements, NDJSON one record per
/// non-empty line; a single JSON object is one record. Errors give the line and column (and
/// name invalid UTF-8 as such); records nested deeper than 128 levels are refused.
pub fn parse_page(bytes: &[u8], format: RecordsFormat) -> Result<Vec<Value>, NormalizeError> {
    match format {
        RecordsFormat::JsonArray => {
            if let Err(e) = std::str::from_utf8(bytes) {
                let at = e.valid_up_to();
                let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
                return Err(NormalizeError::PageJson(format!(
                    "invalid UTF-8 at byte {at} (line {line})"
                )));
            }
            let v: Value = serde_json::from_slice(bytes)
                .map_err(|e| NormalizeError::PageJson(json_error(&e, e.line())))?;
            Ok(match v {
                Value::Array(items) => items,
                other => vec![other],
            })
        }
        RecordsFormat::Ndjson => {
            // lines parse in parallel; the first error (in line order) is reported
            // (rayon's own collect into a Result returns any error, not the first)
            let parsed: Vec<Result<Value, NormalizeError>> = ndjson_lines(bytes)
                .into_par_iter()
                .enumerate()
                .map(|(i, (line_no, line))| parse_line(i, line_no, line))
                .collect();
            parsed.into_iter().collect()
        }
    }
}

/// The records of an NDJSON page: every line that is not blank, with its line number (from
/// 1). Both paths read a page's records through this.
pub(crate) fn ndjson_lines(bytes: &[u8]) -> Vec<(usize, &[u8])> {
    let mut lines = Vec::new();
    let mut start = 0;
    for (n, end) in memchr::memchr_iter(b'\n', bytes)
        .chain([bytes.len()])
        .enumerate()
    {
        let line = &bytes[start..end];
        if !line.iter().all(u8::is_ascii_whitespace) {
            lines.push((n + 1, line));
        }
        start = end + 1;
    }
    lines
}

/// Parse record `index` of an NDJSON page, line `line_no` (from 1).
fn parse_line(index: usize, line_no: usize, line: &[u8]) -> Result<Value, NormalizeError> {
    if let Err(e) = std::str::from_utf8(line) {
        return Err(NormalizeError::Json {
            index,
            reason: format!(
                "line {line_no}: invalid UTF-8 at byte {} of the line",
                e.valid_up_to()
            ),
        });
    }
    serde_json::from_slice(line).map_err(|e| NormalizeError::Json {
        index,
        reason: json_error(&e, line_no),
    })
}

/// Parse the NDJSON `lines` (with their line numbers) of records from `first` on; the first
/// error in line order is reported, as by [`parse_page`].
pub(crate) fn parse_lines(
    first: usize,
    lines: &[(usize, &[u8])],
) -> Result<Vec<Value>, NormalizeError> {
    lines
        .iter()
        .enumerate()
        .map(|(i, (line_no, line))| parse_line(first + i, *line_no, line))
        .collect()
}

/// A parse error as `line L column C: what`.
fn json_error(e: &serde_json::Error, line: usize) -> String {
    let text = e.to_string();
    let what = text
        .rsplit_once(" at line ")
        .map(|(w, _)| w.to_owned())
        .unwrap_or(text);
    let what = if what == "recursion limit exceeded" {
        "recursion limit exceeded (nesting depth over 128 levels is refused)".to_owned()
    } else {
        what
    };
    format!("line {line} column {}: {what}", e.column())
}
