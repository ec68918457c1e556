//! The embedded DuckDB destination: a dataset is a DuckDB schema; a package is one
//! transaction, opened when the package begins, and rows arrive through the Arrow appender.
//! Tables whose chain the package appends to, or replaces from scratch (`sql::InPlace`), take
//! their rows straight into place (a replaced chain is emptied just before its first rows);
//! every other table's rows are gathered into one staging table per table
//! (numbered by position in the package, created inside the transaction) and move into place
//! with the disposition's SQL from [`crate::sql`] at commit. Nothing is visible, and a crash
//! leaves nothing, until the package commits with its `_dlt_loads` row and state; DuckDB writes
//! a big transaction's full row groups out as they fill (optimistic writes), so its memory
//! stays bounded by the buffer pool.

use arrow_array::RecordBatch;
use arrow_schema::DataType as ArrowType;
use duckdb::types::Value;
use duckdb::{Connection, ToSql};
use sluice_schema::{Column, DataType, Schema, Table};

use crate::catalog;
use crate::driver::{Cell, OpenPackage, Param, SqlDriver};
use crate::sql::{self, ROW_COLUMN, ReplaceStrategy, quote};
use crate::{Admin, Catalog, Commit, LoadError, PackageTx, Result};

/// DuckDB's type for a dlt column (dlt's duckdb type mapping). The row key `_dlt_id` is
/// stored uncompressed: its values are random (or hashes), so dictionary encoding never
/// pays and FSST only shortens the symbols (the GitHub-like file is 12% larger without it),
/// while analysing and encoding every segment cost 9% of a GitHub-like load's wall time;
/// parent-child joins also read the ids without decompressing them.
pub fn duckdb_type(col: &Column) -> String {
    match col.data_type.unwrap_or(DataType::Text) {
        DataType::Text if col.row_key && col.name == sluice_schema::DLT_ID => {
            "VARCHAR USING COMPRESSION uncompressed".into()
        }
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
        // dlt's integer widths (an Arrow page's int16 is precision 16)
        DataType::Bigint => match col.precision {
            Some(p) if p <= 8 => "TINYINT".into(),
            Some(p) if p <= 16 => "SMALLINT".into(),
            Some(p) if p <= 32 => "INTEGER".into(),
            _ => "BIGINT".into(),
        },
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

/// DuckDB's buffer pool while batches stream in (MB), unless `SLUICE_DUCKDB_MEMORY_LIMIT`
/// says otherwise: appends need little, and a small pool keeps a growing load's memory flat.
/// A package whose largest page is bigger gets three times that page (one value may be the
/// whole page), and every column of the widest table a batch goes into adds
/// [`STREAM_MEMORY_PER_COLUMN_MB`] (the appender pins a block per column).
pub const STREAM_MEMORY_LIMIT_MB: u64 = 64;
/// Buffer pool per column of the widest table a package writes (staging or in place; MB).
pub const STREAM_MEMORY_PER_COLUMN_MB: u64 = 1;
/// The buffer pool while a package with merges commits (MB): dedup, joins and deletes over
/// the dataset are set operations that need room.
pub const MERGE_MEMORY_LIMIT_MB: u64 = 256;

/// DuckDB's worker threads while batches stream in. The appender fills one table on the
/// calling thread; a second worker only polled the task queue under its mutex, 20% of the
/// process's CPU in a 1M-row PostgreSQL → DuckDB load (the CPU the source server needed on
/// two cores). The commit (merges, the checkpoint) runs with DuckDB's default threads.
pub const STREAM_THREADS: u64 = 1;

/// A dataset in a DuckDB database file.
pub struct DuckDb {
    conn: Connection,
    path: String,
    dataset: String,
    staging: String,
    /// the open package: staging tables (transaction-local) and in-place tables
    package: OpenPackage,
    in_transaction: bool,
    system_ready: bool,
    replace_strategy: ReplaceStrategy,
    /// `SLUICE_DUCKDB_MEMORY_LIMIT`, which fixes the buffer pool for every phase
    fixed_memory_limit: Option<String>,
    /// the buffer pool while batches stream in (MB)
    stream_memory_mb: u64,
    /// its floor for this package: the base or three times the largest page (MB)
    page_memory_mb: u64,
    /// the buffer pool DuckDB has now (MB; `SET memory_limit` flushes DuckDB's allocator, so
    /// it is only sent when the size changes)
    memory_limit_mb: Option<u64>,
    /// whether this package was told of its largest page yet
    page_sized: bool,
    /// whether DuckDB runs [`STREAM_THREADS`] workers now (set by `begin`, reset to DuckDB's
    /// default before a commit)
    streaming_threads: bool,
}

fn sql_err(context: &str) -> impl FnOnce(duckdb::Error) -> LoadError + '_ {
    move |e| LoadError::sql(context, e)
}

/// The storage format of the DuckDB files Sluice creates, unless
/// `SLUICE_DUCKDB_STORAGE_VERSION` names another (`v1.0.0` for readers older than DuckDB 1.3,
/// `latest`). DuckDB 1.5 still writes 1.0's format by default, which analyses every text
/// segment for dictionary and FSST encoding separately; 1.3's combined DICT_FSST encoding
/// loaded GitHub-like data 5–12% faster (interleaved runs) into a file of the same size, and
/// DuckDB 2.0 writes newer formats by default. Existing files keep the format they were
/// created with.
pub const STORAGE_VERSION: &str = "v1.3.0";

/// Open the database file. DuckDB names a file's catalog after its stem, so a dataset named
/// like the file (`github.duckdb` holding dataset `github`) makes every `github.table`
/// ambiguous between catalog and schema; such a file is attached under another catalog name
/// and made the default instead.
fn open_file(path: &str, dataset: &str, storage_version: &str) -> duckdb::Result<Connection> {
    let config =
        || duckdb::Config::default().with("storage_compatibility_version", storage_version);
    let stem = std::path::Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().to_lowercase());
    if stem.as_deref() != Some(&dataset.to_lowercase()) {
        return Connection::open_with_flags(path, config()?);
    }
    let alias = format!("{dataset}_db");
    let conn = Connection::open_in_memory_with_flags(config()?)?;
    conn.execute_batch(&format!(
        "ATTACH {} AS {alias}; USE {alias};",
        crate::sql::literal(path),
        alias = quote(&alias)
    ))?;
    Ok(conn)
}

