//! Reads on a PostgreSQL dataset through `sluice-sql`'s query reader: a read-only
//! transaction with the dataset as search path, on a runtime of the reading thread's own.

use std::time::Duration;

use sluice_sql::{PgQuery, PgUrl};

use crate::batches::Sink;
use crate::{DatasetError, Result};

/// Run `sql` on `dataset` at `url`, sending its batches to `sink`.
pub(crate) fn run(
    url: &PgUrl,
    dataset: &str,
    sql: &str,
    timeout: Duration,
    sink: &Sink,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DatasetError::Query(format!("starting a reader: {e}")))?;
    let q = PgQuery {
        url,
        search_path: dataset,
        sql,
        timeout,
    };
    runtime
        .block_on(sluice_sql::pg_query(
            &q,
            &mut |schema| sink.schema(schema),
            &mut |batch| sink.batch(batch),
        ))
        .map_err(|e| {
            let text = e.to_string();
            let connecting = format!("connecting to {}: ", url.redacted());
            if let Some(reason) = text.strip_prefix(&connecting) {
                DatasetError::Unavailable {
                    destination: url.redacted(),
                    reason: format!("cannot connect: {reason}"),
                }
            } else if text.contains("read-only transaction") {
                DatasetError::ReadOnly(format!("queries are read-only: {text}"))
            } else {
                DatasetError::Query(text)
            }
        })
}
