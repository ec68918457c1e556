//! Opening PostgreSQL sessions: the settings of a URL (user, host, database, TLS mode,
//! password) and the TLS connector, shared by the destination and the source.

use tokio_postgres::Client;

use crate::{MakeRustls, PgUrl, SslMode, TlsOptions};

/// The TLS connector of a URL's TLS options (`None` for `sslmode=disable`).
pub fn pg_tls_connector(options: &TlsOptions) -> Result<Option<MakeRustls>, String> {
    crate::pg_tls::connector(options)
}

/// The session's settings: user, host, database, TLS mode, password (the URL's or
/// `PGPASSWORD`), and for a long-lived session server-side keepalives.
pub fn pg_session_config(url: &PgUrl, app_name: &str, keepalive: bool) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    config
        .user(&url.user)
        .host(&url.host)
        .port(url.port)
        .dbname(&url.database)
        .application_name(app_name)
        .ssl_mode(match url.tls.mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
    if keepalive {
        config
            .options(
                "-c tcp_keepalives_idle=20 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3",
            )
            .keepalives(true)
            .keepalives_idle(std::time::Duration::from_secs(20));
    }
    let password = url
        .password
        .clone()
        .or_else(|| std::env::var("PGPASSWORD").ok());
    if let Some(p) = &password {
        config.password(p);
    }
    config
}

/// Connect on the current tokio runtime with `password` (a grant's secret) in place of the
/// URL's; the connection runs on a task of its own and ends with the client.
pub(crate) async fn connect(
    url: &PgUrl,
    password: Option<&str>,
    app_name: &str,
) -> Result<Client, String> {
    let mut config = pg_session_config(url, app_name, false);
    if let Some(p) = password {
        config.password(p);
    }
    config.connect_timeout(std::time::Duration::from_secs(30));
    let tls = pg_tls_connector(&url.tls)?;
    let client = match tls {
        Some(tls) => {
            let (client, conn) = config.connect(tls).await.map_err(|e| pg_text(&e))?;
            tokio::spawn(async move { drop(conn.await) });
            client
        }
        None => {
            let (client, conn) = config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(|e| pg_text(&e))?;
            tokio::spawn(async move { drop(conn.await) });
            client
        }
    };
    Ok(client)
}

/// A server error's own message (tokio-postgres shows only "db error").
pub(crate) fn pg_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = db.message().to_owned();
            if let Some(d) = db.detail() {
                s.push_str(&format!(" ({d})"));
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(&format!(": {inner}"));
                src = inner.source();
            }
            s
        }
    }
}
