//! Staging bookkeeping of an open package: the staging table of each table with its columns
//! and row count, and the schema's view of what was staged.

use std::collections::HashMap;

use sluice_schema::{Column, Schema, Table};

use super::staging_ddl;
use crate::{LoadError, Result};

/// The schema's columns of a batch bound for `table`, in batch order.
pub fn batch_columns<'t>(
    table: &'t Table,
    batch: &arrow_array::RecordBatch,
) -> Result<Vec<&'t Column>> {
    batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| {
            table.columns.get(f.name()).ok_or_else(|| {
                LoadError::Plan(format!(
                    "batch column `{}` is not in table `{}`",
                    f.name(),
                    table.name
                ))
            })
        })
        .collect()
}

/// The staging table of one table in the open package.
#[derive(Clone, Debug)]
pub struct Staged {
    pub name: String,
    /// its columns, in order
    pub columns: Vec<String>,
    /// rows staged so far (the next row's position)
    pub rows: usize,
}

impl Staged {
    /// A new staging table for `table` in package `load_id`, holding `fields`, with the DDL
    /// that creates it in schema `staging`.
    pub fn create(
        staging: &str,
        table: &str,
        load_id: &str,
        fields: &[&Column],
        ty: fn(&Column) -> String,
    ) -> (Staged, String) {
        let name = crate::staging_name(table, load_id, "");
        let ddl = staging_ddl(staging, &name, fields, ty);
        let columns = fields.iter().map(|c| c.name.clone()).collect();
        (
            Staged {
                name,
                columns,
                rows: 0,
            },
            ddl,
        )
    }
}

/// Table → staging table name, as [`Target::staged`] takes it.
pub fn staged_names(staged: &HashMap<String, Staged>) -> HashMap<String, String> {
    staged
        .iter()
        .map(|(t, s)| (t.clone(), s.name.clone()))
        .collect()
}

/// The schema tables that have staged rows, each with its complete columns — what staging
/// tables are widened to before a package's SQL runs. Rows staged for a table the schema
/// does not have are a plan error.
pub fn staged_tables<'s>(
    schema: &'s Schema,
    staged: &HashMap<String, Staged>,
) -> Result<Vec<(&'s Table, Vec<&'s Column>)>> {
    staged
        .keys()
        .map(|t| {
            let table = schema.tables.get(t).ok_or_else(|| {
                LoadError::Plan(format!(
                    "rows staged for table `{t}` that the schema does not have"
                ))
            })?;
            Ok((table, table.complete_columns().collect()))
        })
        .collect()
}
