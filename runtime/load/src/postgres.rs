//! The PostgreSQL destination: a dataset is a PostgreSQL schema; rows are bulk-copied with
//! `COPY … FROM STDIN` (text format) into one staging table per table and load, and move into
//! place with the disposition's SQL from [`crate::sql`] — DDL included, all in the package's
//! transaction (PostgreSQL DDL is transactional).
//!
//! The connection runs on its own thread with its own small tokio runtime, so the destination
//! is a plain blocking object that works from inside or outside an async context. The password
//! comes from the URL or `PGPASSWORD` and never appears in [`Catalog::describe`] or errors.

use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float64Type, Int64Type, Time64MicrosecondType,
    TimestampMicrosecondType,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType as ArrowType;
use futures_util::SinkExt;
use sluice_schema::{Column, DataType, Schema, Table};
use tokio_postgres::Client;
use tokio_postgres::types::{ToSql, Type};

use crate::catalog;
use crate::driver::{Cell, OpenPackage, Param, SqlDriver};
use crate::sql::{self, ROW_COLUMN, ReplaceStrategy, quote};
use crate::{Admin, Catalog, Commit, LoadError, PackageTx, PgUrl, Result};

/// PostgreSQL's type for a dlt column (dlt's postgres type mapping).
pub fn postgres_type(col: &Column) -> String {
    match col.data_type.unwrap_or(DataType::Text) {
        DataType::Text => "varchar".into(),
        DataType::Double => "double precision".into(),
        DataType::Bool => "boolean".into(),
        DataType::Timestamp => {
            if col.timezone == Some(false) {
                "timestamp without time zone".into()
            } else {
                "timestamp with time zone".into()
            }
        }
        // dlt's integer widths (an Arrow page's int16 is precision 16)
        DataType::Bigint => match col.precision {
            Some(p) if p <= 16 => "smallint".into(),
            Some(p) if p <= 32 => "integer".into(),
            _ => "bigint".into(),
        },
        DataType::Binary => "bytea".into(),
        DataType::Json => "jsonb".into(),
        DataType::Decimal => {
            let (p, s) = (col.precision.unwrap_or(38), col.scale.unwrap_or(9));
            format!("numeric({p},{s})")
        }
        DataType::Wei => match (col.precision, col.scale) {
            (Some(p), s) => format!("numeric({p},{})", s.unwrap_or(0)),
            _ => "numeric".into(),
        },
        DataType::Date => "date".into(),
        DataType::Time => "time without time zone".into(),
    }
}

/// A dataset in a PostgreSQL database.
pub struct Postgres {
    client: Client,
    url: PgUrl,
    dataset: String,
    staging: String,
    /// the open package: staging tables filled by COPY inside the package transaction, and
    /// the tables it COPYs straight into
    package: OpenPackage,
    system_ready: bool,
    replace_strategy: ReplaceStrategy,
    _conn: std::thread::JoinHandle<()>,
}

pub(crate) fn wait<F: std::future::Future>(f: F) -> F::Output {
    futures_executor::block_on(f)
}

impl Postgres {
    /// Connect to `url` for `dataset`. The password is the URL's or `PGPASSWORD`.
    pub fn connect(url: &PgUrl, dataset: &str) -> Result<Postgres> {
        Self::connect_as(url, dataset, "sluice", false)
    }

    /// A session that holds a pipeline lease ([`crate::lease`]): named after its holder, and
    /// with server-side keepalives, so the server ends it (and releases the lease) within
    /// about a minute of the holder's machine vanishing.
    pub(crate) fn connect_lease_session(url: &PgUrl, app_name: &str) -> Result<Postgres> {
        Self::connect_as(url, "-", app_name, true)
    }

    fn connect_as(url: &PgUrl, dataset: &str, app_name: &str, lease: bool) -> Result<Postgres> {
        let open_err = |source: crate::BoxError| LoadError::Open {
            destination: url.redacted(),
            source,
        };
        let tls = sluice_sql::pg_tls_connector(&url.tls).map_err(|e| open_err(e.into()))?;
        let (client, conn) = open_session(sluice_sql::pg_session_config(url, app_name, lease), tls)
            .map_err(open_err)?;
        Ok(Postgres {
            client,
            url: url.clone(),
            staging: format!("{dataset}_staging"),
            dataset: dataset.to_owned(),
            package: OpenPackage::default(),
            system_ready: false,
            replace_strategy: ReplaceStrategy::default(),
            _conn: conn,
        })
    }

