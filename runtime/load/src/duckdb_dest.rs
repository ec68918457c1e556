//! The embedded DuckDB destination: a dataset is a DuckDB schema; rows arrive through the
//! Arrow appender into staging tables and move into place with one `INSERT … SELECT` per
//! table, inside the package's transaction.

use arrow_array::RecordBatch;
use arrow_schema::DataType as ArrowType;
use duckdb::Connection;
use sluice_schema::{Column, DataType, LOADS_TABLE, STATE_TABLE, Schema, VERSION_TABLE};

use crate::{Destination, LoadError, Result, StateRow};

/// Quote an identifier for DuckDB.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// DuckDB's type for a dlt column (dlt's duckdb type mapping).
pub fn duckdb_type(col: &Column) -> String {
    match col.data_type.unwrap_or(DataType::Text) {
        DataType::Text => "VARCHAR".into(),
        DataType::Double => "DOUBLE".into(),
        DataType::Bool => "BOOLEAN".into(),
        DataType::Timestamp => {
            if col.timezone == Some(false) {
                "TIMESTAMP".into()
            } else {
                "TIMESTAMP WITH TIME ZONE".into()
            }
        }
        DataType::Bigint => "BIGINT".into(),
        DataType::Binary => "BLOB".into(),
        DataType::Json => "JSON".into(),
        DataType::Decimal => {
            let (p, s) = (col.precision.unwrap_or(38), col.scale.unwrap_or(9));
            format!("DECIMAL({p},{s})")
        }
        DataType::Wei => {
            let (p, s) = (col.precision.unwrap_or(38), col.scale.unwrap_or(0));
            format!("DECIMAL({p},{s})")
        }
        DataType::Date => "DATE".into(),
        DataType::Time => "TIME".into(),
    }
}

fn arrow_sql_type(t: &ArrowType) -> String {
    match t {
        ArrowType::Utf8 | ArrowType::LargeUtf8 => "VARCHAR".into(),
        ArrowType::Int64 => "BIGINT".into(),
        ArrowType::Float64 => "DOUBLE".into(),
        ArrowType::Boolean => "BOOLEAN".into(),
        ArrowType::Timestamp(_, Some(_)) => "TIMESTAMP WITH TIME ZONE".into(),
        ArrowType::Timestamp(_, None) => "TIMESTAMP".into(),
        ArrowType::Decimal128(p, s) => format!("DECIMAL({p},{s})"),
        ArrowType::Date32 => "DATE".into(),
        ArrowType::Time64(_) => "TIME".into(),
        ArrowType::Binary => "BLOB".into(),
        _ => "VARCHAR".into(),
    }
}

struct Staged {
    table: String,
    stage: String,
    columns: Vec<String>,
}

/// A dataset in a DuckDB database file.
pub struct DuckDb {
    conn: Connection,
    path: String,
    dataset: String,
    staging: String,
    load_id: Option<String>,
    staged: Vec<Staged>,
    component: Option<String>,
}

impl DuckDb {
    /// Open (or create) the database at `path` for `dataset`.
    pub fn open(path: &str, dataset: &str) -> Result<DuckDb> {
        let conn = Connection::open(path).map_err(|source| LoadError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(DuckDb {
            conn,
            path: path.to_owned(),
            staging: format!("{dataset}_staging"),
            dataset: dataset.to_owned(),
            load_id: None,
            staged: Vec::new(),
            component: None,
        })
    }

    /// The database path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The connection, for queries after loading.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn exec(&self, context: &str, sql: &str) -> Result<()> {
        self.conn
            .execute_batch(sql)
            .map_err(|source| LoadError::Sql {
                context: context.to_owned(),
                source,
            })
    }

    fn existing_columns(&self, table: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare(
                "select column_name from information_schema.columns \
                 where table_schema = ? and table_name = ? order by ordinal_position",
            )
            .map_err(|source| LoadError::Table {
                table: table.to_owned(),
                source,
            })?;
        let rows = stmt
            .query_map([&self.dataset, table], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|source| LoadError::Table {
                table: table.to_owned(),
                source,
            })?;
        Ok(rows)
    }

    fn create_system_tables(&self) -> Result<()> {
        let ds = quote(&self.dataset);
        self.exec(
            "creating system tables",
            &format!(
                "CREATE SCHEMA IF NOT EXISTS {ds};
                 CREATE TABLE IF NOT EXISTS {ds}.{loads} (load_id VARCHAR NOT NULL, schema_name VARCHAR, status BIGINT NOT NULL, inserted_at TIMESTAMP WITH TIME ZONE NOT NULL, schema_version_hash VARCHAR, component VARCHAR);
                 CREATE TABLE IF NOT EXISTS {ds}.{version} (version BIGINT NOT NULL, engine_version BIGINT NOT NULL, inserted_at TIMESTAMP WITH TIME ZONE NOT NULL, schema_name VARCHAR NOT NULL, version_hash VARCHAR NOT NULL, schema VARCHAR NOT NULL);
                 CREATE TABLE IF NOT EXISTS {ds}.{state} (version BIGINT NOT NULL, engine_version BIGINT NOT NULL, pipeline_name VARCHAR NOT NULL, state VARCHAR NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL, version_hash VARCHAR, _dlt_load_id VARCHAR NOT NULL, _dlt_id VARCHAR NOT NULL);",
                loads = quote(LOADS_TABLE),
                version = quote(VERSION_TABLE),
                state = quote(STATE_TABLE),
            ),
        )
    }

