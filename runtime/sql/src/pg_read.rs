//! A PostgreSQL read: one session, a read-only repeatable-read transaction under the grant's
//! statement timeout, the rendered statement bound to its parameters as a portal, fetched a
//! chunk at a time in the binary protocol and decoded into Arrow. The task runs one chunk
//! ahead of the connector; dropping the reader ends the session (and so the transaction).

use bytes::BytesMut;
use tokio::sync::mpsc::Sender;
use tokio_postgres::types::{Format, IsNull, ToSql, Type};

use crate::arrow_out::{Chunk, bad_value};
use crate::pg_session::pg_text;
use crate::render::{Param, ReadPlan};
use crate::{DatabaseGrant, PgUrl, Result, SqlError};

/// Read `plan`, sending its chunks to `chunks` ([`crate::Databases::read`] runs it on a task
/// of its own and sends its error).
pub(crate) async fn run(
    grant: DatabaseGrant,
    url: PgUrl,
    plan: ReadPlan,
    chunks: Sender<Result<Vec<u8>>>,
) -> Result<()> {
    let (grant, url, plan, chunks) = (&grant, &url, &plan, &chunks);
    let db = |what: &str, e: tokio_postgres::Error| grant.db_error(what, pg_text(&e));
    let mut client = crate::pg_session::connect(url, grant.password.as_deref(), "sluice-read")
        .await
        .map_err(|e| grant.db_error("connect", e))?;
    let tx = client
        .build_transaction()
        .read_only(true)
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .start()
        .await
        .map_err(|e| db("begin", e))?;
    let timeout_ms = grant.statement_timeout.as_millis().max(1);
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = {timeout_ms}; SET LOCAL intervalstyle = 'iso_8601'; \
         SET LOCAL timezone = 'UTC'"
    ))
    .await
    .map_err(|e| db("set up the session", e))?;
    let stmt = tx
        .prepare(&plan.sql)
        .await
        .map_err(|e| db(&plan.label, e))?;
    let params: Vec<TextParam> = plan.params.iter().map(|p| TextParam(p.clone())).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
    let portal = tx
        .bind(&stmt, &refs)
        .await
        .map_err(|e| db(&plan.label, e))?;
    let chunk = i32::try_from(plan.chunk_rows).unwrap_or(i32::MAX);
    // each column's type, once: looking it up per value was 1.6% of a load's CPU
    let oids: Vec<u32> = stmt.columns().iter().map(|c| c.type_().oid()).collect();
    if oids.len() != plan.columns.len() {
        return Err(SqlError::Database(format!(
            "{}: the server returns {} columns for {} asked",
            plan.label,
            oids.len(),
            plan.columns.len()
        )));
    }
    loop {
        let rows = tx
            .query_portal(&portal, chunk)
            .await
            .map_err(|e| db(&plan.label, e))?;
        if rows.is_empty() {
            return Ok(());
        }
        let last = rows.len() < plan.chunk_rows;
        let bytes = encode(plan, &oids, &rows)?;
        if chunks.send(Ok(bytes)).await.is_err() || last {
            return Ok(());
        }
    }
}

/// Rows of one chunk, whose columns have types `oids`, as an Arrow IPC stream.
fn encode(plan: &ReadPlan, oids: &[u32], rows: &[tokio_postgres::Row]) -> Result<Vec<u8>> {
    let mut chunk = Chunk::new(plan, rows.len());
    for (n, row) in rows.iter().enumerate() {
        for ((i, b), &oid) in chunk.builders.iter_mut().enumerate().zip(oids) {
            let raw: Option<Raw<'_>> = row.try_get(i).map_err(|e| {
                SqlError::Database(format!(
                    "{}: column `{}`: {e}",
                    plan.label, plan.columns[i].name
                ))
            })?;
            b.push(oid, raw.map(|r| r.0))
                .map_err(|e| bad_value(plan, i, n + 1, e))?;
        }
    }
    chunk.ipc(plan)
}

/// A column value as the server sent it.
pub(crate) struct Raw<'a>(pub(crate) &'a [u8]);

impl<'a> tokio_postgres::types::FromSql<'a> for Raw<'a> {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A filter value sent as text, which the server parses as the column's type.
#[derive(Debug)]
struct TextParam(Param);

impl ToSql for TextParam {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0.text().as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _: &Type) -> Format {
        Format::Text
    }

    tokio_postgres::types::to_sql_checked!();
}