    /// How `replace` empties tables.
    pub fn set_replace_strategy(&mut self, strategy: ReplaceStrategy) {
        self.replace_strategy = strategy;
    }

    /// The client, for queries after loading.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

type Connection = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// Open a session on a thread of its own (its connection runs there on a small tokio
/// runtime), with TLS when `tls` is given.
fn open_session(
    config: tokio_postgres::Config,
    tls: Option<sluice_sql::MakeRustls>,
) -> std::result::Result<(Client, std::thread::JoinHandle<()>), crate::BoxError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let conn = std::thread::Builder::new()
        .name("sluice-postgres".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(crate::BoxError::from(e)));
                    return;
                }
            };
            rt.block_on(async move {
                let opened = match tls {
                    Some(tls) => config.connect(tls).await.map(|(client, conn)| {
                        (
                            client,
                            Box::pin(async move { drop(conn.await) }) as Connection,
                        )
                    }),
                    None => config
                        .connect(tokio_postgres::NoTls)
                        .await
                        .map(|(client, conn)| {
                            (
                                client,
                                Box::pin(async move { drop(conn.await) }) as Connection,
                            )
                        }),
                };
                match opened {
                    Ok((client, connection)) => {
                        let _ = tx.send(Ok(client));
                        connection.await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.into()));
                    }
                }
            });
        })?;
    let client = rx.recv()??;
    Ok((client, conn))
}

/// Query parameters as tokio-postgres binds them.
fn bound<'p>(params: &'p [Param<'_>]) -> Vec<&'p (dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| match p {
            Param::Text(s) => s as &(dyn ToSql + Sync),
            Param::OptText(s) => s as &(dyn ToSql + Sync),
            Param::Int(i) => i as &(dyn ToSql + Sync),
        })
        .collect()
}

/// Column `i` of `row`: integers and text (the types the catalog queries return).
fn cell(row: &tokio_postgres::Row, i: usize) -> std::result::Result<Cell, tokio_postgres::Error> {
    let ty = row.columns()[i].type_();
    let cell = match *ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Cell::Int),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)?
            .map(|v| Cell::Int(v.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)?
            .map(|v| Cell::Int(v.into())),
        _ => row.try_get::<_, Option<String>>(i)?.map(Cell::Text),
    };
    Ok(cell.unwrap_or(Cell::Null))
}

impl SqlDriver for Postgres {
    fn dataset(&self) -> &str {
        &self.dataset
    }

    fn staging(&self) -> &str {
        &self.staging
    }

    fn column_type(&self) -> fn(&Column) -> String {
        postgres_type
    }

    fn exec(&self, context: &str, sql: &str) -> Result<()> {
        wait(self.client.batch_execute(sql)).map_err(|e| LoadError::sql(context, e))
    }

    fn execute(&self, context: &str, sql: &str, params: &[Param<'_>]) -> Result<()> {
        wait(self.client.execute(sql, &bound(params)))
            .map(drop)
            .map_err(|e| LoadError::sql(context, e))
    }

    fn query(&self, context: &str, sql: &str, params: &[Param<'_>]) -> Result<Vec<Vec<Cell>>> {
        let rows =
            wait(self.client.query(sql, &bound(params))).map_err(|e| LoadError::sql(context, e))?;
        rows.iter()
            .map(|r| (0..r.len()).map(|i| cell(r, i)).collect())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| LoadError::sql(context, e))
    }

    fn tables_of(&self, schema: &str) -> Result<Vec<String>> {
        let rows = wait(self.client.query(
            "select table_name::text from information_schema.tables where table_schema = $1 order by 1",
            &[&schema],
        ))
        .map_err(|e| LoadError::sql(format!("listing the tables of `{schema}`"), e))?;
        Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
    }

    fn columns_of(&self, schema: &str, table: &str) -> Result<Vec<String>> {
        let rows = wait(self.client.query(
            "select column_name::text from information_schema.columns \
             where table_schema = $1 and table_name = $2 order by ordinal_position",
            &[&schema, &table],
        ))
        .map_err(|e| LoadError::sql(format!("reading the columns of table `{table}`"), e))?;
        Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
    }

    /// Create the dataset, its system tables and its staging schema when missing. Workers and
    /// pipelines sharing the dataset may do this at the same moment, and concurrent `CREATE
    /// … IF NOT EXISTS` still collide in PostgreSQL's catalog (`pg_namespace_nspname_index`):
    /// a transaction-scoped advisory lock per dataset puts them one after another.
    fn ensure_system_tables(&mut self) -> Result<()> {
        if self.system_ready {
            return Ok(());
        }
        let key = format!("sluice-ddl:{}", self.dataset);
        let ddl = format!(
            "{} CREATE SCHEMA IF NOT EXISTS {};",
            sql::system_tables_ddl(&self.dataset),
            quote(&self.staging)
        );
        let result = self.exec("creating system tables", "BEGIN").and_then(|()| {
            wait(self.client.query_one(
                "select pg_advisory_xact_lock(hashtextextended($1, 0))",
                &[&key],
            ))
            .map_err(|e| LoadError::sql("locking the dataset for its creation", e))?;
            self.exec("creating system tables", &ddl)?;
            self.exec("creating system tables", "COMMIT")
        });
        if result.is_err() {
            let _ = self.exec("rolling back", "ROLLBACK");
        }
        result?;
        self.system_ready = true;
        Ok(())
    }

    fn package(&mut self) -> &mut OpenPackage {
        &mut self.package
    }
}

impl Catalog for Postgres {
    fn describe(&self) -> String {
        self.url.redacted()
    }

