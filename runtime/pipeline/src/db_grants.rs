//! `[grants.databases.NAME]` turned into the host's database grants: the URL parsed (a
//! password in it is refused: it belongs in a secret), the password read from the named
//! secret (one without a host, so it can never go out over HTTP), schemas, table patterns,
//! queries and the statement timeout.

use std::path::PathBuf;
use std::time::Duration;

use sluice_sql::{DatabaseGrant, Databases, Engine, MyUrl, PgUrl, TablePattern};

use crate::spec::DatabaseGrantSpec;
use crate::{PipelineError, PipelineSpec};

/// The path of a `sqlite://PATH` URL (`sqlite:///abs/file.db`, or relative to the pipeline
/// file).
pub(crate) fn sqlite_path(url: &str) -> Option<PathBuf> {
    url.strip_prefix("sqlite://").map(PathBuf::from)
}

/// The database grants of `spec`.
pub(crate) fn databases(spec: &PipelineSpec) -> Result<Databases, PipelineError> {
    let mut grants = Vec::new();
    for (name, g) in &spec.grants.databases {
        grants.push(
            grant(spec, name, g).map_err(|reason| PipelineError::Config {
                pipeline: spec.name.clone(),
                reason: format!("database grant `{name}`: {reason}"),
            })?,
        );
    }
    Ok(Databases::new(grants))
}

fn grant(spec: &PipelineSpec, name: &str, g: &DatabaseGrantSpec) -> Result<DatabaseGrant, String> {
    let engine = engine(&g.url)?;
    let password = match &g.password {
        None => None,
        Some(secret) => {
            let s = spec.secrets.get(secret).ok_or_else(|| {
                format!("`password` names secret `{secret}`, which the pipeline does not define")
            })?;
            if s.host.is_some() {
                return Err(format!(
                    "secret `{secret}` has a `host`: a database password must not be sendable \
                     over HTTP; define a secret without `host` for it"
                ));
            }
            crate::sandbox::secret_value(s).map_err(|e| format!("secret `{secret}`: {e}"))?
        }
    };
    if g.schemas.iter().any(|s| s == sluice_sql::QUERY_SCHEMA) {
        return Err(format!(
            "schema `{}` is where the grant's queries are listed: a real schema of that name \
             cannot be granted",
            sluice_sql::QUERY_SCHEMA
        ));
    }
    if matches!(&engine, Engine::Mysql(u) if u.database.is_none()) && g.schemas.is_empty() {
        return Err(
            "name the database to read in the URL (mysql://user@host/DATABASE) or in `schemas`"
                .into(),
        );
    }
    if g.statement_timeout_secs == 0 {
        return Err("statement_timeout_secs must be at least 1".into());
    }
    Ok(DatabaseGrant {
        name: name.to_owned(),
        engine,
        password,
        schemas: g.schemas.clone(),
        tables: g.tables.iter().map(|t| TablePattern::parse(t)).collect(),
        queries: g.queries.clone(),
        statement_timeout: Duration::from_secs(g.statement_timeout_secs),
    })
}

pub(crate) fn engine(url: &str) -> Result<Engine, String> {
    if let Some(path) = sqlite_path(url) {
        if !path.is_file() {
            return Err(format!("SQLite file `{}` does not exist", path.display()));
        }
        return Ok(Engine::Sqlite(path));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let parsed = PgUrl::parse(url)?;
        if url::Url::parse(url).is_ok_and(|u| u.password().is_some()) {
            return Err(format!(
                "`{}` carries a password: name a secret in `password` instead",
                parsed.redacted()
            ));
        }
        return Ok(Engine::Postgres(parsed));
    }
    if MyUrl::is_mysql(url) {
        let parsed = MyUrl::parse(url)?;
        if parsed.has_password {
            return Err(format!(
                "`{}` carries a password: name a secret in `password` instead",
                parsed.redacted()
            ));
        }
        return Ok(Engine::Mysql(parsed));
    }
    let scheme = url.split(':').next().unwrap_or_default();
    Err(format!(
        "`{scheme}:` databases are not supported: use postgres://…, mysql://… (MySQL and \
         MariaDB) or sqlite://…"
    ))
}

/// Each grant in words for `sluice plan`: name, where (no password), what may be read.
pub(crate) fn describe(dbs: &Databases, spec: &PipelineSpec) -> Vec<String> {
    dbs.names()
        .into_iter()
        .filter_map(|name| {
            let g = spec.grants.databases.get(&name)?;
            let url = match engine(&g.url).ok()? {
                Engine::Postgres(u) => u.redacted(),
                Engine::Mysql(u) => u.redacted(),
                Engine::Sqlite(p) => format!("sqlite://{}", p.display()),
            };
            let tables = if g.tables.is_empty() {
                "every table".to_owned()
            } else {
                g.tables.join(", ")
            };
            let schemas = if g.schemas.is_empty() {
                String::new()
            } else {
                format!(" of {}", g.schemas.join(", "))
            };
            let queries = if g.queries.is_empty() {
                String::new()
            } else {
                format!(
                    ", queries {}",
                    g.queries.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            };
            let password = g
                .password
                .as_ref()
                .map(|p| format!(", password from secret `{p}`"))
                .unwrap_or_default();
            Some(format!(
                "`{name}` → {url}: {tables}{schemas}{queries}{password}"
            ))
        })
        .collect()
}
