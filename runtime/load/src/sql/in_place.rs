//! Tables a package writes in place (append chains, and replace chains emptied inside the
//! transaction) instead of through staging, with the columns each has.

use std::collections::HashMap;

use sluice_schema::{Column, Schema, Table, WriteDisposition};

use super::{ReplaceStrategy, Stmt, empty_table, table_migration};
use crate::{LoadError, Result};

/// The dataset tables a package writes in place, each with the columns it has — so a batch
/// costs a catalog query only the first time its table is seen, and DDL only when the batch
/// brings a column the table lacks. Append chains always qualify; `replace` chains qualify
/// when the destination was told the package replaces them ([`InPlace::replace`]): the chain
/// is emptied inside the transaction before its first rows land, and the commit then only
/// appends to it.
#[derive(Debug, Default)]
pub struct InPlace {
    tables: HashMap<String, Vec<String>>,
    /// roots whose chains this package replaces from scratch
    replacing: Vec<String>,
    /// those of them already emptied
    emptied: Vec<String>,
}

impl InPlace {
    /// The package replaces the chains of `roots` from scratch: write them in place too.
    pub fn replace(&mut self, roots: &[String]) {
        self.replacing = roots.to_vec();
    }

    /// Whether rows of `table` go in place: its root appends, or is replaced from scratch.
    pub fn takes(&self, schema: &Schema, table: &str) -> bool {
        let root = schema.root_of(table);
        match schema
            .tables
            .get(root)
            .map(|t| t.write_disposition.unwrap_or_default())
        {
            Some(WriteDisposition::Append) => true,
            Some(WriteDisposition::Replace) => self.replacing.iter().any(|r| r == root),
            _ => false,
        }
    }

    /// The statements (run inside the package transaction) that make `dataset.table` take a
    /// batch with `fields`: for the first batch of a replaced chain, empty every table of the
    /// chain the dataset has; then create the table, or add the complete columns it lacks.
    /// `existing` reads a table's columns from the destination (none: no table), once per
    /// table. Also returns the table's column count afterwards.
    pub fn prepare(
        &mut self,
        schema: &Schema,
        table: &Table,
        fields: &[&Column],
        dataset: &str,
        mut existing: impl FnMut(&str) -> Result<Vec<String>>,
        ty: fn(&Column) -> String,
    ) -> Result<(Vec<Stmt>, usize)> {
        let mut stmts = Vec::new();
        let root = schema.root_of(&table.name).to_owned();
        if self.replacing.contains(&root) && !self.emptied.contains(&root) {
            for t in schema.table_chain(&root) {
                let have = match self.tables.get(&t.name) {
                    Some(have) => have.clone(),
                    None => existing(&t.name)?,
                };
                if !have.is_empty() {
                    stmts.push(empty_table(
                        dataset,
                        &t.name,
                        false,
                        ReplaceStrategy::default(),
                    ));
                    self.tables.insert(t.name.clone(), have);
                }
            }
            self.emptied.push(root);
        }
        let have = match self.tables.get(&table.name) {
            Some(have) if fields.iter().all(|c| have.contains(&c.name)) => {
                return Ok((stmts, have.len()));
            }
            Some(have) => have.clone(),
            None => existing(&table.name)?,
        };
        stmts.extend(table_migration(table, &have, dataset, ty));
        let mut columns = have;
        for c in table.complete_columns() {
            if !columns.contains(&c.name) {
                columns.push(c.name.clone());
            }
        }
        let width = columns.len();
        self.tables.insert(table.name.clone(), columns);
        Ok((stmts, width))
    }

    /// The replaced roots whose chains were emptied in place (the commit only appends to
    /// them).
    pub fn emptied(&self) -> &[String] {
        &self.emptied
    }

    /// A plan error when a table that took rows in place no longer qualifies in the schema
    /// being committed (its rows would skip the disposition's SQL).
    pub fn check(&self, schema: &Schema) -> Result<()> {
        match self.tables.keys().find(|t| !self.takes(schema, t)) {
            Some(t) => Err(LoadError::Plan(format!(
                "table `{t}` took rows in place but its disposition no longer allows it"
            ))),
            None => Ok(()),
        }
    }

    /// Forget the package.
    pub fn clear(&mut self) {
        self.tables.clear();
        self.replacing.clear();
        self.emptied.clear();
    }
}