/// How long a run waits for readers (`sluice query`, the dashboard) to let go of the file.
/// They hold it read-only for one statement at a time, so a run waits for the statement.
const READERS_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// [`open_file`], retried while another process holds the file (a reader's short
/// read-only session): readers never hold a run up for longer than their statement.
fn open_waiting_for_readers(
    path: &str,
    dataset: &str,
    storage_version: &str,
) -> duckdb::Result<Connection> {
    let started = std::time::Instant::now();
    loop {
        match open_file(path, dataset, storage_version) {
            Err(e)
                if e.to_string().contains("Could not set lock")
                    && started.elapsed() < READERS_WAIT =>
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            r => return r,
        }
    }
}

impl DuckDb {
    /// Commit the open package (the shared SQL), then fold the WAL into the database file
    /// now, not during the next load.
    fn commit_package(&mut self, load_id: &str, commit: &Commit) -> Result<()> {
        let emptying = catalog::Emptying {
            strategy: self.replace_strategy,
            truncate: false,
        };
        catalog::commit_package(self, load_id, commit, emptying)?;
        self.in_transaction = false;
        self.exec("checkpointing", "CHECKPOINT")?;
        self.package.clear();
        Ok(())
    }

    /// Size DuckDB's buffer pool (MB), unless `SLUICE_DUCKDB_MEMORY_LIMIT` fixed it.
    fn set_memory_limit(&mut self, mb: u64) -> Result<()> {
        if self.fixed_memory_limit.is_some() || self.memory_limit_mb == Some(mb) {
            return Ok(());
        }
        self.exec(
            "sizing the buffer pool",
            &format!("SET memory_limit = '{mb}MB'"),
        )?;
        self.memory_limit_mb = Some(mb);
        Ok(())
    }

    /// Run DuckDB with [`STREAM_THREADS`] workers (`true`) or its default (`false`).
    fn set_streaming_threads(&mut self, streaming: bool) -> Result<()> {
        if self.streaming_threads == streaming {
            return Ok(());
        }
        let sql = if streaming {
            format!("SET threads = {STREAM_THREADS}")
        } else {
            "RESET threads".to_owned()
        };
        self.exec("setting DuckDB's worker threads", &sql)?;
        self.streaming_threads = streaming;
        Ok(())
    }

