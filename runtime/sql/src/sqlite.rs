//! SQLite files: reflection (tables, views, columns with their declared types, primary keys)
//! and reads, on a blocking thread. The file is opened read-only with `query_only` set, and a
//! progress handler interrupts a statement past the grant's timeout.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::mpsc::Sender;

use crate::arrow_out::{Chunk, bad_value};
use crate::pg_decode::ColumnBuilder;
use crate::render::{Param, ReadAs, ReadPlan};
use crate::{ColumnInfo, DatabaseGrant, Result, SqlError, TableInfo};

fn open(grant: &DatabaseGrant, path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| grant.db_error("open", e))?;
    conn.pragma_update(None, "query_only", true)
        .map_err(|e| grant.db_error("open", e))?;
    let deadline = Instant::now() + grant.statement_timeout;
    conn.progress_handler(10_000, Some(move || Instant::now() > deadline));
    Ok(conn)
}

/// The tables and views of the file, and the grant's queries.
pub(crate) async fn tables(grant: &DatabaseGrant, path: PathBuf) -> Result<Vec<TableInfo>> {
    let grant = grant.clone();
    tokio::task::spawn_blocking(move || reflect(&grant, &path))
        .await
        .map_err(|e| SqlError::Database(format!("reflection stopped: {e}")))?
}

fn reflect(grant: &DatabaseGrant, path: &Path) -> Result<Vec<TableInfo>> {
    let conn = open(grant, path)?;
    let err = |e: rusqlite::Error| grant.db_error("reflect", e);
    let mut names = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') \
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .map_err(err)?;
    let names: Vec<String> = names
        .query_map([], |r| r.get(0))
        .map_err(err)?
        .collect::<std::result::Result<_, _>>()
        .map_err(err)?;
    let mut tables = Vec::new();
    for name in names {
        let mut info = conn
            .prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1)")
            .map_err(err)?;
        let cols: Vec<(String, String, bool, i64)> = info
            .query_map([&name], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(err)?
            .collect::<std::result::Result<_, _>>()
            .map_err(err)?;
        let mut pk: Vec<(i64, String)> = cols
            .iter()
            .filter(|c| c.3 > 0)
            .map(|c| (c.3, c.0.clone()))
            .collect();
        pk.sort();
        tables.push(TableInfo {
            schema: "main".into(),
            name,
            columns: cols.iter().map(|(n, t, nn, _)| column(n, t, !nn)).collect(),
            primary_key: pk.into_iter().map(|(_, n)| n).collect(),
            row_estimate: None,
        });
    }
    for (name, query) in &grant.queries {
        let stmt = conn
            .prepare(query)
            .map_err(|e| grant.db_error(&format!("query `{name}`"), e))?;
        let columns = stmt
            .columns()
            .iter()
            .map(|c| column(c.name(), c.decl_type().unwrap_or(""), true))
            .collect();
        tables.push(TableInfo::query(name, columns));
    }
    Ok(tables)
}

/// A column by its declared type, with SQLite's affinity rules and the usual type names.
fn column(name: &str, declared: &str, nullable: bool) -> ColumnInfo {
    let t = declared.to_ascii_uppercase();
    let (p, s) = type_args(&t);
    let (data_type, precision, scale) = if t.contains("INT") {
        ("bigint", None, None)
    } else if t.contains("BOOL") {
        ("bool", None, None)
    } else if t.starts_with("DATETIME") || t.starts_with("TIMESTAMP") {
        ("timestamp", None, None)
    } else if t == "DATE" {
        ("date", None, None)
    } else if t == "TIME" {
        ("time", None, None)
    } else if t.starts_with("JSON") {
        ("json", None, None)
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") || t.is_empty() {
        ("text", p, None)
    } else if t.contains("BLOB") {
        ("binary", None, None)
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        ("double", None, None)
    } else if t.starts_with("DECIMAL") || t.starts_with("NUMERIC") {
        ("decimal", p, s.or(p.map(|_| 0)))
    } else {
        ("text", None, None)
    };
    ColumnInfo {
        name: name.to_owned(),
        db_type: declared.to_owned(),
        data_type,
        nullable,
        precision,
        scale,
        timezone: (data_type == "timestamp").then_some(false),
        read: ReadAs::Native,
    }
}

