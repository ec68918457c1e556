//! Flattening one raw record into rows of its root and nested tables (dlt's relational
//! normalizer). Pure per record, so records flatten in parallel.

use indexmap::IndexMap;
use serde_json::Value;
use sluice_schema::{
    DLT_ID, DLT_LIST_IDX, DLT_LOAD_ID, DLT_PARENT_ID, DLT_ROOT_ID, DataType, Schema, child_row_id,
    make_path,
};

/// A scalar value as read from JSON, before it meets a column type.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    /// an integer outside the 64-bit range, as its decimal digits
    BigInt(String),
    Float(f64),
    Str(String),
    /// a dict or list kept whole (max nesting or a json column), compact JSON text
    Json(String),
}

/// One row of one table produced from a record.
#[derive(Debug)]
pub struct FlatRow {
    pub table: String,
    /// parent table of a nested row
    pub parent: Option<String>,
    pub cells: Cells,
    /// columns (or nested tables) two keys of the record normalized to; the later value won
    pub collisions: Vec<String>,
}

/// The cells of one flattened row by column name (a fast non-DoS hasher: keys come from the
/// data, but the map lives for one row).
pub type Cells = IndexMap<String, Cell, foldhash::fast::RandomState>;

/// How root `_dlt_id`s are made.
#[derive(Clone, Debug)]
pub enum RootId {
    /// given by the caller per record (random, or salted by package and position)
    Given,
    /// dlt's key hash over the normalized primary key columns (upsert, insert-only)
    KeyHash(Vec<String>),
    /// dlt's row hash over the raw record without `_dlt*` keys (scd2)
    RowHash,
}

/// What flattening needs to know, fixed for a page.
pub struct FlattenSpec<'a> {
    pub schema: &'a Schema,
    /// the schema's names, for keys whose dlt name differs from Sluice's earlier one
    pub known: crate::keys::LazyNames,
    pub root_table: &'a str,
    pub max_nesting: u32,
    pub root_id: &'a RootId,
    /// add `_dlt_root_id` to nested rows
    pub root_key: bool,
    pub max_identifier_len: usize,
    /// `_dlt_load_id` of root rows
    pub load_id: &'a str,
}

/// Error flattening a record.
#[derive(Debug, thiserror::Error)]
pub enum FlattenError {
    #[error("primary key column `{column}` is missing")]
    MissingKey { column: String },
}

impl FlattenSpec<'_> {
    fn is_json_column(&self, table: &str, column: &str) -> bool {
        self.schema
            .tables
            .get(table)
            .and_then(|t| t.columns.get(column))
            .is_some_and(|c| c.data_type == Some(DataType::Json))
    }
}

/// Flatten `record` into rows, root first, nested rows after their parent.
pub fn flatten_record(
    spec: &FlattenSpec<'_>,
    record: Value,
    given_id: String,
) -> Result<Vec<FlatRow>, FlattenError> {
    let record = match record {
        Value::Object(map) => map,
        other => {
            let mut m = serde_json::Map::new();
            m.insert("value".to_owned(), other);
            m
        }
    };
    let row_hash = matches!(spec.root_id, RootId::RowHash).then(|| row_hash_id(&record));
    let mut out = Vec::new();
    let mut cells = Cells::default();
    let mut lists = Vec::new();
    let mut collisions = Vec::new();
    flatten_dict(
        spec,
        spec.root_table,
        record,
        spec.max_nesting,
        &mut Flat {
            cells: &mut cells,
            lists: &mut lists,
            collisions: &mut collisions,
        },
    );
    let id = match (spec.root_id, row_hash) {
        (_, Some(h)) => h,
        (RootId::KeyHash(keys), _) => key_hash_id(keys, |k| cells.get(k))?,
        _ => match cells.get(DLT_ID) {
            Some(Cell::Str(existing)) => existing.clone(),
            _ => given_id,
        },
    };
    cells.shift_remove(DLT_ID);
    cells.insert(DLT_LOAD_ID.to_owned(), Cell::Str(spec.load_id.to_owned()));
    cells.insert(DLT_ID.to_owned(), Cell::Str(id.clone()));
    out.push(FlatRow {
        table: spec.root_table.to_owned(),
        parent: None,
        cells,
        collisions,
    });
    let root_id = id.clone();
    for (path, items) in lists {
        let child = child_table_name(spec, spec.root_table, &path);
        unnest_list(
            spec,
            &child,
            spec.root_table,
            &id,
            &root_id,
            items,
            spec.max_nesting.saturating_sub(1),
            &mut out,
        );
    }
    Ok(out)
}

fn child_table_name(spec: &FlattenSpec<'_>, parent: &str, path: &[String]) -> String {
    let mut parts: Vec<&str> = vec![parent];
    parts.extend(path.iter().map(String::as_str));
    make_path(&parts, spec.max_identifier_len)
}

/// Where flattening one dict writes: its cells, its lists by path, and key collisions.
struct Flat<'a> {
    cells: &'a mut Cells,
    lists: &'a mut Vec<(Vec<String>, Vec<Value>)>,
    collisions: &'a mut Vec<String>,
}