    fn is_loaded(&mut self, load_id: &str) -> Result<bool> {
        catalog::is_loaded(self, load_id)
    }

    fn load_count(&mut self) -> Result<i64> {
        catalog::load_count(self)
    }

    fn stored_schema(&mut self, schema_name: &str) -> Result<Option<String>> {
        catalog::stored_schema(self, schema_name)
    }

    fn stored_state(&mut self, pipeline: &str) -> Result<Option<crate::StoredState>> {
        catalog::stored_state(self, pipeline)
    }

    fn table_counts(&mut self) -> Result<Vec<(String, i64)>> {
        catalog::table_counts(self)
    }

    fn max_identifier_len(&self) -> usize {
        crate::POSTGRES_MAX_IDENTIFIER
    }
}

impl PackageTx for Postgres {
    fn begin(&mut self, load_id: &str) -> Result<()> {
        self.ensure_system_tables()?;
        self.exec(
            "starting the load transaction",
            &format!(
                "BEGIN; CREATE SCHEMA IF NOT EXISTS {};",
                quote(&self.staging)
            ),
        )?;
        self.package.begin(load_id);
        Ok(())
    }

    fn write_batch(&mut self, schema: &Schema, table: &Table, batch: &RecordBatch) -> Result<()> {
        let Some(load_id) = self.package.load_id.clone() else {
            return Err(LoadError::NotBegun);
        };
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let fields = sql::batch_columns(table, batch)?;
        let mut cols: Vec<String> = fields.iter().map(|c| quote(&c.name)).collect();
        let (target, offset, context) = if self.package.in_place.takes(schema, &table.name) {
            catalog::prepare_in_place(self, schema, table, &fields)?;
            let target = format!("{}.{}", quote(&self.dataset), quote(&table.name));
            (target, None, format!("appending to table `{}`", table.name))
        } else {
            catalog::prepare_staging(self, &load_id, table, &fields)?;
            let Some(st) = self.package.staged.get(&table.name) else {
                return Err(LoadError::NotBegun);
            };
            cols.push(quote(ROW_COLUMN));
            let target = format!("{}.{}", quote(&self.staging), quote(&st.name));
            (
                target,
                Some(st.rows),
                format!("staging table `{}`", table.name),
            )
        };
        let data = encode_copy_text(batch, offset)
            .map_err(|e| LoadError::Plan(format!("{context}: {e}")))?;
        let copy = format!("COPY {target} ({}) FROM STDIN", cols.join(", "));
        wait(async {
            let sink = self.client.copy_in::<_, bytes::Bytes>(&copy).await?;
            futures_util::pin_mut!(sink);
            sink.send(bytes::Bytes::from(data)).await?;
            sink.finish().await
        })
        .map_err(|e| LoadError::sql(&context, e))?;
        if let (Some(st), Some(_)) = (self.package.staged.get_mut(&table.name), offset) {
            st.rows += batch.num_rows();
        }
        Ok(())
    }

