//! Keys as connectors give them, checked before they are joined to a grant's prefix: a key is
//! relative (no leading `/`), its segments are neither empty, `.` nor `..`, and it holds no
//! control character; so `prefix/key` is always below `prefix`.

use crate::{ObjectError, Result};

/// Longest key accepted, in bytes (S3's own limit).
pub const MAX_KEY_BYTES: usize = 1024;

/// `key` as a path below a grant's prefix, or why it is refused.
pub fn check(bucket: &str, key: &str) -> Result<()> {
    let refuse = |why: &str| {
        Err(ObjectError::Denied(format!(
            "bucket `{bucket}`: key `{}` {why}",
            key.escape_debug()
        )))
    };
    if key.is_empty() {
        return refuse("is empty");
    }
    if key.len() > MAX_KEY_BYTES {
        return refuse("is longer than 1024 bytes");
    }
    if key.chars().any(char::is_control) {
        return refuse("holds a control character");
    }
    if key.starts_with('/') {
        return refuse("is absolute: keys are relative to the grant");
    }
    match key
        .split('/')
        .find(|s| s.is_empty() || *s == "." || *s == "..")
    {
        Some("") => refuse("has an empty segment"),
        Some(s) => refuse(&format!("has a `{s}` segment: keys cannot leave the grant")),
        None => Ok(()),
    }
}

/// A listing prefix: empty (everything), or a key, or a key's start ending in `/`.
pub fn check_prefix(bucket: &str, prefix: &str) -> Result<()> {
    if prefix.is_empty() {
        return Ok(());
    }
    check(bucket, prefix.strip_suffix('/').unwrap_or(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_climb_out_of_the_grant() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/./b",
            "a/",
            "a\nb",
            "..",
        ] {
            assert!(check("raw", bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "a",
            "a/b.csv",
            "2024/05/orders.csv.gz",
            "a..b",
            ".hidden",
            "ü/ä",
        ] {
            assert!(check("raw", good).is_ok(), "{good:?} refused");
        }
        assert!(check_prefix("raw", "").is_ok() && check_prefix("raw", "2024/").is_ok());
        assert!(check_prefix("raw", "2024/ord").is_ok());
        assert!(check_prefix("raw", "../").is_err() && check_prefix("raw", "/").is_err());
        let e = check("raw", "a/../../x").expect_err("refused").to_string();
        assert!(e.contains("bucket `raw`") && e.contains("`..`"), "{e}");
    }
}
