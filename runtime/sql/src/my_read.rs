//! A MySQL or MariaDB read: one session, a read-only transaction with a consistent snapshot
//! under the grant's statement timeout, the rendered statement prepared and run in the binary
//! protocol, its rows streamed (never buffered whole) into Arrow builders a chunk at a time.
//! The task runs one chunk ahead of the connector; dropping the reader ends the session.

use mysql_async::prelude::Queryable;
use mysql_async::{Params, Value};
use tokio::sync::mpsc::Sender;

use crate::arrow_out::{Chunk, bad_value};
use crate::decimal_text as text;
use crate::pg_decode::ColumnBuilder;
use crate::render::{Param, ReadPlan};
use crate::{DatabaseGrant, MyUrl, Result};

/// Read `plan`, sending its chunks to `chunks` ([`crate::Databases::read`] runs it on a task
/// of its own and sends its error).
pub(crate) async fn run(
    grant: DatabaseGrant,
    url: MyUrl,
    plan: ReadPlan,
    chunks: Sender<Result<Vec<u8>>>,
) -> Result<()> {
    let (grant, url, plan, chunks) = (&grant, &url, &plan, &chunks);
    let mut conn = crate::my_session::connect(grant, url, "connect").await?;
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await
        .map_err(|e| grant.db_error("begin", e))?;
    let params: Vec<Value> = plan.params.iter().map(value).collect();
    let params = if params.is_empty() {
        Params::Empty
    } else {
        Params::Positional(params)
    };
    let mut result = conn
        .exec_iter(plan.sql.as_str(), params)
        .await
        .map_err(|e| grant.db_error(&plan.label, e))?;
    loop {
        let mut chunk = Chunk::new(plan, plan.chunk_rows);
        let mut n = 0;
        while n < plan.chunk_rows {
            let Some(row) = result
                .next()
                .await
                .map_err(|e| grant.db_error(&plan.label, e))?
            else {
                break;
            };
            for (i, (b, v)) in chunk.builders.iter_mut().zip(row.unwrap()).enumerate() {
                push(b, v).map_err(|e| bad_value(plan, i, n + 1, e))?;
            }
            n += 1;
        }
        if n == 0 {
            return Ok(());
        }
        if chunks.send(Ok(chunk.ipc(plan)?)).await.is_err() || n < plan.chunk_rows {
            return Ok(());
        }
    }
}

/// A filter value as MySQL binds it (the server converts it to the column's type).
fn value(p: &Param) -> Value {
    match p {
        Param::Text(s) => Value::Bytes(s.as_bytes().to_vec()),
        Param::Int(i) => Value::Int(*i),
        Param::Float(f) => Value::Double(*f),
        Param::Bool(b) => Value::Int(i64::from(*b)),
    }
}

/// Append one binary-protocol value, converted to the column's type. A zero date
/// (`0000-00-00`, which MySQL allows) is NULL, as the Python drivers read it.
fn push(b: &mut ColumnBuilder, v: Value) -> Result<(), String> {
    use ColumnBuilder as B;
    let utf8 = |x: Vec<u8>| String::from_utf8(x).map_err(|_| "not valid UTF-8".to_owned());
    match (b, v) {
        (b, Value::NULL) | (b, Value::Date(0, 0, 0, ..)) => b.push(0, None)?,
        (B::Int(b), Value::Int(i)) => b.append_value(i),
        (B::Int(b), Value::UInt(u)) => b.append_value(
            i64::try_from(u).map_err(|_| format!("{u} does not fit a signed 64-bit integer"))?,
        ),
        // BIT(n) arrives as n bits, big-endian
        (B::Int(b), Value::Bytes(x)) if x.len() <= 8 => b.append_value(
            x.iter()
                .fold(0i64, |acc, byte| (acc << 8) | i64::from(*byte)),
        ),
        (B::Float(b), Value::Double(f)) => b.append_value(f),
        (B::Float(b), Value::Float(f)) => b.append_value(shortest_f64(f)),
        (B::Decimal(b, _), Value::UInt(u)) => b.append_value(i128::from(u)),
        (B::Decimal(b, _), Value::Int(i)) => b.append_value(i128::from(i)),
        (B::Decimal(b, scale), Value::Bytes(x)) => {
            b.append_value(text::unscaled(&utf8(x)?, *scale)?)
        }
        (B::Text(b), Value::Bytes(x)) => b.append_value(utf8(x)?),
        (B::Json(b), Value::Bytes(x)) => b.append_value(crate::pg_decode::compact_json(&utf8(x)?)?),
        (B::Binary(b), Value::Bytes(x)) => b.append_value(x),
        (B::Date(b), Value::Date(y, m, d, ..)) => b.append_value(days(y, m, d)?),
        (B::Timestamp(b), Value::Date(y, mo, d, h, mi, s, us)) => {
            let day = i64::from(days(y, mo, d)?);
            let secs = i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s);
            b.append_value((day * 86_400 + secs) * 1_000_000 + i64::from(us))
        }
        (B::Time(b), Value::Time(false, 0, h, m, s, us)) => b.append_value(
            (i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s)) * 1_000_000 + i64::from(us),
        ),
        (B::Time(_), Value::Time(neg, days, h, m, s, _)) => {
            let sign = if neg { "-" } else { "" };
            return Err(format!(
                "{sign}{}:{m:02}:{s:02} is not a time of day (MySQL TIME holds durations; \
                 cast it in a pipeline query)",
                u64::from(days) * 24 + u64::from(h)
            ));
        }
        (B::Text(b), other) => b.append_value(other.as_sql(true).trim_matches('\'')),
        (_, other) => {
            return Err(format!(
                "the value {} does not fit the column's type",
                other.as_sql(true)
            ));
        }
    }
    Ok(())
}

/// An `f32` as the `f64` of its shortest decimal text (`1.1f32` is 1.1, not 1.100000023…),
/// which is what the Python drivers hand dlt.
fn shortest_f64(f: f32) -> f64 {
    f.to_string().parse().unwrap_or(f64::from(f))
}

fn days(y: u16, m: u8, d: u8) -> Result<i32, String> {
    let date = chrono::NaiveDate::from_ymd_opt(i32::from(y), u32::from(m), u32::from(d))
        .ok_or_else(|| format!("{y:04}-{m:02}-{d:02} is not a date"))?;
    Ok((date - chrono::NaiveDate::default()).num_days() as i32)
}