    fn commit(&mut self, commit: &Commit) -> Result<()> {
        let Some(load_id) = self.package.load_id.clone() else {
            return Err(LoadError::NotBegun);
        };
        let emptying = catalog::Emptying {
            strategy: self.replace_strategy,
            truncate: true,
        };
        catalog::commit_package(self, &load_id, commit, emptying)?;
        self.package.clear();
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        self.package.in_place.clear();
        if self.package.load_id.take().is_some() {
            self.package.staged.clear();
            self.exec("rolling back the load", "ROLLBACK")?;
        }
        Ok(())
    }
}

impl Admin for Postgres {
    fn drop_tables(&mut self, load_id: &str, tables: &[String], commit: &Commit) -> Result<()> {
        catalog::drop_tables(self, load_id, tables, commit)
    }
}

/// One batch in PostgreSQL's COPY text format; for staging, with the row position appended
/// as the last column (`offset` + row index).
pub fn encode_copy_text(
    batch: &RecordBatch,
    offset: Option<usize>,
) -> std::result::Result<Vec<u8>, String> {
    let rows = batch.num_rows();
    let mut out = String::with_capacity(rows * batch.num_columns() * 12);
    for row in 0..rows {
        for col in batch.columns() {
            if col.is_null(row) {
                out.push_str("\\N");
            } else {
                write_value(&mut out, col.as_ref(), row)?;
            }
            out.push('\t');
        }
        match offset {
            Some(offset) => {
                let _ = write!(out, "{}", offset + row);
            }
            // no position column: the last tab ends the row instead
            None => {
                out.pop();
            }
        }
        out.push('\n');
    }
    Ok(out.into_bytes())
}

fn escape_into(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0' => {}
            c => out.push(c),
        }
    }
}

fn write_value(out: &mut String, col: &dyn Array, row: usize) -> std::result::Result<(), String> {
    match col.data_type() {
        ArrowType::Utf8 => escape_into(out, col.as_string::<i32>().value(row)),
        ArrowType::LargeUtf8 => escape_into(out, col.as_string::<i64>().value(row)),
        ArrowType::Int64 => {
            let _ = write!(out, "{}", col.as_primitive::<Int64Type>().value(row));
        }
        ArrowType::Float64 => {
            let v = col.as_primitive::<Float64Type>().value(row);
            if v.is_nan() {
                out.push_str("NaN");
            } else if v.is_infinite() {
                out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
            } else {
                let _ = write!(out, "{v:?}");
            }
        }
        ArrowType::Boolean => out.push(if col.as_boolean().value(row) {
            't'
        } else {
            'f'
        }),
        ArrowType::Timestamp(_, tz) => {
            let us = col.as_primitive::<TimestampMicrosecondType>().value(row);
            let ts = chrono::DateTime::from_timestamp_micros(us)
                .ok_or_else(|| format!("timestamp {us}µs is out of range"))?;
            let _ = if tz.is_some() {
                write!(out, "{}", ts.format("%Y-%m-%d %H:%M:%S%.6f+00"))
            } else {
                write!(out, "{}", ts.format("%Y-%m-%d %H:%M:%S%.6f"))
            };
        }
        ArrowType::Decimal128(_, _) => {
            out.push_str(&col.as_primitive::<Decimal128Type>().value_as_string(row));
        }
        ArrowType::Date32 => {
            let d = col.as_primitive::<Date32Type>().value(row);
            let date = chrono::NaiveDate::from_num_days_from_ce_opt(d + 719_163)
                .ok_or_else(|| format!("date {d} is out of range"))?;
            let _ = write!(out, "{date}");
        }
        ArrowType::Time64(_) => {
            let us = col.as_primitive::<Time64MicrosecondType>().value(row);
            let t = chrono::NaiveTime::from_num_seconds_from_midnight_opt(
                (us / 1_000_000) as u32,
                ((us % 1_000_000) * 1000) as u32,
            )
            .ok_or_else(|| format!("time {us}µs is out of range"))?;
            let _ = write!(out, "{}", t.format("%H:%M:%S%.6f"));
        }
        ArrowType::Binary => {
            out.push_str("\\\\x");
            for b in col.as_binary::<i32>().value(row) {
                let _ = write!(out, "{b:02x}");
            }
        }
        other => return Err(format!("arrow type {other} has no COPY encoding")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_and_numbers_rows() {
        use arrow_array::{BooleanArray, Int64Array, StringArray};
        use std::sync::Arc;
        let batch = RecordBatch::try_from_iter([
            (
                "s",
                Arc::new(StringArray::from(vec![Some("a\tb\\c\nd"), None])) as _,
            ),
            (
                "i",
                Arc::new(Int64Array::from(vec![Some(7), Some(-1)])) as _,
            ),
            (
                "b",
                Arc::new(BooleanArray::from(vec![Some(true), None])) as _,
            ),
        ])
        .expect("batch");
        let text =
            String::from_utf8(encode_copy_text(&batch, Some(10)).expect("encodes")).expect("utf8");
        assert_eq!(text, "a\\tb\\\\c\\nd\t7\tt\t10\n\\N\t-1\t\\N\t11\n");
    }
}
