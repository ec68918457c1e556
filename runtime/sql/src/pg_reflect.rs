//! PostgreSQL reflection: the tables of the granted schemas with their columns, types,
//! primary keys and row estimates (one catalog query), and the columns of the pipeline's
//! queries (prepared, never run). Each column gets the dlt type it is read as, as dlt's
//! `sql_database` reflects it, and how it is read (natively, as text, as JSON).

use tokio_postgres::Client;
use tokio_postgres::types::Type;

use crate::render::ReadAs;
use crate::{ColumnInfo, DatabaseGrant, PgUrl, Result, TableInfo};

const CATALOG: &str = "
SELECT n.nspname::text, c.relname::text, c.reltuples::float8,
       a.attname::text, format_type(a.atttypid, a.atttypmod), a.atttypid::int8, a.atttypmod,
       a.attnotnull, t.typtype::text, t.typcategory::text,
       (SELECT array_position(i.indkey::int2[], a.attnum)
          FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_type t ON t.oid = a.atttypid
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname = ANY($1)
   AND has_table_privilege(c.oid, 'SELECT')
 ORDER BY 1, 2, a.attnum";

/// The tables of `grant`'s schemas and its queries.
pub(crate) async fn tables(grant: &DatabaseGrant, url: &PgUrl) -> Result<Vec<TableInfo>> {
    let client = crate::pg_session::connect(url, grant.password.as_deref(), "sluice-reflect")
        .await
        .map_err(|e| grant.db_error("connect", e))?;
    let rows = client
        .query(CATALOG, &[&grant.schema_list()])
        .await
        .map_err(|e| grant.db_error("reflect", crate::pg_session::pg_text(&e)))?;
    let mut tables: Vec<TableInfo> = Vec::new();
    let mut pk: Vec<(i32, String)> = Vec::new();
    for r in rows {
        let (schema, name): (String, String) = (r.get(0), r.get(1));
        if tables
            .last()
            .is_none_or(|t| t.schema != schema || t.name != name)
        {
            if let Some(t) = tables.last_mut() {
                t.take_primary_key(&mut pk);
            }
            let estimate: f64 = r.get(2);
            tables.push(TableInfo {
                schema,
                name,
                columns: Vec::new(),
                primary_key: Vec::new(),
                row_estimate: (estimate >= 0.0).then_some(estimate as u64),
            });
        }
        let Some(table) = tables.last_mut() else {
            continue;
        };
        let col = PgColumn {
            name: r.get(3),
            db_type: r.get(4),
            oid: r.get::<_, i64>(5) as u32,
            typmod: r.get(6),
            not_null: r.get(7),
            typtype: r.get(8),
            category: r.get(9),
        };
        if let Some(pos) = r.get::<_, Option<i32>>(10) {
            pk.push((pos, col.name.clone()));
        }
        table.columns.push(col.info());
    }
    if let Some(t) = tables.last_mut() {
        t.take_primary_key(&mut pk);
    }
    for (name, query) in &grant.queries {
        tables.push(query_table(grant, &client, name, query).await?);
    }
    Ok(tables)
}

/// A pipeline query's columns, from its prepared statement.
async fn query_table(
    grant: &DatabaseGrant,
    client: &Client,
    name: &str,
    query: &str,
) -> Result<TableInfo> {
    let stmt = client
        .prepare(query)
        .await
        .map_err(|e| grant.db_error(&format!("query `{name}`"), crate::pg_session::pg_text(&e)))?;
    let columns = stmt.columns().iter().map(result_column).collect();
    Ok(TableInfo::query(name, columns))
}

/// A result column of a prepared statement, with the dlt type it is read as.
pub(crate) fn result_column(c: &tokio_postgres::Column) -> ColumnInfo {
    PgColumn {
        name: c.name().to_owned(),
        db_type: c.type_().name().to_owned(),
        oid: c.type_().oid(),
        typmod: -1,
        not_null: false,
        typtype: type_kind(c.type_()),
        category: String::new(),
    }
    .info()
}

fn type_kind(t: &Type) -> String {
    match t.kind() {
        tokio_postgres::types::Kind::Array(_) => "b".into(),
        tokio_postgres::types::Kind::Enum(_) => "e".into(),
        _ => "b".into(),
    }
}

/// One column as the catalog describes it.
struct PgColumn {
    name: String,
    db_type: String,
    oid: u32,
    typmod: i32,
    not_null: bool,
    /// `pg_type.typtype`: b base, e enum, d domain, c composite, r range
    typtype: String,
    /// `pg_type.typcategory`: A array, …
    category: String,
}

impl PgColumn {
    fn info(&self) -> ColumnInfo {
        let (data_type, read) = self.kind();
        let (precision, scale) = self.precision();
        ColumnInfo {
            name: self.name.clone(),
            db_type: self.db_type.clone(),
            data_type,
            nullable: !self.not_null,
            precision,
            scale,
            timezone: match self.oid {
                1114 => Some(false),
                1184 => Some(true),
                _ => None,
            },
            read,
        }
    }

    /// The dlt type, and how the column is read. Numerics wider than Arrow's 38 digits are
    /// read as text.
    fn kind(&self) -> (&'static str, ReadAs) {
        let native = |t| (t, ReadAs::Native);
        match self.oid {
            20 | 21 | 23 | 26 => native("bigint"),
            700 | 701 => native("double"),
            16 => native("bool"),
            25 | 1043 | 1042 | 19 | 18 | 2950 => native("text"),
            1700 if self.precision().0.is_some_and(|p| p > 38) => ("text", ReadAs::Text),
            1700 => native("decimal"),
            1082 => native("date"),
            1083 => native("time"),
            1114 | 1184 => native("timestamp"),
            17 => native("binary"),
            114 | 3802 => native("json"),
            _ if self.category == "A" || self.typtype == "c" => ("json", ReadAs::Json),
            _ => ("text", ReadAs::Text),
        }
    }

    /// Precision and scale: decimal digits, integer bits, text length, fraction digits.
    fn precision(&self) -> (Option<u32>, Option<u32>) {
        let m = self.typmod;
        match self.oid {
            21 => (Some(16), None),
            23 => (Some(32), None),
            20 => (Some(64), None),
            1700 if m >= 4 => (
                Some((((m - 4) >> 16) & 0xffff) as u32),
                Some(((m - 4) & 0xffff) as u32),
            ),
            1043 | 1042 if m >= 4 => (Some((m - 4) as u32), None),
            1083 | 1114 | 1184 if m >= 0 => (Some(m as u32), None),
            _ => (None, None),
        }
    }
}
