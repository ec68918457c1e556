//! The SQL both databases share, over a [`SqlDriver`]: catalog reads (loads, schemas, state,
//! table counts), recording a package in dlt's system tables, migrations, staging tables, the
//! package commit and dropping tables. Each exists once; the destinations add only what their
//! engine does differently (how rows arrive, buffer sizing, locks).

use sluice_schema::{Column, LOADS_TABLE, STATE_TABLE, Schema, Table, VERSION_TABLE};

use crate::driver::{Param, SqlDriver};
use crate::sql::{self, ReplaceStrategy, Staged, quote};
use crate::{Commit, Result, StoredState};

/// Whether package `load_id` was committed.
pub(crate) fn is_loaded(db: &mut impl SqlDriver, load_id: &str) -> Result<bool> {
    db.ensure_system_tables()?;
    let sql = format!(
        "select count(*) from {}.{} where load_id = $1",
        quote(db.dataset()),
        quote(LOADS_TABLE)
    );
    Ok(count(db, "reading _dlt_loads", &sql, &[Param::Text(load_id)])? > 0)
}

/// How many packages the dataset holds.
pub(crate) fn load_count(db: &mut impl SqlDriver) -> Result<i64> {
    db.ensure_system_tables()?;
    let sql = format!(
        "select count(*) from {}.{}",
        quote(db.dataset()),
        quote(LOADS_TABLE)
    );
    count(db, "reading _dlt_loads", &sql, &[])
}

/// The newest stored version of schema `schema_name`, as JSON.
pub(crate) fn stored_schema(db: &mut impl SqlDriver, schema_name: &str) -> Result<Option<String>> {
    db.ensure_system_tables()?;
    let sql = format!(
        "select schema from {}.{} where schema_name = $1 order by version desc, inserted_at desc limit 1",
        quote(db.dataset()),
        quote(VERSION_TABLE)
    );
    let rows = db.query("reading _dlt_version", &sql, &[Param::Text(schema_name)])?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next())
        .map(|c| c.text()))
}

/// The state of `pipeline` its newest committed package carried.
pub(crate) fn stored_state(db: &mut impl SqlDriver, pipeline: &str) -> Result<Option<StoredState>> {
    db.ensure_system_tables()?;
    let sql = format!(
        "select s.version, s.state, s._dlt_load_id from {ds}.{state} s join {ds}.{loads} l on l.load_id = s._dlt_load_id \
         where s.pipeline_name = $1 and l.status = 0 order by s._dlt_load_id desc limit 1",
        ds = quote(db.dataset()),
        state = quote(STATE_TABLE),
        loads = quote(LOADS_TABLE)
    );
    let rows = db.query(
        "reading _dlt_pipeline_state",
        &sql,
        &[Param::Text(pipeline)],
    )?;
    Ok(rows.into_iter().next().map(|row| {
        let mut cells = row.into_iter();
        let mut next = || cells.next().unwrap_or(crate::driver::Cell::Null);
        StoredState {
            version: next().int(),
            state: next().text(),
            load_id: next().text(),
        }
    }))
}

/// The dataset's tables with their row counts, in name order.
pub(crate) fn table_counts(db: &impl SqlDriver) -> Result<Vec<(String, i64)>> {
    let mut out = Vec::new();
    for n in db.tables_of(db.dataset())? {
        let sql = format!("select count(*) from {}.{}", quote(db.dataset()), quote(&n));
        let c = count(db, &format!("counting rows of `{n}`"), &sql, &[])?;
        out.push((n, c));
    }
    Ok(out)
}