    /// Open (or create, in [`STORAGE_VERSION`]'s format or `SLUICE_DUCKDB_STORAGE_VERSION`'s)
    /// the database at `path` for `dataset`.
    pub fn open(path: &str, dataset: &str) -> Result<DuckDb> {
        let storage_version = std::env::var("SLUICE_DUCKDB_STORAGE_VERSION")
            .unwrap_or_else(|_| STORAGE_VERSION.to_owned());
        Self::open_in_format(path, dataset, &storage_version)
    }

    /// Open the database at `path` for `dataset`, creating it in DuckDB `storage_version`'s
    /// storage format if it does not exist.
    pub fn open_in_format(path: &str, dataset: &str, storage_version: &str) -> Result<DuckDb> {
        let conn = open_waiting_for_readers(path, dataset, storage_version).map_err(|e| {
            LoadError::Open {
                destination: format!("duckdb `{path}` (storage version `{storage_version}`)"),
                source: e.into(),
            }
        })?;
        // DuckDB's buffer pool defaults to 80% of RAM and keeps a large transaction's pages
        // resident; a bounded pool makes it write them out (optimistic writes, spilling), so
        // memory stays flat as a load grows. SLUICE_DUCKDB_MEMORY_LIMIT fixes it instead.
        let fixed_memory_limit = std::env::var("SLUICE_DUCKDB_MEMORY_LIMIT").ok();
        let limit = fixed_memory_limit
            .clone()
            .unwrap_or_else(|| format!("{STREAM_MEMORY_LIMIT_MB}MB"));
        conn.execute_batch(&format!(
            "SET memory_limit = {}",
            crate::sql::literal(&limit)
        ))
        .map_err(|e| LoadError::Open {
            destination: format!("duckdb `{path}` (memory_limit `{limit}`)"),
            source: e.into(),
        })?;
        let memory_limit_mb = fixed_memory_limit
            .is_none()
            .then_some(STREAM_MEMORY_LIMIT_MB);
        Ok(DuckDb {
            conn,
            path: path.to_owned(),
            staging: format!("{dataset}_staging"),
            dataset: dataset.to_owned(),
            package: OpenPackage::default(),
            in_transaction: false,
            system_ready: false,
            replace_strategy: ReplaceStrategy::default(),
            fixed_memory_limit,
            stream_memory_mb: STREAM_MEMORY_LIMIT_MB,
            page_memory_mb: STREAM_MEMORY_LIMIT_MB,
            memory_limit_mb,
            page_sized: false,
            streaming_threads: false,
        })
    }

    /// How `replace` empties tables.
    pub fn set_replace_strategy(&mut self, strategy: ReplaceStrategy) {
        self.replace_strategy = strategy;
    }

