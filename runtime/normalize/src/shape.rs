//! Caps on a record's shape, checked before the record is flattened on the general path (the
//! only path that creates tables and columns): how deep objects and lists nest, and how long
//! a key may be before the destination shortens it. A record past either fails its page
//! naming the cap; the fast path only takes records that fit columns the schema already has.

use serde_json::Value;

/// Check `record`: nesting at most `max_depth` levels, keys at most `max_key_bytes` bytes.
pub fn check_shape(record: &Value, max_depth: usize, max_key_bytes: usize) -> Result<(), String> {
    let mut stack: Vec<(&Value, usize)> = vec![(record, 0)];
    while let Some((v, depth)) = stack.pop() {
        if let Value::Object(m) = v
            && let Some(k) = m.keys().find(|k| k.len() > max_key_bytes)
        {
            return Err(format!(
                "key `{}` is longer than {max_key_bytes} bytes (limits.max_identifier_bytes)",
                shown_key(k)
            ));
        }
        if !(v.is_object() || v.is_array()) {
            continue;
        }
        if depth + 1 > max_depth {
            return Err(format!(
                "objects and lists nest deeper than {max_depth} levels (limits.max_nesting_depth)"
            ));
        }
        match v {
            Value::Object(m) => stack.extend(m.values().map(|c| (c, depth + 1))),
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    Ok(())
}

/// The start of a long key, JSON-escaped, with its length.
fn shown_key(k: &str) -> String {
    let head: String = k.chars().take(48).collect();
    let head = serde_json::to_string(&head).unwrap_or_default();
    format!("{}… ({} bytes)", head.trim_matches('"'), k.len())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn depth_and_key_length_are_capped() {
        let ok = json!({"a": {"b": [1, {"c": 2}]}});
        assert!(check_shape(&ok, 4, 10).is_ok());
        // four containers deep: the record, a, b's list, the dict in it
        let err = check_shape(&ok, 3, 10).expect_err("too deep");
        assert!(err.contains("deeper than 3 levels"), "{err}");
        let long = json!({ "k".repeat(2000): 1 });
        let err = check_shape(&long, 4, 1024).expect_err("long key");
        assert!(
            err.contains("longer than 1024 bytes") && err.contains("(2000 bytes)"),
            "{err}"
        );
        assert!(check_shape(&json!(5), 0, 1).is_ok());
    }
}
