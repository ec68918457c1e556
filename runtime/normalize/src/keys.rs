//! The column (or nested table) name of a record key. New names follow dlt's relational
//! normalizer: the key is normalized as a path ([`sluice_schema::normalize_key`]), so
//! `__double` is `double` and `a__b` stays `a__b`. Sluice before this rule normalized a key as
//! one identifier (`_double`, `a_b`); where the stored schema already holds that name under
//! the same table and the new one is unknown, the stored name wins, so a dataset loaded
//! earlier never splits into old and new columns.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use sluice_schema::{PATH_SEPARATOR, Schema, make_path, normalize_identifier, normalize_key};

/// Every name of a schema with each of its `__` prefixes: a table's columns per table, and
/// the tables. Made on first need from the schema a page starts with (most pages never need
/// it: only keys whose two names differ ask).
#[derive(Debug, Default)]
pub(crate) struct KnownNames {
    columns: HashMap<String, HashSet<String>>,
    tables: HashSet<String>,
}

impl KnownNames {
    fn of(schema: &Schema) -> KnownNames {
        let mut known = KnownNames::default();
        for (name, table) in &schema.tables {
            add_prefixes(&mut known.tables, name);
            let columns = known.columns.entry(name.clone()).or_default();
            for c in table.columns.keys() {
                add_prefixes(columns, c);
            }
        }
        known
    }

    /// Whether `table` has a column, or the schema a nested table, under `path` + `name`.
    fn has(&self, table: &str, path: &[String], name: &str, max_len: usize) -> bool {
        let mut parts: Vec<&str> = path.iter().map(String::as_str).collect();
        parts.push(name);
        let column = make_path(&parts, max_len);
        if self.columns.get(table).is_some_and(|c| c.contains(&column)) {
            return true;
        }
        parts.insert(0, table);
        self.tables.contains(&make_path(&parts, max_len))
    }
}

fn add_prefixes(set: &mut HashSet<String>, name: &str) {
    for (at, _) in name.match_indices(PATH_SEPARATOR) {
        if at > 0 {
            set.insert(name[..at].to_owned());
        }
    }
    set.insert(name.to_owned());
}

/// The schema's names, made once per page when first asked.
#[derive(Debug, Default)]
pub(crate) struct LazyNames(OnceLock<KnownNames>);

impl LazyNames {
    fn get(&self, schema: &Schema) -> &KnownNames {
        self.0.get_or_init(|| KnownNames::of(schema))
    }
}

/// The normalized fragment of `key` at `path` (normalized fragments) inside `table`.
pub(crate) fn key_name(
    schema: &Schema,
    known: &LazyNames,
    table: &str,
    path: &[String],
    key: &str,
    max_len: usize,
) -> String {
    let name = normalize_key(key, max_len);
    let legacy = normalize_identifier(key);
    if legacy == name {
        return name;
    }
    let known = known.get(schema);
    if !known.has(table, path, &name, max_len) && known.has(table, path, &legacy, max_len) {
        legacy
    } else {
        name
    }
}