/// `(p)` or `(p, s)` of a declared type.
fn type_args(t: &str) -> (Option<u32>, Option<u32>) {
    let Some(inner) = t
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(a, _)| a)
    else {
        return (None, None);
    };
    let mut parts = inner.split(',').map(|x| x.trim().parse::<u32>().ok());
    (parts.next().flatten(), parts.next().flatten())
}

/// Start reading `plan` on a blocking thread; chunks go to `chunks`.
pub(crate) fn spawn(
    grant: DatabaseGrant,
    path: PathBuf,
    plan: ReadPlan,
    chunks: Sender<Result<Vec<u8>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        if let Err(e) = run(&grant, &path, &plan, &chunks) {
            let _ = chunks.blocking_send(Err(e));
        }
    })
}

fn run(
    grant: &DatabaseGrant,
    path: &Path,
    plan: &ReadPlan,
    chunks: &Sender<Result<Vec<u8>>>,
) -> Result<()> {
    let conn = open(grant, path)?;
    let db = |e: rusqlite::Error| grant.db_error(&plan.label, e);
    let mut stmt = conn.prepare(&plan.sql).map_err(db)?;
    for (i, p) in plan.params.iter().enumerate() {
        let at = i + 1;
        match p {
            Param::Text(s) => stmt.raw_bind_parameter(at, s),
            Param::Int(n) => stmt.raw_bind_parameter(at, n),
            Param::Float(f) => stmt.raw_bind_parameter(at, f),
            Param::Bool(b) => stmt.raw_bind_parameter(at, b),
        }
        .map_err(db)?;
    }
    let mut rows = stmt.raw_query();
    loop {
        let mut chunk = Chunk::new(plan, plan.chunk_rows);
        let mut n = 0;
        while n < plan.chunk_rows {
            let Some(row) = rows.next().map_err(db)? else {
                break;
            };
            for (i, b) in chunk.builders.iter_mut().enumerate() {
                let v = row.get_ref(i).map_err(db)?;
                push(b, v).map_err(|e| bad_value(plan, i, n + 1, e))?;
            }
            n += 1;
        }
        if n == 0 {
            return Ok(());
        }
        if chunks.blocking_send(Ok(chunk.ipc(plan)?)).is_err() || n < plan.chunk_rows {
            return Ok(());
        }
    }
}

/// Append one SQLite value, converted to the column's type.
fn push(b: &mut ColumnBuilder, v: ValueRef<'_>) -> Result<(), String> {
    use ColumnBuilder as B;
    if let ValueRef::Null = v {
        return b.push(0, None);
    }
    let text = || -> Result<String, String> {
        Ok(match v {
            ValueRef::Integer(i) => i.to_string(),
            ValueRef::Real(f) => f.to_string(),
            ValueRef::Text(t) => String::from_utf8(t.to_vec()).map_err(|e| e.to_string())?,
            ValueRef::Blob(_) => return Err("a blob where text was declared".into()),
            ValueRef::Null => String::new(),
        })
    };
    match (b, v) {
        (B::Int(b), ValueRef::Integer(i)) => b.append_value(i),
        (B::Float(b), ValueRef::Real(f)) => b.append_value(f),
        (B::Float(b), ValueRef::Integer(i)) => b.append_value(i as f64),
        (B::Bool(b), ValueRef::Integer(i)) => b.append_value(i != 0),
        (B::Binary(b), ValueRef::Blob(x)) => b.append_value(x),
        (B::Text(b), _) => b.append_value(text()?),
        (B::Json(b), _) => b.append_value(crate::pg_decode::compact_json(&text()?)?),
        (B::Decimal(b, scale), _) => {
            b.append_value(crate::decimal_text::unscaled(&text()?, *scale)?)
        }
        (B::Timestamp(b), _) => b.append_value(crate::decimal_text::timestamp_us(&text()?)?),
        (B::Date(b), _) => b.append_value(crate::decimal_text::date_days(&text()?)?),
        (B::Time(b), _) => b.append_value(crate::decimal_text::time_us(&text()?)?),
        (_, other) => {
            return Err(format!(
                "a {:?} value does not fit the declared type",
                other.data_type()
            ));
        }
    }
    Ok(())
}
