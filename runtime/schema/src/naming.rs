//! dlt's `snake_case` naming convention: identifiers, paths and shortening.
//!
//! Reproduces `dlt.common.normalizers.naming.snake_case` byte for byte, so a dataset written by
//! Sluice has the names dlt would give it.

use base64::Engine as _;
use sha3::digest::{ExtendableOutput, Update, XofReader};

/// Separator of nested paths in table and column names.
pub const PATH_SEPARATOR: &str = "__";

/// Normalize a single identifier fragment (dlt `normalize_identifier`), without shortening.
///
/// Keys repeat in every record, so results are memoized per thread (bounded).
pub fn normalize_identifier(ident: &str) -> String {
    use std::cell::RefCell;
    use std::collections::HashMap;
    const MAX_CACHED: usize = 65_536;
    thread_local! {
        static CACHE: RefCell<HashMap<Box<str>, Box<str>>> = RefCell::new(HashMap::new());
    }
    CACHE.with(|c| {
        if let Some(hit) = c.borrow().get(ident) {
            return hit.to_string();
        }
        let out = normalize_uncached(ident);
        let mut map = c.borrow_mut();
        if map.len() >= MAX_CACHED {
            map.clear();
        }
        map.insert(ident.into(), out.as_str().into());
        out
    })
}

fn normalize_uncached(ident: &str) -> String {
    let trimmed = ident.trim();
    if trimmed.is_empty() {
        return "_empty".to_owned();
    }
    // 2. translate special characters
    let mut s: String = trimmed
        .chars()
        .map(|c| match c {
            '+' => 'x',
            '-' => '_',
            '*' => 'x',
            '@' => 'a',
            '|' => 'l',
            other => other,
        })
        .collect();
    // 3. runs of chars outside [a-zA-Z0-9_] become one `_`
    let mut out = String::with_capacity(s.len());
    let mut in_run = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    s = out;
    // 4. camel case split, then lower case
    s = camel_split_words(&s);
    s = camel_split_lower_upper(&s);
    s = s.to_ascii_lowercase();
    // 5. leading digits get a `_` prefix
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    // 6. each trailing `_` becomes `x`
    let stripped = s.trim_end_matches('_');
    let trailing = s.len() - stripped.len();
    if trailing > 0 {
        s = format!("{stripped}{}", "x".repeat(trailing));
    }
    // 7. collapse `__+` to `_`
    collapse_underscores(&s)
}

/// regex `([^_])([A-Z][a-z]+)` -> `\1_\2`, applied left to right without overlap.
fn camel_split_words(s: &str) -> String {
    let c: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 4);
    let mut i = 0;
    while i < c.len() {
        if i + 2 < c.len() && c[i] != '_' && c[i + 1].is_ascii_uppercase() {
            let mut j = i + 2;
            while j < c.len() && c[j].is_ascii_lowercase() {
                j += 1;
            }
            if j > i + 2 {
                out.push(c[i]);
                out.push('_');
                out.extend(&c[i + 1..j]);
                i = j;
                continue;
            }
        }
        out.push(c[i]);
        i += 1;
    }
    out
}

/// regex `([a-z0-9])([A-Z])` -> `\1_\2`, applied left to right without overlap.
fn camel_split_lower_upper(s: &str) -> String {
    let c: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 4);
    let mut i = 0;
    while i < c.len() {
        if i + 1 < c.len()
            && (c[i].is_ascii_lowercase() || c[i].is_ascii_digit())
            && c[i + 1].is_ascii_uppercase()
        {
            out.push(c[i]);
            out.push('_');
            out.push(c[i + 1]);
            i += 2;
            continue;
        }
        out.push(c[i]);
        i += 1;
    }
    out
}

fn collapse_underscores(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_us = false;
    for c in s.chars() {
        if c == '_' {
            if !prev_us {
                out.push(c);
            }
            prev_us = true;
        } else {
            out.push(c);
            prev_us = false;
        }
    }
    out
}

/// Normalize a path (dlt `normalize_path`): split on `__`, normalize every fragment that is
/// not blank (dlt's `break_path` drops fragments that are empty after `strip()`) and shorten
/// it to `max_len` with the tag of the stripped fragment (as dlt's `normalize_identifier`
/// does), rejoin with `__`, then shorten the whole to `max_len` with the tag of the raw path.
pub fn normalize_path(path: &str, max_len: usize) -> String {
    let fragments: Vec<String> = path
        .split(PATH_SEPARATOR)
        .filter(|f| !f.trim().is_empty())
        .map(|f| shorten_identifier(&normalize_identifier(f), f.trim(), max_len))
        .collect();
    let joined = if fragments.is_empty() {
        normalize_identifier(path)
    } else {
        fragments.join(PATH_SEPARATOR)
    };
    shorten_identifier(&joined, path, max_len)
}

/// The name dlt gives a record key (its relational normalizer): the key normalized as a path
/// (so `__double` is `double` and `a__b` stays `a__b`), shortened to `max_len` with the tag
/// of the raw key; `_empty` for a blank key. Memoized per thread like
/// [`normalize_identifier`].
pub fn normalize_key(key: &str, max_len: usize) -> String {
    use std::cell::RefCell;
    use std::collections::HashMap;
    const MAX_CACHED: usize = 65_536;
    /// (the max_len the entries were made for, key → name)
    type KeyCache = (usize, HashMap<Box<str>, Box<str>>);
    thread_local! {
        static CACHE: RefCell<KeyCache> =
            RefCell::new((0, HashMap::new()));
    }
    CACHE.with(|c| {
        {
            let cache = c.borrow();
            if cache.0 == max_len
                && let Some(hit) = cache.1.get(key)
            {
                return hit.to_string();
            }
        }
        let out = normalize_path(key, max_len);
        let mut cache = c.borrow_mut();
        if cache.0 != max_len || cache.1.len() >= MAX_CACHED {
            *cache = (max_len, HashMap::new());
        }
        cache.1.insert(key.into(), out.as_str().into());
        out
    })
}

/// Join already-normalized fragments into a path and shorten the whole path.
pub fn make_path(parts: &[&str], max_len: usize) -> String {
    let joined = parts.join(PATH_SEPARATOR);
    shorten_identifier(&joined, &joined, max_len)
}

/// Shorten `normalized` to `max_len` with dlt's tag: first half, a 6-char shake_128 tag of
/// `original`, last half.
pub fn shorten_identifier(normalized: &str, original: &str, max_len: usize) -> String {
    if normalized.len() <= max_len || max_len < 8 {
        return normalized.to_owned();
    }
    let tag = identifier_tag(original);
    let keep = max_len - tag.len();
    let head = keep.div_ceil(2);
    let tail = keep / 2;
    let bytes = normalized.as_bytes();
    // names are ASCII after normalization, so byte slicing is char slicing
    let head_s = String::from_utf8_lossy(&bytes[..head]);
    let tail_s = String::from_utf8_lossy(&bytes[bytes.len() - tail..]);
    format!("{head_s}{tag}{tail_s}")
}

fn identifier_tag(original: &str) -> String {
    let mut hasher = sha3::Shake128::default();
    hasher.update(original.as_bytes());
    let mut digest = [0u8; 4];
    hasher.finalize_xof().read(&mut digest);
    base64::engine::general_purpose::STANDARD
        .encode(digest)
        .trim_end_matches('=')
        .replace('/', "a")
        .replace('+', "b")
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests;
