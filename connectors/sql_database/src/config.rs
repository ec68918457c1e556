//! The connector's configuration: which database grant, which tables, how each is read.

use std::collections::BTreeMap;

use serde::Deserialize;
use sluice_sdk::{Error, ErrorKind, error};

/// How much of the database's own types reaches the schema (dlt's `reflection_level`).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Reflection {
    /// names and nullability; types come from the data
    Minimal,
    /// types, decimal precision and scale, timestamp time zones (dlt's default)
    #[default]
    Full,
    /// also integer widths, text lengths and fraction digits
    FullWithPrecision,
}

/// dlt's incremental on a column, as the pipeline author writes it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    pub cursor: String,
    pub initial_value: Option<serde_json::Value>,
    pub end_value: Option<serde_json::Value>,
    /// `max` (default) or `min`
    #[serde(default)]
    pub last_value_func: Option<String>,
    pub lag: Option<f64>,
}

/// What one table's extraction may change.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// columns to read, in order (default: all)
    #[serde(default)]
    pub columns: Vec<String>,
    pub incremental: Option<Cursor>,
    /// default: the table's primary key in the database
    pub primary_key: Option<Vec<String>>,
    pub write_disposition: Option<String>,
    pub chunk_size: Option<u32>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// the name of a `[grants.databases.NAME]`
    pub database: String,
    /// default: the grant's first schema
    pub schema: Option<String>,
    /// tables (or the grant's query names) to load, `*` and `?` allowed; default: all
    #[serde(default)]
    pub tables: Vec<String>,
    /// rows per page (default 50,000)
    pub chunk_size: Option<u32>,
    #[serde(default)]
    pub reflection_level: Reflection,
    /// write disposition of every table without its own (default `append`)
    pub write_disposition: Option<String>,
    #[serde(default)]
    pub table_config: BTreeMap<String, TableConfig>,
}

impl Config {
    pub fn parse(value: &serde_json::Value) -> Result<Config, Error> {
        serde_json::from_value(value.clone())
            .map_err(|e| error(ErrorKind::Config, format!("sql_database config: {e}")))
    }

    /// Whether table `name` is selected.
    pub fn selects(&self, name: &str) -> bool {
        self.tables.is_empty() || self.tables.iter().any(|p| glob(p, name))
    }
}

/// Whether `text` matches `pattern` (`*` any run, `?` one character).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

pub const SCHEMA: &str = r#"{
  "type": "object",
  "required": ["database"],
  "additionalProperties": false,
  "properties": {
    "database": {"type": "string", "description": "name of a [grants.databases.NAME]"},
    "schema": {"type": "string"},
    "tables": {"type": "array", "items": {"type": "string"}},
    "chunk_size": {"type": "integer", "minimum": 1},
    "reflection_level": {"enum": ["minimal", "full", "full_with_precision"]},
    "write_disposition": {"enum": ["append", "replace", "merge", "skip"]},
    "table_config": {"type": "object", "additionalProperties": {"type": "object"}}
  }
}"#;
