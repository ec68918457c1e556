//! A trusted reader's SQL on a PostgreSQL dataset (`sluice query`, the dashboard): one
//! session, a read-only transaction under a statement timeout with the dataset as its
//! search path, the result fetched a chunk at a time in the binary protocol into the same
//! Arrow builders a connector's reads use. This is not the `sql` import: a connector never
//! sends SQL text; the person who holds the destination's credentials does.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use tokio_postgres::types::Type;

use crate::pg_decode::ColumnBuilder;
use crate::pg_read::Raw;
use crate::pg_session::pg_text;
use crate::render::ReadAs;
use crate::{ColumnInfo, PgUrl, Result, SqlError};

/// Rows per fetched chunk (one Arrow batch each).
const CHUNK_ROWS: i32 = 8_192;

/// What to run and where.
#[derive(Debug)]
pub struct PgQuery<'a> {
    pub url: &'a PgUrl,
    /// the schema unqualified names resolve in (the dataset)
    pub search_path: &'a str,
    pub sql: &'a str,
    pub timeout: Duration,
}

/// Run `q` on the current tokio runtime, handing each batch to `out` until it returns
/// `false`; the first call of `schema` comes before any batch.
pub async fn pg_query(
    q: &PgQuery<'_>,
    schema: &mut dyn FnMut(SchemaRef) -> bool,
    out: &mut dyn FnMut(RecordBatch) -> bool,
) -> Result<()> {
    let db = |what: &str, e: tokio_postgres::Error| {
        SqlError::Database(format!("{what}: {}", pg_text(&e)))
    };
    let mut client = crate::pg_session::connect(q.url, None, "sluice-query")
        .await
        .map_err(|e| SqlError::Database(format!("connecting to {}: {e}", q.url.redacted())))?;
    let tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .await
        .map_err(|e| db("begin", e))?;
    let timeout_ms = q.timeout.as_millis().max(1);
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = {timeout_ms}; SET LOCAL timezone = 'UTC'; \
         SET LOCAL intervalstyle = 'iso_8601'; SET LOCAL search_path TO {}",
        crate::render::quote_pg(q.search_path)
    ))
    .await
    .map_err(|e| db("setting up the session", e))?;
    let prepared = tx.prepare(q.sql).await.map_err(|e| db("the query", e))?;
    let columns: Vec<ColumnInfo> = prepared
        .columns()
        .iter()
        .map(crate::pg_reflect::result_column)
        .collect();
    let stmt = match wrapped(q.sql, &columns)? {
        Some(sql) => tx.prepare(&sql).await.map_err(|e| db("the query", e))?,
        None => prepared,
    };
    let fields: Vec<_> = columns.iter().map(|c| ColumnBuilder::new(c, 0).1).collect();
    let arrow_schema: SchemaRef = Arc::new(Schema::new(fields));
    if !schema(arrow_schema.clone()) {
        return Ok(());
    }
    let portal = tx.bind(&stmt, &[]).await.map_err(|e| db("the query", e))?;
    loop {
        let rows = tx
            .query_portal(&portal, CHUNK_ROWS)
            .await
            .map_err(|e| db("the query", e))?;
        if rows.is_empty() {
            return Ok(());
        }
        let last = rows.len() < CHUNK_ROWS as usize;
        let batch = decode(&columns, &arrow_schema, &rows)?;
        if !out(batch) || last {
            return Ok(());
        }
    }
}

/// The query wrapped so columns without a binary decoder arrive as text or JSON text
/// (`None` when every column decodes as sent).
fn wrapped(sql: &str, columns: &[ColumnInfo]) -> Result<Option<String>> {
    if columns.iter().all(|c| c.read == ReadAs::Native) {
        return Ok(None);
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = columns.iter().find(|c| !seen.insert(c.name.as_str())) {
        return Err(SqlError::Unsupported(format!(
            "the result has two columns named `{}` and one of type `{}`, which is read as \
             text; give the columns distinct names (`AS …`)",
            dup.name,
            columns
                .iter()
                .find(|c| c.read != ReadAs::Native)
                .map_or("", |c| c.db_type.as_str())
        )));
    }
    let list: Vec<String> = columns.iter().map(crate::render::select_expr_pg).collect();
    let body = sql.trim().trim_end_matches(';');
    Ok(Some(format!(
        "SELECT {} FROM ({body}\n) AS sluice_query",
        list.join(", ")
    )))
}

/// One chunk of rows as a batch.
fn decode(
    columns: &[ColumnInfo],
    schema: &SchemaRef,
    rows: &[tokio_postgres::Row],
) -> Result<RecordBatch> {
    let mut builders: Vec<ColumnBuilder> = columns
        .iter()
        .map(|c| ColumnBuilder::new(c, rows.len()).0)
        .collect();
    for (n, row) in rows.iter().enumerate() {
        for (i, b) in builders.iter_mut().enumerate() {
            let oid = row.columns()[i].type_().oid();
            // a wrapped column arrives as text
            let oid = if columns[i].read == ReadAs::Native {
                oid
            } else {
                Type::TEXT.oid()
            };
            let raw: Option<Raw<'_>> = row
                .try_get(i)
                .map_err(|e| SqlError::Database(format!("column `{}`: {e}", columns[i].name)))?;
            b.push(oid, raw.map(|r| r.0)).map_err(|e| {
                SqlError::Unsupported(format!("column `{}`, row {}: {e}", columns[i].name, n + 1))
            })?;
        }
    }
    let arrays = builders.iter_mut().map(ColumnBuilder::finish).collect();
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| SqlError::Database(e.to_string()))
}
