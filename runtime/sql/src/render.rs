//! A structured read rendered as SQL in the grant's dialect: every identifier a reflected
//! name, quoted (`"x"`, MySQL's `` `x` ``); every value a bound parameter (`$1`, MySQL's `?`);
//! each column read as its reflection says (natively, cast to text, or as JSON text).

use crate::grant::QUERY_SCHEMA;
use crate::{
    ColumnInfo, DEFAULT_CHUNK_ROWS, DatabaseGrant, Engine, MAX_CHUNK_ROWS, ReadRequest, Result,
    SqlError, TableInfo,
};

/// How an engine spells identifiers, parameters and casts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dialect {
    /// PostgreSQL, and SQLite (which takes its quoting and `$n` parameters)
    Postgres,
    Mysql,
}

impl Dialect {
    fn of(engine: &Engine) -> Dialect {
        match engine {
            Engine::Mysql(_) => Dialect::Mysql,
            Engine::Postgres(_) | Engine::Sqlite(_) => Dialect::Postgres,
        }
    }

    /// `name` as a quoted identifier.
    fn quote(self, name: &str) -> String {
        match self {
            Dialect::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
            Dialect::Mysql => format!("`{}`", name.replace('`', "``")),
        }
    }

    /// The placeholder of the `n`th (1-based) parameter.
    fn param(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            Dialect::Mysql => "?".into(),
        }
    }

    /// A filter value as the engine compares it with column `c`: MySQL reads a timestamp
    /// with an offset (`2024-05-01T10:00:00+02:00`, as cursors are kept) as a local time,
    /// so it gets the UTC wall time the session (time zone UTC) compares in.
    fn adapt(self, c: &ColumnInfo, p: Param) -> Param {
        match (self, c.data_type, p) {
            (Dialect::Mysql, "timestamp", Param::Text(t)) => Param::Text(
                chrono::DateTime::parse_from_rfc3339(&t)
                    .map(|d| d.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string())
                    .unwrap_or(t),
            ),
            (_, _, p) => p,
        }
    }

    fn select_expr(self, c: &ColumnInfo) -> String {
        let q = self.quote(&c.name);
        match (c.read, self) {
            (ReadAs::Native, _) => q,
            (ReadAs::Text, Dialect::Postgres) => format!("{q}::text AS {q}"),
            (ReadAs::Text, Dialect::Mysql) => format!("CAST({q} AS CHAR) AS {q}"),
            (ReadAs::Json, Dialect::Postgres) => format!("to_jsonb({q})::text AS {q}"),
            (ReadAs::Json, Dialect::Mysql) => format!("CAST({q} AS JSON) AS {q}"),
        }
    }
}

/// `name` as a PostgreSQL identifier.
pub(crate) fn quote_pg(name: &str) -> String {
    Dialect::Postgres.quote(name)
}

/// PostgreSQL's select expression for column `c` (cast when it is read as text or JSON).
pub(crate) fn select_expr_pg(c: &ColumnInfo) -> String {
    Dialect::Postgres.select_expr(c)
}

/// How the database hands one column over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ReadAs {
    /// decoded from the driver's own representation
    #[default]
    Native,
    /// cast to text by the database (`"c"::text`): types without a native decoder
    Text,
    /// rendered as JSON text by the database (`to_jsonb("c")::text`): arrays, composites
    Json,
}

/// A bound value of a filter.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Param {
    /// Text as PostgreSQL parses it for the column's type.
    pub(crate) fn text(&self) -> String {
        match self {
            Param::Text(s) => s.clone(),
            Param::Int(i) => i.to_string(),
            Param::Float(f) => f.to_string(),
            Param::Bool(b) => b.to_string(),
        }
    }
}

/// A read ready to run: its SQL, parameters, the columns it yields and how many rows a chunk
/// holds.
#[derive(Clone, Debug)]
pub(crate) struct ReadPlan {
    pub sql: String,
    pub params: Vec<Param>,
    pub columns: Vec<ColumnInfo>,
    pub chunk_rows: usize,
    /// `database `x`, table `s.t``, for errors
    pub label: String,
}

impl ReadPlan {
    pub(crate) fn new(
        grant: &DatabaseGrant,
        table: &TableInfo,
        req: &ReadRequest,
    ) -> Result<ReadPlan> {
        let label = format!("{}, table `{}.{}`", grant.label(), table.schema, table.name);
        let dialect = Dialect::of(&grant.engine);
        let quote = |name: &str| dialect.quote(name);
        let column = |name: &str| {
            table
                .column(name)
                .ok_or_else(|| SqlError::NotFound(format!("{label}: no column `{name}`")))
        };
        let columns: Vec<ColumnInfo> = if req.columns.is_empty() {
            table.columns.clone()
        } else {
            req.columns
                .iter()
                .map(|c| column(c).cloned())
                .collect::<Result<_>>()?
        };
        let mut sql = String::from("SELECT ");
        let select: Vec<String> = columns.iter().map(|c| dialect.select_expr(c)).collect();
        sql.push_str(&select.join(", "));
        sql.push_str(" FROM ");
        sql.push_str(&from(grant, table, dialect)?);
        let mut params = Vec::new();
        for (i, p) in req.filter.iter().enumerate() {
            let c = column(&p.column)?;
            sql.push_str(if i == 0 { " WHERE " } else { " AND " });
            params.push(dialect.adapt(c, param(&label, &p.column, &p.value)?));
            let at = dialect.param(i + 1);
            sql.push_str(&format!("{} {} {at}", quote(&p.column), p.op.sql()));
        }
        for (i, o) in req.order_by.iter().enumerate() {
            column(o)?;
            sql.push_str(if i == 0 { " ORDER BY " } else { ", " });
            sql.push_str(&quote(o));
        }
        if let Some(n) = req.limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        let chunk_rows = req
            .chunk_rows
            .unwrap_or(DEFAULT_CHUNK_ROWS)
            .clamp(1, MAX_CHUNK_ROWS) as usize;
        Ok(ReadPlan {
            sql,
            params,
            columns,
            chunk_rows,
            label,
        })
    }
}

