//! MySQL and MariaDB reflection: the tables of the granted schemas (MySQL's databases) with
//! their columns, types, primary keys and row estimates (one `information_schema` query, which
//! shows only what the user may read), and the columns of the pipeline's queries (prepared,
//! never run). Each column gets the dlt type dlt's `sql_database` gives it, with two
//! deliberate differences: `double` stays `double` (dlt reads it as a Python `Decimal` and
//! loads text) and `bigint unsigned` is `decimal(20,0)` (dlt fails above 2^63 - 1).

use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use crate::render::ReadAs;
use crate::{ColumnInfo, DatabaseGrant, MyUrl, Result, TableInfo};

const CATALOG: &str = "
SELECT c.TABLE_SCHEMA, c.TABLE_NAME, t.TABLE_ROWS, c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE,
       c.IS_NULLABLE, c.NUMERIC_PRECISION, c.NUMERIC_SCALE, c.CHARACTER_MAXIMUM_LENGTH,
       c.DATETIME_PRECISION, k.ORDINAL_POSITION
  FROM information_schema.COLUMNS c
  JOIN information_schema.TABLES t
    ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
  LEFT JOIN information_schema.KEY_COLUMN_USAGE k
    ON k.TABLE_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME
   AND k.COLUMN_NAME = c.COLUMN_NAME AND k.CONSTRAINT_NAME = 'PRIMARY'
 WHERE c.TABLE_SCHEMA IN ({schemas})
 ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION";

/// The tables of `grant`'s schemas and its queries.
pub(crate) async fn tables(grant: &DatabaseGrant, url: &MyUrl) -> Result<Vec<TableInfo>> {
    let mut conn = crate::my_session::connect(grant, url, "connect").await?;
    let schemas = grant.schema_list();
    let marks = vec!["?"; schemas.len()].join(", ");
    let rows: Vec<Row> = conn
        .exec(CATALOG.replace("{schemas}", &marks), schemas)
        .await
        .map_err(|e| grant.db_error("reflect", e))?;
    let mut tables: Vec<TableInfo> = Vec::new();
    let mut pk: Vec<(u64, String)> = Vec::new();
    for r in rows {
        let (schema, name) = (text(&r, 0), text(&r, 1));
        if tables
            .last()
            .is_none_or(|t| t.schema != schema || t.name != name)
        {
            if let Some(t) = tables.last_mut() {
                t.take_primary_key(&mut pk);
            }
            tables.push(TableInfo {
                schema,
                name,
                columns: Vec::new(),
                primary_key: Vec::new(),
                row_estimate: number(&r, 2),
            });
        }
        let Some(table) = tables.last_mut() else {
            continue;
        };
        let col = MyColumn {
            name: text(&r, 3),
            data_type: text(&r, 4).to_ascii_lowercase(),
            column_type: text(&r, 5).to_ascii_lowercase(),
            nullable: text(&r, 6) == "YES",
            precision: number(&r, 7),
            scale: number(&r, 8),
            length: number(&r, 9),
            fraction: number(&r, 10),
        };
        if let Some(pos) = number(&r, 11) {
            pk.push((pos, col.name.clone()));
        }
        table.columns.push(col.info());
    }
    if let Some(t) = tables.last_mut() {
        t.take_primary_key(&mut pk);
    }
    for (name, query) in &grant.queries {
        tables.push(query_table(grant, &mut conn, name, query).await?);
    }
    let _ = conn.disconnect().await;
    Ok(tables)
}

fn text(r: &Row, i: usize) -> String {
    r.get_opt::<Option<String>, usize>(i)
        .and_then(|v| v.ok())
        .flatten()
        .unwrap_or_default()
}

fn number(r: &Row, i: usize) -> Option<u64> {
    r.get_opt::<Option<u64>, usize>(i)
        .and_then(|v| v.ok())
        .flatten()
}

/// A pipeline query's columns, from its prepared statement's metadata.
async fn query_table(
    grant: &DatabaseGrant,
    conn: &mut Conn,
    name: &str,
    query: &str,
) -> Result<TableInfo> {
    let stmt = conn
        .prep(query)
        .await
        .map_err(|e| grant.db_error(&format!("query `{name}`"), e))?;
    let columns = stmt.columns().iter().map(wire_column).collect();
    let _ = conn.close(stmt).await;
    Ok(TableInfo::query(name, columns))
}

