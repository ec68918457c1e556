//! `sluice init pipeline --sql URL NAME`: reflect a database as the pipeline author (with the
//! password from `PGPASSWORD`, `MYSQL_PWD` or a named variable, never written down) and write a pipeline
//! file for the `sql_database` connector: the grant, the password as a secret by name, every
//! table with its key (merged on it), and a commented cursor suggestion where a column looks
//! like one.

use std::collections::BTreeMap;
use std::time::Duration;

use sluice_sql::{DatabaseGrant, Databases, TableInfo};

use crate::PipelineError;

/// What `init pipeline --sql` found and wrote.
#[derive(Debug)]
pub struct SqlPipeline {
    /// the pipeline file's text
    pub toml: String,
    pub tables: Vec<TableInfo>,
}

/// A pipeline file named `name` for the database at `url`; the password (if any) is read
/// from the environment variable `password_env` to reflect, and referenced by name.
pub async fn sql_pipeline(
    name: &str,
    url: &str,
    password_env: Option<&str>,
) -> Result<SqlPipeline, PipelineError> {
    let cfg = |reason: String| PipelineError::Config {
        pipeline: name.to_owned(),
        reason,
    };
    let engine = crate::db_grants::engine(url).map_err(cfg)?;
    // a SQLite path is written absolute: the file may be run from anywhere
    let url = match &engine {
        sluice_sql::Engine::Sqlite(p) => format!(
            "sqlite://{}",
            p.canonicalize().unwrap_or_else(|_| p.clone()).display()
        ),
        sluice_sql::Engine::Mysql(u) if u.database.is_none() => {
            return Err(cfg(
                "name the database to read in the URL: mysql://user@host/DATABASE".into(),
            ));
        }
        sluice_sql::Engine::Postgres(_) | sluice_sql::Engine::Mysql(_) => url.to_owned(),
    };
    let password_env = match &engine {
        sluice_sql::Engine::Sqlite(_) => None,
        sluice_sql::Engine::Postgres(_) => Some(password_env.unwrap_or("PGPASSWORD")),
        sluice_sql::Engine::Mysql(_) => Some(password_env.unwrap_or("MYSQL_PWD")),
    };
    let password = password_env.and_then(|v| std::env::var(v).ok());
    let grant = DatabaseGrant {
        name: name.to_owned(),
        engine,
        password,
        schemas: Vec::new(),
        tables: Vec::new(),
        queries: BTreeMap::new(),
        statement_timeout: Duration::from_secs(60),
    };
    let dbs = Databases::new([grant]);
    let tables = dbs.tables(name).await.map_err(|e| cfg(e.to_string()))?;
    let toml = render(name, &url, password_env, &tables);
    Ok(SqlPipeline { toml, tables })
}

/// `s` as a TOML string (or quoted key).
fn q(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// `s` as a TOML key: bare when it can be.
fn key(s: &str) -> String {
    let bare = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { s.to_owned() } else { q(s) }
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// A column that looks like an incremental cursor: a timestamp named like an update time.
fn cursor_candidate(t: &TableInfo) -> Option<&str> {
    let names = [
        "updated_at",
        "modified_at",
        "last_modified",
        "updated",
        "modified",
        "changed_at",
    ];
    t.columns
        .iter()
        .filter(|c| c.data_type == "timestamp")
        .find(|c| names.contains(&c.name.to_lowercase().as_str()))
        .map(|c| c.name.as_str())
}

fn render(name: &str, url: &str, password_env: Option<&str>, tables: &[TableInfo]) -> String {
    let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
    let mut out = format!(
        "# written by `sluice init pipeline --sql`: {} tables reflected\n\
         name = {}\ndestination = \"duckdb\"\n\n[connector]\nname = \"sql_database\"\n\n\
         [config]\ndatabase = {}\ntables = {}\n# chunk_size = 50000\n\
         # reflection_level = \"full\"        # minimal | full | full_with_precision\n",
        tables.len(),
        q(name),
        q(name),
        list(&names)
    );
    for t in tables {
        out.push_str(&format!("\n[config.table_config.{}]\n", key(&t.name)));
        if t.primary_key.is_empty() {
            out.push_str("# no primary key in the database: appended each run\n");
        } else {
            out.push_str(&format!(
                "write_disposition = \"merge\"       # on the database's key {}\n",
                list(&t.primary_key)
            ));
        }
        match cursor_candidate(t) {
            Some(c) => out.push_str(&format!(
                "# incremental = {{ cursor = {} }}   # a likely cursor: reads only newer rows\n",
                q(c)
            )),
            None => out.push_str("# incremental: no timestamp column named like an update time\n"),
        }
    }
    if let Some(var) = password_env {
        out.push_str(&format!(
            "\n[secrets.{}]                     # never sent over HTTP (no host)\nenv = {}\n",
            key(&format!("{name}_password")),
            q(var)
        ));
    }
    out.push_str(&format!(
        "\n[grants.databases.{}]\nurl = {}\n",
        key(name),
        q(url)
    ));
    if password_env.is_some() {
        out.push_str(&format!("password = {}\n", q(&format!("{name}_password"))));
    }
    out.push_str(&format!("tables = {}\n", list(&names)));
    out
}
