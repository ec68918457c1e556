//! What the shared SQL code ([`crate::catalog`]) needs of a database: run statements, run a
//! query with parameters (`$1`, `$2`, … in both engines), list a schema's tables and a table's
//! columns, create the system tables, and hold the open package's staging bookkeeping. DuckDB
//! and PostgreSQL implement it; everything above it — recording a package, reading state and
//! schemas, migrating, committing a package, dropping tables — exists once.

use std::collections::HashMap;

use sluice_schema::Column;

use crate::Result;
use crate::sql::{InPlace, Staged};

/// A query parameter.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Param<'a> {
    Text(&'a str),
    /// text or NULL
    OptText(Option<&'a str>),
    Int(i64),
}

/// A value of a query's result.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Text(String),
}

impl Cell {
    pub fn int(&self) -> i64 {
        match self {
            Cell::Int(i) => *i,
            _ => 0,
        }
    }

    pub fn text(self) -> String {
        match self {
            Cell::Text(s) => s,
            Cell::Int(i) => i.to_string(),
            Cell::Null => String::new(),
        }
    }
}

/// The package a destination has open: its load id, staging tables and in-place tables.
#[derive(Debug, Default)]
pub(crate) struct OpenPackage {
    pub load_id: Option<String>,
    pub staged: HashMap<String, Staged>,
    pub in_place: InPlace,
}

impl OpenPackage {
    /// Start package `load_id`.
    pub fn begin(&mut self, load_id: &str) {
        self.load_id = Some(load_id.to_owned());
        self.staged.clear();
        self.in_place.clear();
    }

    /// Forget the package (committed or rolled back).
    pub fn clear(&mut self) {
        self.load_id = None;
        self.staged.clear();
        self.in_place.clear();
    }
}

/// A SQL database a dataset lives in.
pub(crate) trait SqlDriver {
    /// The dataset's schema.
    fn dataset(&self) -> &str;
    /// The schema staging tables live in.
    fn staging(&self) -> &str;
    /// The database's type for a column.
    fn column_type(&self) -> fn(&Column) -> String;
    /// Run one or more statements without parameters.
    fn exec(&self, context: &str, sql: &str) -> Result<()>;
    /// Run one statement with parameters.
    fn execute(&self, context: &str, sql: &str, params: &[Param<'_>]) -> Result<()>;
    /// The rows of a query with parameters; integer and text columns.
    fn query(&self, context: &str, sql: &str, params: &[Param<'_>]) -> Result<Vec<Vec<Cell>>>;
    /// The tables of `schema`, in name order.
    fn tables_of(&self, schema: &str) -> Result<Vec<String>>;
    /// The columns of `schema.table` in order (none when it does not exist).
    fn columns_of(&self, schema: &str, table: &str) -> Result<Vec<String>>;
    /// Create the dataset, its system tables and its staging schema when missing.
    fn ensure_system_tables(&mut self) -> Result<()>;
    /// The open package.
    fn package(&mut self) -> &mut OpenPackage;
}
