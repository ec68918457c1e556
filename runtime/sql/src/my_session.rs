//! A MySQL or MariaDB session for one reflection or read: time zone UTC, read-only, and the
//! grant's statement timeout in the server's own setting (MariaDB `max_statement_time` in
//! seconds, MySQL `max_execution_time` in milliseconds, which bounds `SELECT`s).

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};

use crate::{DatabaseGrant, MyUrl, Result};

/// A session to `url` for `grant`, set up for reading.
pub(crate) async fn connect(grant: &DatabaseGrant, url: &MyUrl, what: &str) -> Result<Conn> {
    let opts = OptsBuilder::default()
        .ip_or_hostname(url.host.clone())
        .tcp_port(url.port)
        .user(Some(url.user.clone()))
        .pass(grant.password.clone())
        .db_name(url.database.clone())
        .prefer_socket(false)
        .stmt_cache_size(0);
    let mut conn = Conn::new(opts).await.map_err(|e| grant.db_error(what, e))?;
    let version: Option<String> = conn
        .query_first("SELECT VERSION()")
        .await
        .map_err(|e| grant.db_error(what, e))?;
    let timeout = grant.statement_timeout;
    let limit = if version.is_some_and(|v| v.contains("MariaDB")) {
        format!("max_statement_time = {}", timeout.as_secs_f64())
    } else {
        format!("max_execution_time = {}", timeout.as_millis())
    };
    for set in [
        format!("SET SESSION time_zone = '+00:00', SESSION {limit}"),
        "SET SESSION TRANSACTION READ ONLY".to_owned(),
    ] {
        conn.query_drop(set)
            .await
            .map_err(|e| grant.db_error(what, e))?;
    }
    Ok(conn)
}