fn count(db: &impl SqlDriver, context: &str, sql: &str, params: &[Param<'_>]) -> Result<i64> {
    let rows = db.query(context, sql, params)?;
    Ok(rows.first().and_then(|r| r.first()).map_or(0, |c| c.int()))
}

/// Record package `load_id` in dlt's system tables: its schema version (once per version),
/// the pipeline state it carries, and its `_dlt_loads` row.
pub(crate) fn record_package(db: &impl SqlDriver, load_id: &str, commit: &Commit) -> Result<()> {
    let ds = quote(db.dataset());
    let schema = commit.schema;
    let known = count(
        db,
        "reading _dlt_version",
        &format!(
            "select count(*) from {ds}.{} where version_hash = $1 and schema_name = $2",
            quote(VERSION_TABLE)
        ),
        &[Param::Text(&schema.version_hash), Param::Text(&schema.name)],
    )?;
    if known == 0 {
        db.execute(
            "writing _dlt_version",
            &format!(
                "INSERT INTO {ds}.{} VALUES ($1, $2, now(), $3, $4, $5)",
                quote(VERSION_TABLE)
            ),
            &[
                Param::Int(schema.version as i64),
                Param::Int(schema.engine_version as i64),
                Param::Text(&schema.name),
                Param::Text(&schema.version_hash),
                Param::Text(&schema.to_json()),
            ],
        )?;
    }
    if let Some(st) = commit.state {
        db.execute(
            "writing _dlt_pipeline_state",
            &format!(
                "INSERT INTO {ds}.{} VALUES ($1, $2, $3, $4, now(), $5, $6, $7)",
                quote(STATE_TABLE)
            ),
            &[
                Param::Int(st.version),
                Param::Int(st.engine_version),
                Param::Text(&st.pipeline_name),
                Param::Text(&st.state),
                Param::Text(&st.version_hash),
                Param::Text(load_id),
                Param::Text(&crate::state_row_id(load_id, st)),
            ],
        )?;
    }
    db.execute(
        "writing _dlt_loads",
        &format!(
            "INSERT INTO {ds}.{} VALUES ($1, $2, 0, now(), $3, $4)",
            quote(LOADS_TABLE)
        ),
        &[
            Param::Text(load_id),
            Param::Text(&schema.name),
            Param::Text(&schema.version_hash),
            Param::OptText(commit.component),
        ],
    )
}

/// CREATE TABLE / ADD COLUMN so the dataset holds every complete column of `schema`.
pub(crate) fn migrate(db: &impl SqlDriver, schema: &Schema) -> Result<()> {
    let dataset = db.dataset();
    for stmt in sql::migration(
        schema,
        dataset,
        |t| db.columns_of(dataset, t),
        db.column_type(),
    )? {
        db.exec(&stmt.context, &stmt.sql)?;
    }
    Ok(())
}

/// Make `dataset.table` ready to take a batch with `fields` in place, inside the package
/// transaction. Returns its column count.
pub(crate) fn prepare_in_place(
    db: &mut impl SqlDriver,
    schema: &Schema,
    table: &Table,
    fields: &[&Column],
) -> Result<usize> {
    let mut in_place = std::mem::take(&mut db.package().in_place);
    let dataset = db.dataset().to_owned();
    let prepared = in_place.prepare(
        schema,
        table,
        fields,
        &dataset,
        |t| db.columns_of(&dataset, t),
        db.column_type(),
    );
    db.package().in_place = in_place;
    let (stmts, width) = prepared?;
    for stmt in stmts {
        db.exec(&stmt.context, &stmt.sql)?;
    }
    Ok(width)
}

/// Make the staging table of `table` ready to take a batch with `fields` (create or widen
/// it). Returns its column count.
pub(crate) fn prepare_staging(
    db: &mut impl SqlDriver,
    load_id: &str,
    table: &Table,
    fields: &[&Column],
) -> Result<usize> {
    if db.package().staged.contains_key(&table.name) {
        widen_staging(db, &table.name, fields)?;
    } else {
        let (st, ddl) =
            Staged::create(db.staging(), &table.name, load_id, fields, db.column_type());
        db.exec(&format!("staging table `{}`", table.name), &ddl)?;
        db.package().staged.insert(table.name.clone(), st);
    }
    Ok(db
        .package()
        .staged
        .get(&table.name)
        .map_or(0, |st| st.columns.len()))
}

/// Give the staging table of `table` every column in `wanted` it lacks.
fn widen_staging(db: &mut impl SqlDriver, table: &str, wanted: &[&Column]) -> Result<()> {
    let staging = db.staging().to_owned();
    let ty = db.column_type();
    let Some(st) = db.package().staged.get_mut(table) else {
        return Ok(());
    };
    match sql::widen_ddl(&staging, &st.name, &mut st.columns, wanted, ty) {
        Some(ddl) => db.exec(&format!("staging table `{table}`"), &ddl),
        None => Ok(()),
    }
}

/// How the destination empties tables for `replace`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Emptying {
    pub strategy: ReplaceStrategy,
    /// the destination has a transactional `TRUNCATE`
    pub truncate: bool,
}