    /// CREATE TABLE / ADD COLUMN so the dataset holds every complete column of `schema`.
    fn migrate(&self, schema: &Schema) -> Result<()> {
        let ds = quote(&self.dataset);
        for table in schema.data_tables() {
            let cols: Vec<&Column> = table.complete_columns().collect();
            if cols.is_empty() {
                continue;
            }
            let existing = self.existing_columns(&table.name)?;
            if existing.is_empty() {
                let defs: Vec<String> = cols
                    .iter()
                    .map(|c| {
                        format!(
                            "{} {}{}",
                            quote(&c.name),
                            duckdb_type(c),
                            if c.nullable { "" } else { " NOT NULL" }
                        )
                    })
                    .collect();
                self.exec(
                    &format!("creating table `{}`", table.name),
                    &format!(
                        "CREATE TABLE {ds}.{} ({})",
                        quote(&table.name),
                        defs.join(", ")
                    ),
                )?;
            } else {
                for c in cols.iter().filter(|c| !existing.contains(&c.name)) {
                    self.exec(
                        &format!("adding column `{}` to `{}`", c.name, table.name),
                        &format!(
                            "ALTER TABLE {ds}.{} ADD COLUMN {} {}",
                            quote(&table.name),
                            quote(&c.name),
                            duckdb_type(c)
                        ),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// The newest schema stored in `_dlt_version` for `schema_name`, if any.
    pub fn stored_schema(&self, schema_name: &str) -> Result<Option<String>> {
        self.create_system_tables()?;
        let sql = format!(
            "select schema from {}.{} where schema_name = ? order by version desc, inserted_at desc limit 1",
            quote(&self.dataset),
            quote(VERSION_TABLE)
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|source| LoadError::Sql {
            context: "reading _dlt_version".into(),
            source,
        })?;
        let mut rows = stmt
            .query_map([schema_name], |r| r.get::<_, String>(0))
            .map_err(|source| LoadError::Sql {
                context: "reading _dlt_version".into(),
                source,
            })?;
        match rows.next() {
            Some(r) => Ok(Some(r.map_err(|source| LoadError::Sql {
                context: "reading _dlt_version".into(),
                source,
            })?)),
            None => Ok(None),
        }
    }

    /// How many packages this dataset has committed.
    pub fn load_count(&self) -> Result<i64> {
        self.create_system_tables()?;
        self.conn
            .query_row(
                &format!(
                    "select count(*) from {}.{}",
                    quote(&self.dataset),
                    quote(LOADS_TABLE)
                ),
                [],
                |r| r.get(0),
            )
            .map_err(|source| LoadError::Sql {
                context: "reading _dlt_loads".into(),
                source,
            })
    }

    /// Every table of the dataset with its row count, system tables included.
    pub fn table_counts(&self) -> Result<Vec<(String, i64)>> {
        let mut stmt = self
            .conn
            .prepare("select table_name from information_schema.tables where table_schema = ? order by 1")
            .map_err(|source| LoadError::Sql { context: "listing tables".into(), source })?;
        let names = stmt
            .query_map([&self.dataset], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|source| LoadError::Sql {
                context: "listing tables".into(),
                source,
            })?;
        let mut out = Vec::new();
        for n in names {
            let c: i64 = self
                .conn
                .query_row(
                    &format!(
                        "select count(*) from {}.{}",
                        quote(&self.dataset),
                        quote(&n)
                    ),
                    [],
                    |r| r.get(0),
                )
                .map_err(|source| LoadError::Table {
                    table: n.clone(),
                    source,
                })?;
            out.push((n, c));
        }
        Ok(out)
    }

    /// The component that produced the next loads (name@version sha256:digest), recorded in
    /// `_dlt_loads.component`.
    pub fn set_component(&mut self, component: Option<String>) {
        self.component = component;
    }
}

impl Destination for DuckDb {
    fn is_loaded(&mut self, load_id: &str) -> Result<bool> {
        self.create_system_tables()?;
        let sql = format!(
            "select count(*) from {}.{} where load_id = ?",
            quote(&self.dataset),
            quote(LOADS_TABLE)
        );
        let n: i64 = self
            .conn
            .query_row(&sql, [load_id], |r| r.get(0))
            .map_err(|source| LoadError::Sql {
                context: "reading _dlt_loads".into(),
                source,
            })?;
        Ok(n > 0)
    }

    fn begin(&mut self, load_id: &str) -> Result<()> {
        self.create_system_tables()?;
        self.exec(
            "starting the load transaction",
            &format!(
                "BEGIN TRANSACTION; CREATE SCHEMA IF NOT EXISTS {};",
                quote(&self.staging)
            ),
        )?;
        self.load_id = Some(load_id.to_owned());
        self.staged.clear();
        Ok(())
    }

    fn write_batch(&mut self, table: &str, batch: &RecordBatch) -> Result<()> {
        let Some(load_id) = &self.load_id else {
            return Err(LoadError::NotBegun);
        };
        if batch.num_rows() == 0 {
            return Ok(());
        }
        // staging tables are namespaced by load id, so concurrent pipelines never share them
        let stage = format!(
            "{table}__{}__{}",
            load_id.replace('.', "_"),
            self.staged.len()
        );
        let schema = batch.schema();
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let defs: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| format!("{} {}", quote(f.name()), arrow_sql_type(f.data_type())))
            .collect();
        self.exec(
            &format!("staging table `{table}`"),
            &format!(
                "CREATE TABLE {}.{} ({})",
                quote(&self.staging),
                quote(&stage),
                defs.join(", ")
            ),
        )?;
        {
            let mut app = self
                .conn
                .appender_to_db(&stage, &self.staging)
                .map_err(|source| LoadError::Table {
                    table: table.to_owned(),
                    source,
                })?;
            app.append_record_batch(batch.clone())
                .and_then(|_| app.flush())
                .map_err(|source| LoadError::Table {
                    table: table.to_owned(),
                    source,
                })?;
        }
        self.staged.push(Staged {
            table: table.to_owned(),
            stage,
            columns,
        });
        Ok(())
    }

    fn commit(
        &mut self,
        schema: &Schema,
        replace_roots: &[String],
        state: Option<&StateRow>,
    ) -> Result<()> {
        let Some(load_id) = self.load_id.clone() else {
            return Err(LoadError::NotBegun);
        };
        let ds = quote(&self.dataset);
        self.migrate(schema)?;
        for root in replace_roots {
            for t in schema.table_chain(root) {
                if !self.existing_columns(&t.name)?.is_empty() {
                    self.exec(
                        &format!("replacing table `{}`", t.name),
                        &format!("DELETE FROM {ds}.{}", quote(&t.name)),
                    )?;
                }
            }
        }
        let staged = std::mem::take(&mut self.staged);
        for s in &staged {
            let cols = s
                .columns
                .iter()
                .map(|c| quote(c))
                .collect::<Vec<_>>()
                .join(", ");
            self.exec(
                &format!("inserting into table `{}`", s.table),
                &format!(
                    "INSERT INTO {ds}.{} ({cols}) SELECT {cols} FROM {}.{}; DROP TABLE {}.{};",
                    quote(&s.table),
                    quote(&self.staging),
                    quote(&s.stage),
                    quote(&self.staging),
                    quote(&s.stage),
                ),
            )?;
        }
        let now = "now()";
        let version_known: i64 = self
            .conn
            .query_row(
                &format!(
                    "select count(*) from {ds}.{} where version_hash = ? and schema_name = ?",
                    quote(VERSION_TABLE)
                ),
                [&schema.version_hash, &schema.name],
                |r| r.get(0),
            )
            .map_err(|source| LoadError::Sql {
                context: "reading _dlt_version".into(),
                source,
            })?;
        if version_known == 0 {
            self.conn
                .execute(
                    &format!(
                        "INSERT INTO {ds}.{} VALUES (?, ?, {now}, ?, ?, ?)",
                        quote(VERSION_TABLE)
                    ),
                    duckdb::params![
                        schema.version as i64,
                        schema.engine_version as i64,
                        schema.name,
                        schema.version_hash,
                        schema.to_json()
                    ],
                )
                .map_err(|source| LoadError::Sql {
                    context: "writing _dlt_version".into(),
                    source,
                })?;
        }
        if let Some(st) = state {
            let id = sluice_schema::digest_id(format!("{load_id}{}", st.version_hash).as_bytes());
            self.conn
                .execute(
                    &format!(
                        "INSERT INTO {ds}.{} VALUES (?, ?, ?, ?, {now}, ?, ?, ?)",
                        quote(STATE_TABLE)
                    ),
                    duckdb::params![
                        st.version,
                        st.engine_version,
                        st.pipeline_name,
                        st.state,
                        st.version_hash,
                        load_id,
                        id
                    ],
                )
                .map_err(|source| LoadError::Sql {
                    context: "writing _dlt_pipeline_state".into(),
                    source,
                })?;
        }
        self.conn
            .execute(
                &format!(
                    "INSERT INTO {ds}.{} VALUES (?, ?, 0, {now}, ?, ?)",
                    quote(LOADS_TABLE)
                ),
                duckdb::params![load_id, schema.name, schema.version_hash, self.component],
            )
            .map_err(|source| LoadError::Sql {
                context: "writing _dlt_loads".into(),
                source,
            })?;
        self.exec("committing the load", "COMMIT")?;
        self.load_id = None;
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        if self.load_id.take().is_some() {
            self.staged.clear();
            self.exec("rolling back the load", "ROLLBACK")?;
        }
        Ok(())
    }
}