    /// The database path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The connection, for queries after loading.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// `batch` plus each row's position in the package ([`ROW_COLUMN`]), from `offset` on.
fn with_positions(
    batch: &RecordBatch,
    offset: usize,
) -> std::result::Result<RecordBatch, arrow_schema::ArrowError> {
    let offset = offset as i64;
    let positions: arrow_array::ArrayRef = std::sync::Arc::new(
        arrow_array::Int64Array::from_iter_values(offset..offset + batch.num_rows() as i64),
    );
    let mut cols: Vec<arrow_array::ArrayRef> = batch.columns().to_vec();
    cols.push(positions);
    let fields: Vec<arrow_schema::Field> = batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .chain(std::iter::once(arrow_schema::Field::new(
            ROW_COLUMN,
            ArrowType::Int64,
            false,
        )))
        .collect();
    RecordBatch::try_new(std::sync::Arc::new(arrow_schema::Schema::new(fields)), cols)
}

/// Query parameters as DuckDB binds them.
fn bound<'p>(params: &'p [Param<'_>]) -> Vec<&'p dyn ToSql> {
    params
        .iter()
        .map(|p| match p {
            Param::Text(s) => s as &dyn ToSql,
            Param::OptText(s) => s as &dyn ToSql,
            Param::Int(i) => i as &dyn ToSql,
        })
        .collect()
}

fn cell(v: Value) -> Cell {
    match v {
        Value::Null => Cell::Null,
        Value::TinyInt(i) => Cell::Int(i.into()),
        Value::SmallInt(i) => Cell::Int(i.into()),
        Value::Int(i) => Cell::Int(i.into()),
        Value::BigInt(i) => Cell::Int(i),
        Value::HugeInt(i) => Cell::Int(i as i64),
        Value::UTinyInt(i) => Cell::Int(i.into()),
        Value::USmallInt(i) => Cell::Int(i.into()),
        Value::UInt(i) => Cell::Int(i.into()),
        Value::UBigInt(i) => Cell::Int(i as i64),
        Value::Text(s) => Cell::Text(s),
        other => Cell::Text(format!("{other:?}")),
    }
}

impl SqlDriver for DuckDb {
    fn dataset(&self) -> &str {
        &self.dataset
    }

    fn staging(&self) -> &str {
        &self.staging
    }

    fn column_type(&self) -> fn(&Column) -> String {
        duckdb_type
    }

    fn exec(&self, context: &str, sql: &str) -> Result<()> {
        self.conn.execute_batch(sql).map_err(sql_err(context))
    }

    fn execute(&self, context: &str, sql: &str, params: &[Param<'_>]) -> Result<()> {
        self.conn
            .execute(sql, bound(params).as_slice())
            .map(drop)
            .map_err(sql_err(context))
    }

    fn query(&self, context: &str, sql: &str, params: &[Param<'_>]) -> Result<Vec<Vec<Cell>>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(sql_err(context))?;
        stmt.query_map(bound(params).as_slice(), |r| {
            (0..r.as_ref().column_count())
                .map(|i| r.get::<_, Value>(i).map(cell))
                .collect()
        })
        .and_then(|rows| rows.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(sql_err(context))
    }

    fn tables_of(&self, schema: &str) -> Result<Vec<String>> {
        let context = format!("listing the tables of `{schema}`");
        let mut stmt = self
            .conn
            .prepare_cached(
                "select table_name from duckdb_tables() \
                 where database_name = current_database() and schema_name = ? order by 1",
            )
            .map_err(sql_err(&context))?;
        stmt.query_map([schema], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(sql_err(&context))
    }

    /// `duckdb_columns()`, not `information_schema.columns`: the view cost 1–19 ms a call
    /// here, several times a package, the table function well under 1 ms.
    fn columns_of(&self, schema: &str, table: &str) -> Result<Vec<String>> {
        let context = format!("reading the columns of table `{table}`");
        let mut stmt = self
            .conn
            .prepare_cached(
                "select column_name from duckdb_columns() where database_name = current_database() \
                 and schema_name = ? and table_name = ? order by column_index",
            )
            .map_err(sql_err(&context))?;
        stmt.query_map([schema, table], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(sql_err(&context))
    }

    fn ensure_system_tables(&mut self) -> Result<()> {
        if self.system_ready {
            return Ok(());
        }
        self.exec(
            "creating system tables",
            &sql::system_tables_ddl(&self.dataset),
        )?;
        self.system_ready = true;
        Ok(())
    }

    fn package(&mut self) -> &mut OpenPackage {
        &mut self.package
    }
}

impl Catalog for DuckDb {
    fn describe(&self) -> String {
        format!("duckdb:{}", self.path)
    }

    fn is_loaded(&mut self, load_id: &str) -> Result<bool> {
        catalog::is_loaded(self, load_id)
    }

    fn load_count(&mut self) -> Result<i64> {
        catalog::load_count(self)
    }

    fn stored_schema(&mut self, schema_name: &str) -> Result<Option<String>> {
        catalog::stored_schema(self, schema_name)
    }

    fn stored_state(&mut self, pipeline: &str) -> Result<Option<crate::StoredState>> {
        catalog::stored_state(self, pipeline)
    }

    fn table_counts(&mut self) -> Result<Vec<(String, i64)>> {
        catalog::table_counts(self)
    }
}

impl PackageTx for DuckDb {
    fn expect_largest_page(&mut self, bytes: u64) -> Result<()> {
        let mb = STREAM_MEMORY_LIMIT_MB.max((bytes.saturating_mul(3)) >> 20);
        if self.page_sized {
            // a live package learns of a larger page: grow by the difference, keeping what
            // its widest table added
            if mb <= self.page_memory_mb {
                return Ok(());
            }
            self.stream_memory_mb += mb - self.page_memory_mb;
        } else {
            self.page_sized = true;
            self.stream_memory_mb = mb;
        }
        self.page_memory_mb = mb;
        self.set_memory_limit(self.stream_memory_mb)
    }

    fn replaces(&mut self, roots: &[String]) {
        self.package.in_place.replace(roots);
    }

    fn begin(&mut self, load_id: &str) -> Result<()> {
        self.ensure_system_tables()?;
        self.exec(
            "creating the staging schema",
            &format!("CREATE SCHEMA IF NOT EXISTS {};", quote(&self.staging)),
        )?;
        // staging lives inside the package transaction; what an attempt of an older Sluice
        // left outside one is discarded
        catalog::drop_staging_of_load(self, load_id)?;
        self.package.begin(load_id);
        self.page_sized = false;
        self.set_streaming_threads(true)?;
        self.exec("starting the load transaction", "BEGIN TRANSACTION")?;
        self.in_transaction = true;
        Ok(())
    }

    fn write_batch(&mut self, schema: &Schema, table: &Table, batch: &RecordBatch) -> Result<()> {
        let Some(load_id) = self.package.load_id.clone() else {
            return Err(LoadError::NotBegun);
        };
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let fields = sql::batch_columns(table, batch)?;
        let in_place = self.package.in_place.takes(schema, &table.name);
        let width = if in_place {
            catalog::prepare_in_place(self, schema, table, &fields)?
        } else {
            catalog::prepare_staging(self, &load_id, table, &fields)?
        };
        let wanted = self.page_memory_mb + STREAM_MEMORY_PER_COLUMN_MB * (width as u64 + 1);
        if wanted > self.stream_memory_mb {
            self.stream_memory_mb = wanted;
            self.set_memory_limit(wanted)?;
        }
        let mut names: Vec<&str> = fields.iter().map(|c| c.name.as_str()).collect();
        let (db_schema, target, rows, context) = if in_place {
            let context = format!("appending to table `{}`", table.name);
            (&self.dataset, &table.name, batch.clone(), context)
        } else {
            let Some(st) = self.package.staged.get(&table.name) else {
                return Err(LoadError::NotBegun);
            };
            let context = format!("staging table `{}`", table.name);
            names.push(ROW_COLUMN);
            let with_rows = with_positions(batch, st.rows)
                .map_err(|e| LoadError::Plan(format!("{context}: {e}")))?;
            (&self.staging, &st.name, with_rows, context)
        };
        {
            let mut app = self
                .conn
                .appender_with_columns_to_db(target, db_schema, &names)
                .map_err(sql_err(&context))?;
            app.append_record_batch(rows)
                .and_then(|_| app.flush())
                .map_err(sql_err(&context))?;
        }
        if let Some(st) = self
            .package
            .staged
            .get_mut(&table.name)
            .filter(|_| !in_place)
        {
            st.rows += batch.num_rows();
        }
        Ok(())
    }

    fn commit(&mut self, commit: &Commit) -> Result<()> {
        let Some(load_id) = self.package.load_id.clone() else {
            return Err(LoadError::NotBegun);
        };
        let merges = commit.roots.iter().any(|r| {
            !commit.append_only.contains(r)
                && commit
                    .schema
                    .tables
                    .get(r)
                    .and_then(|t| t.write_disposition)
                    == Some(sluice_schema::WriteDisposition::Merge)
        });
        if merges {
            self.set_memory_limit(MERGE_MEMORY_LIMIT_MB.max(self.stream_memory_mb))?;
        }
        self.set_streaming_threads(false)?;
        let result = self.commit_package(&load_id, commit);
        if merges {
            // back to the streaming size (a failed commit's error comes first)
            let restored = self.set_memory_limit(self.stream_memory_mb);
            result?;
            return restored;
        }
        result
    }

    fn rollback(&mut self) -> Result<()> {
        if self.in_transaction {
            self.in_transaction = false;
            self.exec("rolling back the load", "ROLLBACK")?;
        }
        self.package.in_place.clear();
        if let Some(id) = self.package.load_id.take() {
            self.package.staged.clear();
            catalog::drop_staging_of_load(self, &id)?;
        }
        self.set_streaming_threads(false)
    }
}

impl Admin for DuckDb {
    fn discard(&mut self, load_id: &str) -> Result<()> {
        catalog::drop_staging_of_load(self, load_id)
    }

    fn drop_tables(&mut self, load_id: &str, tables: &[String], commit: &Commit) -> Result<()> {
        catalog::drop_tables(self, load_id, tables, commit)
    }
}

#[cfg(test)]
mod tests;