/// The FROM clause: a granted table, or a query of the pipeline file as a subquery.
fn from(grant: &DatabaseGrant, table: &TableInfo, dialect: Dialect) -> Result<String> {
    if table.schema == QUERY_SCHEMA {
        let query = grant.queries.get(&table.name).ok_or_else(|| {
            SqlError::NotFound(format!("{}: no query `{}`", grant.label(), table.name))
        })?;
        return Ok(format!("({query}) AS {}", dialect.quote(&table.name)));
    }
    Ok(format!(
        "{}.{}",
        dialect.quote(&table.schema),
        dialect.quote(&table.name)
    ))
}

/// A filter value: a JSON string, number or bool.
fn param(label: &str, column: &str, v: &serde_json::Value) -> Result<Param> {
    Ok(match v {
        serde_json::Value::String(s) => Param::Text(s.clone()),
        serde_json::Value::Bool(b) => Param::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Param::Int(i),
            None => Param::Float(n.as_f64().ok_or_else(|| {
                SqlError::Unsupported(format!(
                    "{label}: filter on `{column}`: {n} is not a number SQL takes"
                ))
            })?),
        },
        other => {
            return Err(SqlError::Unsupported(format!(
                "{label}: filter on `{column}`: {other} is not a string, number or bool"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::{Engine, Op, Predicate};

    fn col(name: &str, read: ReadAs) -> ColumnInfo {
        ColumnInfo {
            name: name.into(),
            db_type: "x".into(),
            data_type: "text",
            nullable: true,
            precision: None,
            scale: None,
            timezone: None,
            read,
        }
    }

    #[test]
    fn identifiers_are_quoted_and_values_bound() {
        let grant = DatabaseGrant {
            name: "db".into(),
            engine: Engine::Sqlite("/x".into()),
            password: None,
            schemas: vec![],
            tables: vec![],
            queries: BTreeMap::new(),
            statement_timeout: Duration::from_secs(1),
        };
        let table = TableInfo {
            schema: "main".into(),
            name: "we\"ird".into(),
            columns: vec![
                col("id", ReadAs::Native),
                col("a\"b", ReadAs::Text),
                col("tags", ReadAs::Json),
            ],
            primary_key: vec![],
            row_estimate: None,
        };
        let req = ReadRequest {
            database: "db".into(),
            table: "we\"ird".into(),
            filter: vec![Predicate {
                column: "id".into(),
                op: Op::Gt,
                value: serde_json::json!("1; DROP TABLE x"),
            }],
            order_by: vec!["id".into()],
            limit: Some(10),
            ..Default::default()
        };
        let plan = ReadPlan::new(&grant, &table, &req).expect("plan");
        assert_eq!(
            plan.sql,
            r#"SELECT "id", "a""b"::text AS "a""b", to_jsonb("tags")::text AS "tags" FROM "main"."we""ird" WHERE "id" > $1 ORDER BY "id" LIMIT 10"#
        );
        let my = DatabaseGrant {
            engine: Engine::Mysql(crate::MyUrl::parse("mysql://u@h/main").expect("url")),
            ..grant.clone()
        };
        let mut tick = table.clone();
        tick.columns[1].name = "a`b".into();
        let plan = ReadPlan::new(&my, &tick, &req).expect("plan");
        assert_eq!(
            plan.sql,
            "SELECT `id`, CAST(`a``b` AS CHAR) AS `a``b`, CAST(`tags` AS JSON) AS `tags` FROM `main`.`we\"ird` WHERE `id` > ? ORDER BY `id` LIMIT 10"
        );
        assert_eq!(plan.params, vec![Param::Text("1; DROP TABLE x".into())]);
        let bad = ReadRequest {
            columns: vec!["id\" FROM pg_shadow --".into()],
            ..req.clone()
        };
        assert!(matches!(
            ReadPlan::new(&grant, &table, &bad),
            Err(SqlError::NotFound(_))
        ));
        let bad = ReadRequest {
            order_by: vec!["nope".into()],
            ..req
        };
        assert!(matches!(
            ReadPlan::new(&grant, &table, &bad),
            Err(SqlError::NotFound(_))
        ));
    }
}