/// Flatten a dict into `cells`; lists go to `lists` with their path. In dlt's order: a
/// dict's own keys first, then its nested dicts, the last one met first (dlt 1.31 keeps them
/// on a stack). Two keys that land on one name: the one written later wins (as in dlt) and
/// the name is recorded.
fn flatten_dict(
    spec: &FlattenSpec<'_>,
    table: &str,
    dict: serde_json::Map<String, Value>,
    level: u32,
    out: &mut Flat<'_>,
) {
    let mut stack = vec![(dict, level, Vec::<String>::new())];
    while let Some((dict, level, base)) = stack.pop() {
        for (key, value) in dict {
            let norm = crate::keys::key_name(
                spec.schema,
                &spec.known,
                table,
                &base,
                &key,
                spec.max_identifier_len,
            );
            let mut path = base.clone();
            path.push(norm);
            let column = make_path(
                &path.iter().map(String::as_str).collect::<Vec<_>>(),
                spec.max_identifier_len,
            );
            match value {
                Value::Object(inner) if level > 0 && !spec.is_json_column(table, &column) => {
                    stack.push((inner, level - 1, path));
                }
                Value::Array(items) if level > 0 && !spec.is_json_column(table, &column) => {
                    if let Some(slot) = out.lists.iter_mut().find(|(p, _)| *p == path) {
                        out.collisions.push(column);
                        slot.1 = items;
                    } else if !items.is_empty() {
                        out.lists.push((path, items));
                    }
                }
                other => {
                    if out.cells.insert(column.clone(), to_cell(other)).is_some() {
                        out.collisions.push(column);
                    }
                }
            }
        }
    }
}

/// Rows of nested table `table` for the items of one list.
#[allow(clippy::too_many_arguments)] // the recursion carries its whole context
fn unnest_list(
    spec: &FlattenSpec<'_>,
    table: &str,
    parent_table: &str,
    parent_id: &str,
    root_id: &str,
    items: Vec<Value>,
    level: u32,
    out: &mut Vec<FlatRow>,
) {
    for (idx, item) in items.into_iter().enumerate() {
        let id = child_row_id(parent_id, table, idx);
        let mut cells = Cells::default();
        let mut lists = Vec::new();
        let mut collisions = Vec::new();
        match item {
            Value::Object(dict) => {
                flatten_dict(
                    spec,
                    table,
                    dict,
                    level,
                    &mut Flat {
                        cells: &mut cells,
                        lists: &mut lists,
                        collisions: &mut collisions,
                    },
                );
            }
            Value::Array(inner) if level > 0 && !spec.is_json_column(table, "list") => {
                if !inner.is_empty() {
                    lists.push((vec!["list".to_owned()], inner));
                }
            }
            other => {
                cells.insert("value".to_owned(), to_cell(other));
            }
        }
        cells.insert(DLT_PARENT_ID.to_owned(), Cell::Str(parent_id.to_owned()));
        cells.insert(DLT_LIST_IDX.to_owned(), Cell::Int(idx as i64));
        if spec.root_key {
            cells.insert(DLT_ROOT_ID.to_owned(), Cell::Str(root_id.to_owned()));
        }
        cells.insert(DLT_ID.to_owned(), Cell::Str(id.clone()));
        out.push(FlatRow {
            table: table.to_owned(),
            parent: Some(parent_table.to_owned()),
            cells,
            collisions,
        });
        for (path, inner) in lists {
            let child = child_table_name(spec, table, &path);
            unnest_list(
                spec,
                &child,
                table,
                &id,
                root_id,
                inner,
                level.saturating_sub(1),
                out,
            );
        }
    }
}

/// A JSON value as a cell.
pub fn to_cell(value: Value) -> Cell {
    match value {
        Value::Null => Cell::Null,
        Value::Bool(b) => Cell::Bool(b),
        Value::Number(n) => number_cell(&n),
        Value::String(s) => Cell::Str(s),
        other => Cell::Json(serde_json::to_string(&other).unwrap_or_default()),
    }
}

fn number_cell(n: &serde_json::Number) -> Cell {
    if let Some(i) = n.as_i64() {
        return Cell::Int(i);
    }
    let text = n.to_string();
    let integral = !text.contains(['.', 'e', 'E']);
    if integral {
        return Cell::BigInt(text);
    }
    Cell::Float(n.as_f64().unwrap_or(f64::NAN))
}

/// dlt's key hash: digest of `{pk: value, ...}` with sorted keys, compact; `cell` gives the
/// value of a key column.
pub(crate) fn key_hash_id<'c>(
    keys: &[String],
    cell: impl Fn(&str) -> Option<&'c Cell>,
) -> Result<String, FlattenError> {
    let mut map = serde_json::Map::new();
    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort();
    for k in sorted {
        let v = match cell(k.as_str()) {
            None | Some(Cell::Null) => {
                return Err(FlattenError::MissingKey { column: k.clone() });
            }
            Some(Cell::Bool(b)) => Value::Bool(*b),
            Some(Cell::Int(i)) => Value::from(*i),
            Some(Cell::BigInt(s)) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
            Some(Cell::Float(f)) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Some(Cell::Str(s)) | Some(Cell::Json(s)) => Value::String(s.clone()),
        };
        map.insert(k.clone(), v);
    }
    Ok(sluice_schema::digest_id(
        sluice_schema::canonical_json(&Value::Object(map)).as_bytes(),
    ))
}

/// dlt's row hash: digest of the raw record without `_dlt*` keys, sorted keys, compact.
fn row_hash_id(record: &serde_json::Map<String, Value>) -> String {
    let mut copy = record.clone();
    copy.retain(|k, _| !k.starts_with("_dlt"));
    sluice_schema::digest_id(sluice_schema::canonical_json(&Value::Object(copy)).as_bytes())
}
