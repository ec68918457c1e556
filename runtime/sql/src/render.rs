//! A structured read rendered as SQL: every identifier a reflected name, double-quoted;
//! every value a bound parameter; each column read as its reflection says (natively, cast to
//! text, or as JSON text).

use crate::grant::QUERY_SCHEMA;
use crate::{
    ColumnInfo, DEFAULT_CHUNK_ROWS, DatabaseGrant, MAX_CHUNK_ROWS, ReadRequest, Result, SqlError,
    TableInfo,
};

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

/// `name` as a quoted identifier.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl ReadPlan {
    pub(crate) fn new(
        grant: &DatabaseGrant,
        table: &TableInfo,
        req: &ReadRequest,
    ) -> Result<ReadPlan> {
        let label = format!("{}, table `{}.{}`", grant.label(), table.schema, table.name);
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
        let select: Vec<String> = columns.iter().map(select_expr).collect();
        sql.push_str(&select.join(", "));
        sql.push_str(" FROM ");
        sql.push_str(&from(grant, table)?);
        let mut params = Vec::new();
        for (i, p) in req.filter.iter().enumerate() {
            column(&p.column)?;
            sql.push_str(if i == 0 { " WHERE " } else { " AND " });
            params.push(param(&label, &p.column, &p.value)?);
            sql.push_str(&format!("{} {} ${}", quote(&p.column), p.op.sql(), i + 1));
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

fn select_expr(c: &ColumnInfo) -> String {
    let q = quote(&c.name);
    match c.read {
        ReadAs::Native => q,
        ReadAs::Text => format!("{q}::text AS {q}"),
        ReadAs::Json => format!("to_jsonb({q})::text AS {q}"),
    }
}

/// The FROM clause: a granted table, or a query of the pipeline file as a subquery.
fn from(grant: &DatabaseGrant, table: &TableInfo) -> Result<String> {
    if table.schema == QUERY_SCHEMA {
        let query = grant.queries.get(&table.name).ok_or_else(|| {
            SqlError::NotFound(format!("{}: no query `{}`", grant.label(), table.name))
        })?;
        return Ok(format!("({query}) AS {}", quote(&table.name)));
    }
    Ok(format!("{}.{}", quote(&table.schema), quote(&table.name)))
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
