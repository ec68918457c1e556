//! Reading JSON for the fast path: what only the general parser may read (raw control
//! characters, lone surrogates), tape spans and scalars.

use simd_json::{Node, StaticNode};

use super::Bail;

/// Raw control characters inside strings and lone UTF-16 surrogate escapes are invalid JSON
/// that simd-json lets through: a record with either goes to the general parser, which refuses
/// them. In an NDJSON line any byte below 0x20 but a final CR counts (a tab could be inside
/// a string); an array page may have whitespace between tokens.
pub(super) fn needs_general_parser(line: &[u8]) -> bool {
    let body = line.strip_suffix(b"\r").unwrap_or(line);
    // a branch-free fold per 64 bytes vectorizes; `any` byte by byte does not
    let control = body
        .chunks(64)
        .any(|c| c.iter().fold(false, |seen, b| seen | (*b < 0x20)));
    control || has_lone_surrogate(line)
}

/// Whether a `\uXXXX` escape is a UTF-16 surrogate without its partner.
pub(super) fn has_lone_surrogate(bytes: &[u8]) -> bool {
    let hex = |at: usize| -> Option<u16> {
        let digits = bytes.get(at..at + 4)?;
        u16::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let mut at = 0;
    while let Some(i) = memchr::memchr(b'\\', &bytes[at..]) {
        let i = at + i;
        match bytes.get(i + 1) {
            Some(b'u') => match hex(i + 2) {
                Some(0xD800..=0xDBFF) => {
                    let low = (bytes.get(i + 6..i + 8) == Some(b"\\u".as_slice()))
                        .then(|| hex(i + 8))
                        .flatten();
                    if !matches!(low, Some(0xDC00..=0xDFFF)) {
                        return true;
                    }
                    at = i + 12;
                }
                Some(0xDC00..=0xDFFF) => return true,
                _ => at = i + 6,
            },
            // any other escape is two bytes (an escaped backslash is not an escape start)
            _ => at = i + 2,
        }
        if at >= bytes.len() {
            break;
        }
    }
    false
}

/// Whether every byte below 0x20 of a JSON text is whitespace outside strings.
pub(super) fn whitespace_only_between(bytes: &[u8]) -> bool {
    let mut in_str = false;
    let mut escaped = false;
    for b in bytes {
        if in_str {
            if *b < 0x20 {
                return false;
            }
            if escaped {
                escaped = false;
            } else if *b == b'\\' {
                escaped = true;
            } else if *b == b'"' {
                in_str = false;
            }
        } else if *b == b'"' {
            in_str = true;
        } else if *b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t') {
            return false;
        }
    }
    true
}

/// Number of tape nodes a value takes.
pub(super) fn span(tape: &[Node<'_>], pos: usize) -> Result<usize, Bail> {
    match tape.get(pos) {
        Some(Node::Object { count, .. } | Node::Array { count, .. }) => Ok(1 + count),
        Some(_) => Ok(1),
        None => Err(Bail("truncated tape")),
    }
}

/// A scalar as read from the tape.
#[derive(Clone, Copy)]
pub(super) enum V<'t> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'t str),
}

pub(super) fn scalar(node: &StaticNode) -> Result<V<'static>, Bail> {
    Ok(match node {
        StaticNode::Null => V::Null,
        StaticNode::Bool(b) => V::Bool(*b),
        StaticNode::I64(i) => V::Int(*i),
        StaticNode::U64(u) => {
            V::Int(i64::try_from(*u).map_err(|_| Bail("integer beyond 64 bits"))?)
        }
        StaticNode::F64(f) => V::Float(*f),
    })
}
