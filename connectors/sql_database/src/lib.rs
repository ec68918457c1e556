//! `sql_database`: tables of a granted database, as dlt's `sql_database` source loads them.
//!
//! The connector only plans. It reflects the grant's tables through the host's `sql` import
//! (it never sees the URL or password), declares one resource per selected table with the
//! database's primary key and column types, and asks for structured reads: the selected
//! columns, the incremental window as `cursor >= start` / `cursor < end`, ordered by the
//! cursor. The host runs them read-only and hands back Arrow IPC chunks, which go on as
//! pages unchanged.

mod config;

use config::{Config, Reflection, TableConfig};
use sluice_sdk::sql::{self, Comparison, Predicate, ReadRequest, Rows, TableInfo};
use sluice_sdk::{
    ColumnHint, Error, ErrorKind, Incremental, LastValueFunc, OnCursorMissing, Open, Page,
    Resource, ResourceSpec, Source, SourceSpec, WriteDisposition, error,
};

struct SqlDatabase;

impl Source for SqlDatabase {
    fn spec(config: &serde_json::Value) -> Result<SourceSpec, Error> {
        let cfg = Config::parse(config)?;
        let mut spec = SourceSpec::new("sql_database", env!("CARGO_PKG_VERSION"));
        spec.description = Some(format!("tables of database grant `{}`", cfg.database));
        spec.config_schema = config::SCHEMA.into();
        let tables = selected(&cfg)?;
        if tables.is_empty() {
            return Err(error(
                ErrorKind::Config,
                format!(
                    "database `{}`: no granted table matches {:?}",
                    cfg.database, cfg.tables
                ),
            ));
        }
        for t in &tables {
            spec = spec.resource(resource(&cfg, t)?);
        }
        Ok(spec)
    }

    fn open(open: Open) -> Result<Box<dyn Resource>, Error> {
        let cfg = Config::parse(&open.config)?;
        let table = selected(&cfg)?
            .into_iter()
            .find(|t| t.name == open.resource)
            .ok_or_else(|| {
                error(
                    ErrorKind::Config,
                    format!("database `{}`: no table `{}`", cfg.database, open.resource),
                )
            })?;
        let tc = cfg
            .table_config
            .get(&table.name)
            .cloned()
            .unwrap_or_default();
        let mut req = ReadRequest::table(&cfg.database, &table.name);
        req.schema = Some(table.schema.clone());
        req.columns = tc.columns.clone();
        req.chunk_rows = tc.chunk_size.or(cfg.chunk_size);
        if let (Some(cursor), Some(window)) = (&tc.incremental, &open.window) {
            let max = cursor.last_value_func.as_deref() != Some("min");
            let (from, to) = if max {
                (Comparison::Ge, Comparison::Lt)
            } else {
                (Comparison::Le, Comparison::Gt)
            };
            for (value, op) in [(&window.start_value, from), (&window.end_value, to)] {
                if let Some(v) = value {
                    req.filter.push(Predicate {
                        column: cursor.cursor.clone(),
                        op,
                        value: v.clone(),
                    });
                }
            }
            req.order_by = vec![cursor.cursor.clone()];
        }
        let rows = sql::read(&req).map_err(sql::error)?;
        Ok(Box::new(TableRows(rows)))
    }
}

/// The granted tables (and queries) the configuration selects.
fn selected(cfg: &Config) -> Result<Vec<TableInfo>, Error> {
    let all = sql::tables(&cfg.database).map_err(sql::error)?;
    Ok(all
        .into_iter()
        .filter(|t| match &cfg.schema {
            Some(s) => &t.schema == s || t.schema == "query",
            None => true,
        })
        .filter(|t| cfg.selects(&t.name))
        .collect())
}

/// One table as a resource: its key, its column types as the reflection level allows, its
/// cursor and write disposition.
fn resource(cfg: &Config, t: &TableInfo) -> Result<ResourceSpec, Error> {
    let tc = cfg.table_config.get(&t.name).cloned().unwrap_or_default();
    let mut r = ResourceSpec::new(&t.name);
    r.description = Some(format!("{}.{}", t.schema, t.name));
    r.primary_key = tc
        .primary_key
        .clone()
        .unwrap_or_else(|| t.primary_key.clone());
    r.write_disposition = disposition(
        tc.write_disposition
            .as_ref()
            .or(cfg.write_disposition.as_ref()),
    )?;
    r.columns = t
        .columns
        .iter()
        .filter(|c| tc.columns.is_empty() || tc.columns.contains(&c.name))
        .map(|c| hint(cfg.reflection_level, c))
        .collect();
    r.incremental = incremental(&tc)?;
    Ok(r)
}

fn hint(level: Reflection, c: &sql::ColumnInfo) -> ColumnHint {
    let typed = level != Reflection::Minimal;
    let exact = level == Reflection::FullWithPrecision;
    let decimal = c.data_type == "decimal";
    ColumnHint {
        name: c.name.clone(),
        data_type: typed.then(|| c.data_type.clone()),
        nullable: Some(c.nullable),
        primary_key: false,
        merge_key: false,
        unique: false,
        dedup_sort: None,
        hard_delete: false,
        // dlt keeps decimal precision at every typed level, the rest only at the exact one
        precision: if (typed && decimal) || exact {
            c.precision
        } else {
            None
        },
        scale: if typed && decimal { c.scale } else { None },
        timezone: if typed { c.timezone } else { None },
    }
}

fn disposition(text: Option<&String>) -> Result<WriteDisposition, Error> {
    Ok(match text.map(String::as_str) {
        None | Some("append") => WriteDisposition::Append,
        Some("replace") => WriteDisposition::Replace,
        Some("merge") => WriteDisposition::Merge,
        Some("skip") => WriteDisposition::Skip,
        Some(other) => {
            return Err(error(
                ErrorKind::Config,
                format!("write_disposition `{other}`: use append, replace, merge or skip"),
            ));
        }
    })
}

fn incremental(tc: &TableConfig) -> Result<Option<Incremental>, Error> {
    let Some(c) = &tc.incremental else {
        return Ok(None);
    };
    let last_value_func = match c.last_value_func.as_deref() {
        None | Some("max") => LastValueFunc::Max,
        Some("min") => LastValueFunc::Min,
        Some(other) => {
            return Err(error(
                ErrorKind::Config,
                format!("last_value_func `{other}`: use max or min"),
            ));
        }
    };
    Ok(Some(Incremental {
        cursor_path: c.cursor.clone(),
        initial_value: c.initial_value.as_ref().map(|v| v.to_string()),
        end_value: c.end_value.as_ref().map(|v| v.to_string()),
        last_value_func,
        lag: c.lag,
        on_cursor_missing: OnCursorMissing::Raise,
    }))
}

/// A read handed on chunk by chunk.
struct TableRows(Rows);

impl Resource for TableRows {
    fn next_page(&mut self) -> Result<Option<Page>, Error> {
        Ok(self.0.next().map_err(sql::error)?.map(Page::arrow_ipc))
    }
}

sluice_sdk::export!(SqlDatabase);