/// Commit the open package `load_id`: migrate, widen the staging tables, move the staged
/// rows into place with each chain's disposition, record the package, `COMMIT`.
pub(crate) fn commit_package(
    db: &mut impl SqlDriver,
    load_id: &str,
    commit: &Commit,
    emptying: Emptying,
) -> Result<()> {
    db.package().in_place.check(commit.schema)?;
    migrate(db, commit.schema)?;
    let staged = std::mem::take(&mut db.package().staged);
    let widened = sql::staged_tables(commit.schema, &staged);
    db.package().staged = staged;
    for (table, all) in widened? {
        widen_staging(db, &table.name, &all)?;
    }
    let staged = sql::staged_names(&db.package().staged);
    let emptied = db.package().in_place.emptied().to_vec();
    let target = sql::Target {
        dataset: db.dataset(),
        staging: db.staging(),
        load_id,
        replace_strategy: emptying.strategy,
        truncate: emptying.truncate,
        staged: &staged,
        emptied: &emptied,
    };
    for stmt in target.package_statements(commit)? {
        db.exec(&stmt.context, &stmt.sql)?;
        crate::failpoint("load.mid_merge_sql");
    }
    record_package(db, load_id, commit)?;
    crate::failpoint("load.before_db_commit");
    db.exec("committing the load", "COMMIT")
}

/// Drop the dataset tables `tables` and their staging leftovers, and record package `load_id`
/// (the schema without them), in one transaction.
pub(crate) fn drop_tables(
    db: &mut impl SqlDriver,
    load_id: &str,
    tables: &[String],
    commit: &Commit,
) -> Result<()> {
    db.ensure_system_tables()?;
    db.exec("starting the drop transaction", "BEGIN")?;
    let result = (|| {
        for t in tables {
            db.exec(
                &format!("dropping table `{t}`"),
                &format!("DROP TABLE IF EXISTS {}.{}", quote(db.dataset()), quote(t)),
            )?;
        }
        drop_staging_where(db, |n| {
            tables.iter().any(|t| n.starts_with(&format!("{t}__")))
        })?;
        record_package(db, load_id, commit)
    })();
    match result {
        Ok(()) => db.exec("committing the drop", "COMMIT"),
        Err(e) => {
            let _ = db.exec("rolling back the drop", "ROLLBACK");
            Err(e)
        }
    }
}

/// Drop the staging tables of package `load_id` (what an interrupted attempt left).
pub(crate) fn drop_staging_of_load(db: &impl SqlDriver, load_id: &str) -> Result<()> {
    let tag = format!("__{}", load_id.replace('.', "_"));
    drop_staging_where(db, |n| n.contains(&tag))
}

fn drop_staging_where(db: &impl SqlDriver, doomed: impl Fn(&str) -> bool) -> Result<()> {
    for n in db.tables_of(db.staging())? {
        if doomed(&n) {
            db.exec(
                "dropping staging tables",
                &format!("DROP TABLE IF EXISTS {}.{}", quote(db.staging()), quote(&n)),
            )?;
        }
    }
    Ok(())
}
