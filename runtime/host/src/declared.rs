//! What a connector declares in `spec` is untrusted input: source and resource names, table
//! and parent names, column hints, cursor paths, versions and the config schema are checked
//! here, before the host uses any of them. Names become schema keys, table names and error
//! text; none becomes a path (page files are named by index), but a name that could — a
//! separator, `..`, a control character — is refused anyway, so no later code has to care.

use std::collections::HashSet;

use crate::bindings::types::{Incremental, ResourceSpec, SourceSpec};
use crate::hygiene::{is_unsafe_char, shown};

/// Longest name (source, resource, table, parent, column, cursor path), bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Most resources one source may declare.
pub const MAX_RESOURCES: usize = 1_000;
/// Most column hints one resource may declare.
pub const MAX_COLUMN_HINTS: usize = 10_000;
/// Longest version string, bytes.
pub const MAX_VERSION_BYTES: usize = 64;
/// Longest description, bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 16 << 10;
/// Largest config schema (JSON), bytes.
pub const MAX_CONFIG_SCHEMA_BYTES: usize = 1 << 20;
/// Largest incremental initial or end value (JSON), bytes.
pub const MAX_VALUE_BYTES: usize = 64 << 10;

/// A resource declared with nothing but its name: appended, no keys, hints or cursor,
/// selected (what an in-process source declares before its caller's settings apply).
pub fn plain_resource(name: &str) -> ResourceSpec {
    ResourceSpec {
        name: name.to_owned(),
        table_name: None,
        description: None,
        write_disposition: crate::WriteDisposition::Append,
        merge_strategy: None,
        primary_key: Vec::new(),
        merge_key: Vec::new(),
        columns: Vec::new(),
        incremental: None,
        max_nesting: None,
        parent: None,
        selected: true,
    }
}

/// Why a declaration was refused: which field, the value as it may be shown, the rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// e.g. `resources[3].name`
    pub field: String,
    /// the offending value, escaped and cut
    pub value: String,
    pub rule: String,
}

fn refuse(field: impl Into<String>, value: &str, rule: impl Into<String>) -> Refusal {
    Refusal {
        field: field.into(),
        value: shown(value, 64),
        rule: rule.into(),
    }
}

/// Check one name: non-empty, short, printable, no path separators, not `.` or `..`.
pub fn check_name(field: &str, name: &str) -> Result<(), Refusal> {
    let rule = if name.is_empty() {
        "is empty".to_owned()
    } else if name.len() > MAX_NAME_BYTES {
        format!("is longer than {MAX_NAME_BYTES} bytes")
    } else if name.chars().any(is_unsafe_char) {
        "contains a control character".to_owned()
    } else if name.contains('/') || name.contains('\\') {
        "contains a path separator".to_owned()
    } else if name == "." || name == ".." {
        "is a relative path component".to_owned()
    } else if name.trim() != name {
        "starts or ends with white space".to_owned()
    } else {
        return Ok(());
    };
    Err(refuse(field, name, rule))
}

fn check_text(field: &str, text: &str, max: usize) -> Result<(), Refusal> {
    if text.len() > max {
        return Err(refuse(field, text, format!("is longer than {max} bytes")));
    }
    if text
        .chars()
        .any(|c| is_unsafe_char(c) && c != '\n' && c != '\t')
    {
        return Err(refuse(field, text, "contains a control character"));
    }
    Ok(())
}

