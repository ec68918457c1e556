//! What a pipeline grants of one database: where it is (held by the host), the password
//! (from a named secret), which schemas and tables a connector may read, the pipeline
//! author's own queries, and the statement timeout.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::{MyUrl, PgUrl, Result, SqlError};

/// The schema name pipeline queries are listed under.
pub const QUERY_SCHEMA: &str = "query";

/// Which database engine a grant reaches, and where.
#[derive(Clone)]
pub enum Engine {
    Postgres(PgUrl),
    /// MySQL or MariaDB
    Mysql(MyUrl),
    /// a SQLite file, opened read-only
    Sqlite(PathBuf),
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Engine::Postgres(url) => write!(f, "Postgres({})", url.redacted()),
            Engine::Mysql(url) => write!(f, "Mysql({})", url.redacted()),
            Engine::Sqlite(p) => write!(f, "Sqlite({})", p.display()),
        }
    }
}

/// `table` or `schema.table`, either part a glob with `*` and `?`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TablePattern {
    pub schema: Option<String>,
    pub table: String,
}

impl TablePattern {
    pub fn parse(text: &str) -> TablePattern {
        match text.split_once('.') {
            Some((s, t)) => TablePattern {
                schema: Some(s.to_owned()),
                table: t.to_owned(),
            },
            None => TablePattern {
                schema: None,
                table: text.to_owned(),
            },
        }
    }

    fn matches(&self, default_schema: &str, schema: &str, table: &str) -> bool {
        let want_schema = self.schema.as_deref().unwrap_or(default_schema);
        glob(want_schema, schema) && glob(&self.table, table)
    }
}

/// Whether `text` matches `pattern` (`*` any run, `?` one character).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// One `[grants.databases.NAME]`.
#[derive(Clone)]
pub struct DatabaseGrant {
    pub name: String,
    pub engine: Engine,
    /// the password (from the named secret); never shown
    pub password: Option<String>,
    /// schemas whose tables may be granted; the engine's default schema when empty
    pub schemas: Vec<String>,
    /// tables a connector may read; every table of `schemas` when empty
    pub tables: Vec<TablePattern>,
    /// the pipeline author's queries by name (trusted SQL), read as tables of schema `query`
    pub queries: BTreeMap<String, String>,
    pub statement_timeout: Duration,
}

impl std::fmt::Debug for DatabaseGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseGrant")
            .field("name", &self.name)
            .field("engine", &self.engine)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("schemas", &self.schemas)
            .field("tables", &self.tables)
            .field("queries", &self.queries.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl DatabaseGrant {
    /// The schema a table without one is looked up in.
    pub fn default_schema(&self) -> &str {
        match (self.schemas.first(), &self.engine) {
            (Some(s), _) => s,
            (None, Engine::Postgres(_)) => "public",
            // MySQL's schemas are its databases: the URL's, or none
            (None, Engine::Mysql(url)) => url.database.as_deref().unwrap_or_default(),
            (None, Engine::Sqlite(_)) => "main",
        }
    }

    /// The schemas reflected.
    pub(crate) fn schema_list(&self) -> Vec<String> {
        if self.schemas.is_empty() {
            vec![self.default_schema().to_owned()]
        } else {
            self.schemas.clone()
        }
    }

    /// Whether the grant lets a connector read `schema.table`.
    pub fn grants(&self, schema: &str, table: &str) -> bool {
        if !self.schema_list().iter().any(|s| s == schema) {
            return false;
        }
        self.tables.is_empty()
            || self
                .tables
                .iter()
                .any(|p| p.matches(self.default_schema(), schema, table))
    }

    /// What errors call the database: the grant's name and engine, never its URL.
    pub(crate) fn label(&self) -> String {
        format!("database `{}`", self.name)
    }

    /// A database failure, named by the grant, with any trace of the password removed.
    pub(crate) fn db_error(&self, what: &str, e: impl std::fmt::Display) -> SqlError {
        let mut text = e.to_string();
        if let Some(p) = self.password.as_deref().filter(|p| !p.is_empty()) {
            text = text.replace(p, "***");
        }
        // PostgreSQL's words, MariaDB's (1969) and MySQL's (3024)
        if [
            "statement timeout",
            "canceling statement",
            "max_statement_time exceeded",
            "maximum statement execution time exceeded",
        ]
        .iter()
        .any(|w| text.contains(w))
        {
            return SqlError::Timeout(format!(
                "{}: {what}: over the statement timeout of {} s",
                self.label(),
                self.statement_timeout.as_secs_f64()
            ));
        }
        SqlError::Database(format!("{}: {what}: {text}", self.label()))
    }
}

/// The database grants of one pipeline, by name.
#[derive(Clone, Debug, Default)]
pub struct Databases(Arc<BTreeMap<String, DatabaseGrant>>);

impl Databases {
    pub fn new(grants: impl IntoIterator<Item = DatabaseGrant>) -> Databases {
        Databases(Arc::new(
            grants.into_iter().map(|g| (g.name.clone(), g)).collect(),
        ))
    }

    /// Names of the granted databases.
    pub fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn grant(&self, name: &str) -> Result<&DatabaseGrant> {
        self.0.get(name).ok_or_else(|| {
            SqlError::NotFound(format!(
                "no database grant `{name}` (granted: {})",
                if self.0.is_empty() {
                    "none".to_owned()
                } else {
                    self.names().join(", ")
                }
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(schemas: &[&str], tables: &[&str]) -> DatabaseGrant {
        DatabaseGrant {
            name: "shop".into(),
            engine: Engine::Sqlite("/x.db".into()),
            password: Some("pw".into()),
            schemas: schemas.iter().map(|s| s.to_string()).collect(),
            tables: tables.iter().map(|t| TablePattern::parse(t)).collect(),
            queries: BTreeMap::new(),
            statement_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn tables_are_granted_by_schema_and_pattern() {
        let g = grant(&[], &[]);
        assert!(g.grants("main", "orders"));
        assert!(!g.grants("temp", "orders"), "only the default schema");
        let g = grant(&["public", "sales"], &["ord*", "sales.refunds"]);
        assert!(g.grants("public", "orders"));
        assert!(!g.grants("public", "customers"));
        assert!(
            !g.grants("sales", "orders"),
            "an unqualified pattern is the first schema's"
        );
        assert!(g.grants("sales", "refunds"));
        assert!(!g.grants("other", "orders"));
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(glob("*", ""));
        assert!(glob("a*c", "abbbc"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(!glob("ord", "orders"));
        assert!(glob("*_log", "audit_log"));
    }

    #[test]
    fn errors_never_carry_the_password() {
        let g = grant(&[], &[]);
        let e = g.db_error("connect", "authentication failed, sent pw");
        assert_eq!(
            e.to_string(),
            "database `shop`: connect: authentication failed, sent ***"
        );
    }
}