/// A result column by its wire type, as [`MyColumn`] maps the catalog's.
fn wire_column(c: &mysql_async::Column) -> ColumnInfo {
    use ColumnType::*;
    let unsigned = c.flags().contains(ColumnFlags::UNSIGNED_FLAG);
    // the binary character set (63) marks blobs and binary strings
    let binary = c.character_set() == 63;
    let decimals = u64::from(c.decimals());
    let (data_type, column_type) = match c.column_type() {
        MYSQL_TYPE_LONGLONG if unsigned => ("bigint", "bigint unsigned"),
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_LONG | MYSQL_TYPE_INT24
        | MYSQL_TYPE_LONGLONG | MYSQL_TYPE_YEAR => ("bigint", ""),
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => ("decimal", ""),
        MYSQL_TYPE_FLOAT => ("float", ""),
        MYSQL_TYPE_DOUBLE => ("double", ""),
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => ("date", ""),
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => ("time", ""),
        MYSQL_TYPE_DATETIME | MYSQL_TYPE_DATETIME2 => ("datetime", ""),
        MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIMESTAMP2 => ("timestamp", ""),
        MYSQL_TYPE_JSON => ("json", ""),
        MYSQL_TYPE_BIT => ("bit", ""),
        MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB
        | MYSQL_TYPE_BLOB
        | MYSQL_TYPE_VAR_STRING
        | MYSQL_TYPE_STRING
        | MYSQL_TYPE_VARCHAR
            if binary =>
        {
            ("blob", "")
        }
        MYSQL_TYPE_VAR_STRING
        | MYSQL_TYPE_STRING
        | MYSQL_TYPE_VARCHAR
        | MYSQL_TYPE_ENUM
        | MYSQL_TYPE_SET
        | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB
        | MYSQL_TYPE_BLOB => ("text", ""),
        _ => ("unknown", ""),
    };
    // a decimal's display length counts its sign and point
    let length = u64::from(c.column_length());
    let digits = length.saturating_sub(u64::from(!unsigned) + u64::from(decimals > 0));
    MyColumn {
        name: c.name_str().into_owned(),
        data_type: data_type.into(),
        column_type: column_type.into(),
        nullable: true,
        precision: (data_type == "decimal").then_some(digits),
        scale: (data_type == "decimal").then_some(decimals),
        length: None,
        fraction: matches!(data_type, "time" | "datetime" | "timestamp").then_some(decimals),
    }
    .info()
}

/// One column as `information_schema.COLUMNS` describes it.
struct MyColumn {
    name: String,
    /// `DATA_TYPE`, lower case: `int`, `varchar`, …
    data_type: String,
    /// `COLUMN_TYPE`, lower case: `int(11) unsigned`, `enum('a','b')`, …
    column_type: String,
    nullable: bool,
    precision: Option<u64>,
    scale: Option<u64>,
    length: Option<u64>,
    fraction: Option<u64>,
}

impl MyColumn {
    fn info(&self) -> ColumnInfo {
        let (data_type, read) = self.kind();
        let (precision, scale) = self.precision(data_type);
        ColumnInfo {
            name: self.name.clone(),
            db_type: if self.column_type.is_empty() {
                self.data_type.clone()
            } else {
                self.column_type.clone()
            },
            data_type,
            nullable: self.nullable,
            precision,
            scale,
            timezone: (data_type == "timestamp").then_some(false),
            read,
        }
    }

    fn unsigned_bigint(&self) -> bool {
        self.data_type == "bigint" && self.column_type.contains("unsigned")
    }

    /// The dlt type, and how the column is read. Decimals wider than Arrow's 38 digits and
    /// types without a decoder are read as text.
    fn kind(&self) -> (&'static str, ReadAs) {
        let native = |t| (t, ReadAs::Native);
        match self.data_type.as_str() {
            "bigint" if self.unsigned_bigint() => native("decimal"),
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year"
            | "bit" => native("bigint"),
            "decimal" | "numeric" if self.precision.is_some_and(|p| p > 38) => {
                ("text", ReadAs::Text)
            }
            "decimal" | "numeric" => native("decimal"),
            "float" | "double" | "real" => native("double"),
            "date" => native("date"),
            "time" => native("time"),
            "datetime" | "timestamp" => native("timestamp"),
            "json" => native("json"),
            "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
                native("binary")
            }
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum"
            | "set" => native("text"),
            _ => ("text", ReadAs::Text),
        }
    }

    /// Precision and scale: decimal digits, integer bits, text length, fraction digits.
    fn precision(&self, data_type: &str) -> (Option<u32>, Option<u32>) {
        let narrow = |v: Option<u64>| v.and_then(|v| u32::try_from(v).ok());
        match (data_type, self.data_type.as_str()) {
            ("decimal", "bigint") => (Some(20), Some(0)),
            ("decimal", _) => (narrow(self.precision), narrow(self.scale)),
            ("bigint", "tinyint") => (Some(8), None),
            ("bigint", "smallint") => (Some(16), None),
            ("bigint", "mediumint") => (Some(24), None),
            ("bigint", "int" | "integer") => (Some(32), None),
            ("bigint", "bigint") => (Some(64), None),
            ("text", "char" | "varchar") => (narrow(self.length), None),
            ("time" | "timestamp", _) => (narrow(self.fraction), None),
            _ => (None, None),
        }
    }
}
