//! Database sessions, and reads of granted tables into Arrow.
//!
//! Invariant: a connector reads a database only through a [`DatabaseGrant`], only the tables
//! (and pipeline queries) the grant names, and only by structured requests ([`ReadRequest`])
//! that this crate renders as SQL with quoted identifiers and bound values, run in a read-only
//! transaction under the grant's statement timeout. No SQL text from a connector is ever run;
//! the grant's URL and password never leave this crate (errors name the grant).
//!
//! PostgreSQL, MySQL and MariaDB results arrive in their binary protocols and are decoded
//! straight into Arrow builders; SQLite files are opened read-only. A read runs on a task of its own and stays
//! one chunk ahead of the connector ([`Rows`]).

mod arrow_out;
mod decimal_text;
mod grant;
mod my_read;
mod my_reflect;
mod my_session;
mod my_url;
mod pg_decode;
mod pg_query;
mod pg_read;
mod pg_reflect;
mod pg_session;
mod pg_tls;
mod pg_url;
mod render;
mod sqlite;

pub use grant::{DatabaseGrant, Databases, Engine, QUERY_SCHEMA, TablePattern};
pub use my_url::MyUrl;
pub use pg_query::{PgQuery, pg_query};
pub use pg_session::{pg_session_config, pg_tls_connector};
pub use pg_tls::MakeRustls;
pub use pg_url::{ClientCert, PgUrl, RootCerts, SslMode, TlsOptions};

/// A column as the database reflects it, with the dlt type it is read as.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ColumnInfo {
    pub name: String,
    /// the database's own type (`numeric(12,2)`)
    pub db_type: String,
    /// dlt data type: text, bigint, double, bool, decimal, timestamp, date, time, binary, json
    pub data_type: &'static str,
    pub nullable: bool,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
    pub timezone: Option<bool>,
    /// how the database hands the column over
    #[serde(skip)]
    pub(crate) read: render::ReadAs,
}

/// A table (or pipeline query) a connector may read.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TableInfo {
    pub schema: String,
    pub name: String,
    pub columns: Vec<ColumnInfo>,
    pub primary_key: Vec<String>,
    pub row_estimate: Option<u64>,
}

impl TableInfo {
    /// Pipeline query `name` as a table of schema [`QUERY_SCHEMA`] with `columns`.
    pub(crate) fn query(name: &str, columns: Vec<ColumnInfo>) -> TableInfo {
        TableInfo {
            schema: QUERY_SCHEMA.into(),
            name: name.into(),
            columns,
            primary_key: Vec::new(),
            row_estimate: None,
        }
    }

    /// Set the primary key from `(position, column)` pairs gathered while reflecting, which
    /// are drained.
    pub(crate) fn take_primary_key<K: Ord>(&mut self, pk: &mut Vec<(K, String)>) {
        pk.sort();
        self.primary_key = pk.drain(..).map(|(_, n)| n).collect();
    }

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// How a filter compares a column with its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn sql(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }
}

/// `column <op> value`, the value a JSON scalar bound as a parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Predicate {
    pub column: String,
    pub op: Op,
    pub value: serde_json::Value,
}

/// One structured read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadRequest {
    pub database: String,
    pub schema: Option<String>,
    pub table: String,
    /// every column when empty
    pub columns: Vec<String>,
    pub filter: Vec<Predicate>,
    pub order_by: Vec<String>,
    pub limit: Option<u64>,
    pub chunk_rows: Option<u32>,
}

/// Rows per chunk when a connector asks for none, and the most it may ask for.
pub const DEFAULT_CHUNK_ROWS: u32 = 50_000;
pub const MAX_CHUNK_ROWS: u32 = 1_000_000;

/// What went wrong; every message names the grant, never its URL or password.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SqlError {
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Database(String),
}

pub type Result<T, E = SqlError> = std::result::Result<T, E>;

/// The chunks of one read, each an Arrow IPC stream; the reader runs one chunk ahead.
#[derive(Debug)]
pub struct Rows {
    chunks: tokio::sync::mpsc::Receiver<Result<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Rows {
    /// The next chunk, or `None` when the read is done.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>> {
        match self.chunks.recv().await {
            Some(Ok(chunk)) => Ok(Some(chunk)),
            Some(Err(e)) => Err(e),
            None => Ok(None),
        }
    }
}

impl Drop for Rows {
    fn drop(&mut self) {
        // a read dropped early ends its transaction (the session closes, rolling back)
        self.task.abort();
    }
}

/// Run `read` on a task of its own; its error, if any, follows the chunks it sent.
fn spawn_read(
    chunks: tokio::sync::mpsc::Sender<Result<Vec<u8>>>,
    read: impl Future<Output = Result<()>> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = read.await {
            let _ = chunks.send(Err(e)).await;
        }
    })
}

impl Databases {
    /// The tables of database grant `name` a connector may read.
    pub async fn tables(&self, name: &str) -> Result<Vec<TableInfo>> {
        let grant = self.grant(name)?;
        let mut tables = match &grant.engine {
            Engine::Postgres(url) => pg_reflect::tables(grant, url).await?,
            Engine::Mysql(url) => my_reflect::tables(grant, url).await?,
            Engine::Sqlite(path) => sqlite::tables(grant, path.clone()).await?,
        };
        tables.retain(|t| t.schema == grant::QUERY_SCHEMA || grant.grants(&t.schema, &t.name));
        Ok(tables)
    }

    /// Start `request`: checked against the grant and the table's reflected columns, then
    /// run on a task of its own.
    pub async fn read(&self, request: ReadRequest) -> Result<Rows> {
        let grant = self.grant(&request.database)?;
        let table = self.checked_table(grant, &request).await?;
        let plan = render::ReadPlan::new(grant, &table, &request)?;
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let g = grant.clone();
        let task = match &grant.engine {
            Engine::Postgres(url) => spawn_read(tx.clone(), pg_read::run(g, url.clone(), plan, tx)),
            Engine::Mysql(url) => spawn_read(tx.clone(), my_read::run(g, url.clone(), plan, tx)),
            Engine::Sqlite(path) => sqlite::spawn(g, path.clone(), plan, tx),
        };
        Ok(Rows { chunks: rx, task })
    }

    /// The reflected table `request` reads, refused when the grant does not name it.
    async fn checked_table(
        &self,
        grant: &DatabaseGrant,
        request: &ReadRequest,
    ) -> Result<TableInfo> {
        let schema = request
            .schema
            .clone()
            .unwrap_or_else(|| grant.default_schema().to_owned());
        if schema != grant::QUERY_SCHEMA && !grant.grants(&schema, &request.table) {
            return Err(SqlError::Denied(format!(
                "database `{}`: table `{schema}.{}` is not granted",
                grant.name, request.table
            )));
        }
        let tables = self.tables(&grant.name).await?;
        tables
            .into_iter()
            .find(|t| t.schema == schema && t.name == request.table)
            .ok_or_else(|| {
                SqlError::NotFound(format!(
                    "database `{}`: no table `{schema}.{}`",
                    grant.name, request.table
                ))
            })
    }
}
