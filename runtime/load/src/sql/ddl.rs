//! DDL: dlt's system tables, staging tables and their widening, and the migrations that give
//! a dataset every complete column of a schema (migrations only ever add).

use sluice_schema::{Column, Schema, Table};

use super::{ROW_COLUMN, Stmt, quote};
use crate::Result;

/// dlt's system tables (`_dlt_loads` with Sluice's extra `component` column, `_dlt_version`,
/// `_dlt_pipeline_state`) in `dataset`, created when missing. The same DDL on both engines.
pub fn system_tables_ddl(dataset: &str) -> String {
    use sluice_schema::{LOADS_TABLE, STATE_TABLE, VERSION_TABLE};
    let ds = quote(dataset);
    format!(
        "CREATE SCHEMA IF NOT EXISTS {ds};
         CREATE TABLE IF NOT EXISTS {ds}.{loads} (load_id VARCHAR NOT NULL, schema_name VARCHAR, status BIGINT NOT NULL, inserted_at TIMESTAMP WITH TIME ZONE NOT NULL, schema_version_hash VARCHAR, component VARCHAR);
         CREATE TABLE IF NOT EXISTS {ds}.{version} (version BIGINT NOT NULL, engine_version BIGINT NOT NULL, inserted_at TIMESTAMP WITH TIME ZONE NOT NULL, schema_name VARCHAR NOT NULL, version_hash VARCHAR NOT NULL, schema VARCHAR NOT NULL);
         CREATE TABLE IF NOT EXISTS {ds}.{state} (version BIGINT NOT NULL, engine_version BIGINT NOT NULL, pipeline_name VARCHAR NOT NULL, state VARCHAR NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL, version_hash VARCHAR, _dlt_load_id VARCHAR NOT NULL, _dlt_id VARCHAR NOT NULL);",
        loads = quote(LOADS_TABLE),
        version = quote(VERSION_TABLE),
        state = quote(STATE_TABLE),
    )
}

/// `CREATE TABLE staging.name (cols…, _sluice_row BIGINT)`.
pub fn staging_ddl(
    staging: &str,
    name: &str,
    cols: &[&Column],
    ty: fn(&Column) -> String,
) -> String {
    let mut defs: Vec<String> = cols
        .iter()
        .map(|c| format!("{} {}", quote(&c.name), ty(c)))
        .collect();
    defs.push(format!("{} BIGINT", quote(ROW_COLUMN)));
    format!(
        "CREATE TABLE {}.{} ({})",
        quote(staging),
        quote(name),
        defs.join(", ")
    )
}

/// `ALTER TABLE … ADD COLUMN` for every column of `wanted` the staging table lacks (recorded
/// in `have`); `None` when it has them all.
pub fn widen_ddl(
    staging: &str,
    name: &str,
    have: &mut Vec<String>,
    wanted: &[&Column],
    ty: fn(&Column) -> String,
) -> Option<String> {
    let mut add = Vec::new();
    for c in wanted {
        if !have.contains(&c.name) {
            add.push(format!(
                "ALTER TABLE {}.{} ADD COLUMN {} {};",
                quote(staging),
                quote(name),
                quote(&c.name),
                ty(c)
            ));
            have.push(c.name.clone());
        }
    }
    (!add.is_empty()).then(|| add.concat())
}

/// `CREATE TABLE` / `ADD COLUMN` statements that give `dataset` every complete column of
/// `schema` — migrations only ever add. `existing` lists a table's columns (none: no table);
/// `ty` is the destination's type for a column.
pub fn migration(
    schema: &Schema,
    dataset: &str,
    mut existing: impl FnMut(&str) -> Result<Vec<String>>,
    ty: fn(&Column) -> String,
) -> Result<Vec<Stmt>> {
    let mut out = Vec::new();
    for table in schema.data_tables() {
        if table.complete_columns().next().is_none() {
            continue;
        }
        let have = existing(&table.name)?;
        out.extend(table_migration(table, &have, dataset, ty));
    }
    Ok(out)
}

/// `CREATE TABLE` (when `have` is empty: no table yet) or `ADD COLUMN` statements that give
/// `dataset.table` every complete column of `table` it lacks.
pub fn table_migration(
    table: &Table,
    have: &[String],
    dataset: &str,
    ty: fn(&Column) -> String,
) -> Vec<Stmt> {
    let ds = quote(dataset);
    let cols: Vec<&Column> = table.complete_columns().collect();
    if cols.is_empty() {
        return Vec::new();
    }
    if have.is_empty() {
        let defs: Vec<String> = cols
            .iter()
            .map(|c| {
                let null = if c.nullable { "" } else { " NOT NULL" };
                format!("{} {}{null}", quote(&c.name), ty(c))
            })
            .collect();
        return vec![Stmt {
            context: format!("creating table `{}`", table.name),
            sql: format!(
                "CREATE TABLE {ds}.{} ({})",
                quote(&table.name),
                defs.join(", ")
            ),
        }];
    }
    cols.iter()
        .filter(|c| !have.contains(&c.name))
        .map(|c| Stmt {
            context: format!("adding column `{}` to `{}`", c.name, table.name),
            sql: format!(
                "ALTER TABLE {ds}.{} ADD COLUMN {} {}",
                quote(&table.name),
                quote(&c.name),
                ty(c)
            ),
        })
        .collect()
}