fn check_json(field: &str, text: &str, max: usize) -> Result<(), Refusal> {
    if text.len() > max {
        return Err(refuse(field, text, format!("is longer than {max} bytes")));
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(|_| ())
        .map_err(|e| refuse(field, text, format!("is not JSON: {e}")))
}

fn check_incremental(at: &str, i: &Incremental) -> Result<(), Refusal> {
    check_name(&format!("{at}.incremental.cursor_path"), &i.cursor_path)?;
    for (what, v) in [
        ("initial_value", &i.initial_value),
        ("end_value", &i.end_value),
    ] {
        if let Some(v) = v {
            check_json(&format!("{at}.incremental.{what}"), v, MAX_VALUE_BYTES)?;
        }
    }
    if let Some(lag) = i.lag
        && !(lag.is_finite() && lag >= 0.0)
    {
        return Err(refuse(
            format!("{at}.incremental.lag"),
            &lag.to_string(),
            "is not a non-negative number",
        ));
    }
    Ok(())
}

fn check_resource(at: &str, r: &ResourceSpec) -> Result<(), Refusal> {
    check_name(&format!("{at}.name"), &r.name)?;
    if let Some(t) = &r.table_name {
        check_name(&format!("{at}.table_name"), t)?;
    }
    if let Some(p) = &r.parent {
        check_name(&format!("{at}.parent"), p)?;
    }
    if let Some(d) = &r.description {
        check_text(&format!("{at}.description"), d, MAX_DESCRIPTION_BYTES)?;
    }
    if r.columns.len() > MAX_COLUMN_HINTS {
        return Err(refuse(
            format!("{at}.columns"),
            &format!("{} hints", r.columns.len()),
            format!("declares more than {MAX_COLUMN_HINTS} column hints"),
        ));
    }
    for (i, c) in r.columns.iter().enumerate() {
        check_name(&format!("{at}.columns[{i}].name"), &c.name)?;
        for (what, v) in [("data_type", &c.data_type), ("dedup_sort", &c.dedup_sort)] {
            if let Some(v) = v {
                check_name(&format!("{at}.columns[{i}].{what}"), v)?;
            }
        }
    }
    for (what, keys) in [("primary_key", &r.primary_key), ("merge_key", &r.merge_key)] {
        for (i, k) in keys.iter().enumerate() {
            check_name(&format!("{at}.{what}[{i}]"), k)?;
        }
    }
    if let Some(i) = &r.incremental {
        check_incremental(at, i)?;
    }
    Ok(())
}

/// Check a whole declaration: every field above, unique resource names, parents that exist
/// and form no cycle.
pub fn check_spec(spec: &SourceSpec) -> Result<(), Refusal> {
    check_name("name", &spec.name)?;
    check_text("version", &spec.version, MAX_VERSION_BYTES)?;
    if spec.version.contains('\n') || spec.version.contains('\t') {
        return Err(refuse(
            "version",
            &spec.version,
            "contains a control character",
        ));
    }
    if let Some(d) = &spec.description {
        check_text("description", d, MAX_DESCRIPTION_BYTES)?;
    }
    if !spec.config_schema.trim().is_empty() {
        check_json(
            "config_schema",
            &spec.config_schema,
            MAX_CONFIG_SCHEMA_BYTES,
        )?;
    }
    if spec.resources.len() > MAX_RESOURCES {
        return Err(refuse(
            "resources",
            &format!("{} resources", spec.resources.len()),
            format!("declares more than {MAX_RESOURCES} resources"),
        ));
    }
    let mut names = HashSet::new();
    for (i, r) in spec.resources.iter().enumerate() {
        let at = format!("resources[{i}]");
        check_resource(&at, r)?;
        if !names.insert(r.name.as_str()) {
            return Err(refuse(format!("{at}.name"), &r.name, "is declared twice"));
        }
    }
    for (i, r) in spec.resources.iter().enumerate() {
        check_parents(spec, i, r)?;
    }
    Ok(())
}

/// A parent names another declared resource, and following parents never comes back.
fn check_parents(spec: &SourceSpec, i: usize, r: &ResourceSpec) -> Result<(), Refusal> {
    let mut seen = HashSet::from([r.name.as_str()]);
    let mut at = r;
    while let Some(p) = &at.parent {
        let Some(parent) = spec.resources.iter().find(|x| &x.name == p) else {
            return Err(refuse(
                format!("resources[{i}].parent"),
                p,
                "names no declared resource",
            ));
        };
        if !seen.insert(parent.name.as_str()) {
            return Err(refuse(
                format!("resources[{i}].parent"),
                p,
                "makes a cycle of parents",
            ));
        }
        at = parent;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_be_paths_or_terminal_tricks_are_refused() {
        for (name, rule) in [
            ("../../x", "path separator"),
            ("/abs/x", "path separator"),
            ("a/b", "path separator"),
            ("a\\b", "path separator"),
            ("..", "relative path"),
            (".", "relative path"),
            ("", "empty"),
            ("a\0b", "control character"),
            ("a\x1b[31m", "control character"),
            ("line\nbreak", "control character"),
            (" padded", "white space"),
        ] {
            let r = check_name("resources[0].name", name).expect_err(name);
            assert!(r.rule.contains(rule), "{name:?}: {}", r.rule);
            assert!(!r.value.contains('\0') && !r.value.contains('\x1b'));
        }
        let long = "n".repeat(10 * 1024);
        let r = check_name("resources[0].name", &long).expect_err("long");
        assert!(r.rule.contains("256 bytes") && r.value.ends_with("(10240 bytes)"));
        for ok in [
            "events",
            "issue_comments",
            "Ünïcode Names",
            "a.b",
            "..x",
            "x..",
        ] {
            check_name("n", ok).expect(ok);
        }
    }
}
