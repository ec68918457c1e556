//! The SQL that moves a package's staged rows into place, one root table chain at a time, for
//! every write disposition and merge strategy (dlt's `SqlMergeFollowupJob`, reference §5).
//!
//! Invariant: the statements only read staging tables and the chain's own tables, and only
//! ever touch rows of the chain — they run inside the package's transaction, so they apply all
//! or nothing. The SQL is the common subset of DuckDB and PostgreSQL (window functions,
//! `EXISTS`, `CREATE TABLE … AS`), so both destinations share one definition of each merge.
//!
//! Staging tables hold the table's complete columns plus [`ROW_COLUMN`], the position of the
//! row in the package, which makes "last record wins" deduplication deterministic.

use std::collections::HashMap;

use sluice_schema::{
    Column, DLT_ID, DLT_ROOT_ID, DataType, MergeStrategy, Schema, Table, WriteDisposition,
};

use crate::{LoadError, Result};

/// The staging column holding each row's position in the package.
pub const ROW_COLUMN: &str = "_sluice_row";

/// How `replace` empties a table chain (dlt's `replace_strategy`). Both run inside the
/// package transaction in Sluice, so readers never see an empty table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplaceStrategy {
    /// `TRUNCATE` (PostgreSQL; DuckDB deletes): fastest, locks the table until commit
    #[default]
    TruncateAndInsert,
    /// `DELETE` then `INSERT … SELECT` from staging: readers keep the old rows until commit
    InsertFromStaging,
}

impl ReplaceStrategy {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "truncate-and-insert" => Some(Self::TruncateAndInsert),
            "insert-from-staging" | "staging-optimized" => Some(Self::InsertFromStaging),
            _ => None,
        }
    }
}

/// Quote an identifier (the same rule in DuckDB and PostgreSQL).
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// A SQL string literal.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn timestamp(iso: &str) -> String {
    format!("CAST({} AS TIMESTAMP WITH TIME ZONE)", literal(iso))
}

/// The creation time of a load package (dlt: the load id is its UNIX time) as ISO UTC.
pub fn load_time(load_id: &str) -> String {
    let (secs, frac) = load_id.split_once('.').unwrap_or((load_id, "0"));
    let secs: i64 = secs.parse().unwrap_or(0);
    let micros: u32 = format!("{frac:0<6}")[..6].parse().unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, micros * 1000)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// One statement with what it does, for error messages.
#[derive(Clone, Debug)]
pub struct Stmt {
    pub context: String,
    pub sql: String,
}

/// Where the chain lives and how the destination empties tables.
pub struct Target<'a> {
    pub dataset: &'a str,
    pub staging: &'a str,
    pub load_id: &'a str,
    pub replace_strategy: ReplaceStrategy,
    /// the destination has a transactional `TRUNCATE`
    pub truncate: bool,
    /// table name → its staging table (in `staging`), for tables with rows in the package
    pub staged: &'a HashMap<String, String>,
    /// replaced roots whose chains were emptied in place ([`InPlace::emptied`])
    pub emptied: &'a [String],
}

impl Target<'_> {
    /// A staging-schema name for a helper table of `root`, unique per load.
    fn helper(&self, root: &str, what: &str) -> String {
        crate::staging_name(root, self.load_id, &format!("__{what}"))
    }

    /// Every statement that moves a package's staged rows into place: each root chain with
    /// its disposition, then the removal of the staging tables.
    pub fn package_statements(&self, commit: &crate::Commit) -> Result<Vec<Stmt>> {
        let mut out = Vec::new();
        for root in commit.roots {
            // a chain emptied in place took its rows in place: the commit only appends
            let append_only = commit.append_only.contains(root) || self.emptied.contains(root);
            out.extend(chain_statements(self, commit.schema, root, append_only)?);
        }
        for name in self.staged.values() {
            out.push(Stmt {
                context: "dropping staging tables".into(),
                sql: format!("DROP TABLE {}.{}", quote(self.staging), quote(name)),
            });
        }
        Ok(out)
    }
}

struct Gen<'a> {
    t: &'a Target<'a>,
    out: Vec<Stmt>,
    helpers: Vec<String>,
}

impl Gen<'_> {
    fn push(&mut self, context: impl Into<String>, sql: String) {
        self.out.push(Stmt {
            context: context.into(),
            sql,
        });
    }

    fn dest(&self, table: &str) -> String {
        format!("{}.{}", quote(self.t.dataset), quote(table))
    }

    fn stage(&self, table: &str) -> Option<String> {
        self.t
            .staged
            .get(table)
            .map(|s| format!("{}.{}", quote(self.t.staging), quote(s)))
    }

    fn helper(&mut self, root: &str, what: &str) -> String {
        let name = format!(
            "{}.{}",
            quote(self.t.staging),
            quote(&self.t.helper(root, what))
        );
        self.helpers.push(name.clone());
        name
    }

    /// `INSERT INTO dest (cols) SELECT cols FROM source [WHERE filter]`.
    fn insert(&mut self, table: &Table, source: &str, filter: Option<String>) {
        let cols = column_list(table.complete_columns());
        let filter = filter.map(|f| format!(" WHERE {f}")).unwrap_or_default();
        self.push(
            format!("inserting into table `{}`", table.name),
            format!(
                "INSERT INTO {} ({cols}) SELECT {cols} FROM {source}{filter}",
                self.dest(&table.name)
            ),
        );
    }

    fn append(&mut self, chain: &[&Table]) {
        for t in chain {
            if let Some(s) = self.stage(&t.name) {
                self.insert(t, &s, None);
            }
        }
    }

    fn replace(&mut self, chain: &[&Table]) {
        for t in chain {
            let stmt = empty_table(
                self.t.dataset,
                &t.name,
                self.t.truncate,
                self.t.replace_strategy,
            );
            self.out.push(stmt);
        }
        self.append(chain);
    }

    /// A deduplicated copy of the staged root: one row per `partition`, the first by `order`.
    fn dedup(&mut self, root: &Table, staged: &str, partition: &[&Column], order: &str) -> String {
        let name = self.helper(&root.name, "dedup");
        let cols = column_list(root.complete_columns());
        self.push(
            format!("deduplicating staged rows of `{}`", root.name),
            format!(
                "CREATE TABLE {name} AS SELECT {cols}, {row} FROM (SELECT {cols}, {row}, \
                 ROW_NUMBER() OVER (PARTITION BY {part} ORDER BY {order}) AS _sluice_rn \
                 FROM {staged}) AS x WHERE _sluice_rn = 1",
                row = quote(ROW_COLUMN),
                part = column_list(partition.iter().copied()),
            ),
        );
        name
    }

    /// Delete destination rows of the chain whose root matches a staged root by primary key
    /// or merge key; nested rows go through `_dlt_root_id`.
    fn delete_matching(&mut self, chain: &[&Table], staged: &str, pk: &[&Column], mk: &[&Column]) {
        let root = chain[0];
        let conds: Vec<String> = [pk, mk]
            .iter()
            .filter(|k| !k.is_empty())
            .map(|k| {
                format!(
                    "EXISTS (SELECT 1 FROM {staged} AS s WHERE {})",
                    key_match(k)
                )
            })
            .collect();
        let doomed = self.helper(&root.name, "delete");
        self.push(
            format!("finding rows of `{}` to replace", root.name),
            format!(
                "CREATE TABLE {doomed} AS SELECT d.{id} FROM {} AS d WHERE {}",
                self.dest(&root.name),
                conds.join(" OR "),
                id = quote(DLT_ID),
            ),
        );
        for t in &chain[1..] {
            self.push(
                format!("deleting replaced rows of `{}`", t.name),
                format!(
                    "DELETE FROM {} WHERE {} IN (SELECT {} FROM {doomed})",
                    self.dest(&t.name),
                    quote(DLT_ROOT_ID),
                    quote(DLT_ID)
                ),
            );
        }
        self.push(
            format!("deleting replaced rows of `{}`", root.name),
            format!(
                "DELETE FROM {} WHERE {id} IN (SELECT {id} FROM {doomed})",
                self.dest(&root.name),
                id = quote(DLT_ID)
            ),
        );
    }

    /// Insert the kept roots of `source` and the nested rows that belong to them.
    fn insert_chain(&mut self, chain: &[&Table], source: &str, keep: Option<String>) {
        let root = chain[0];
        self.insert(root, source, keep.clone());
        let keep = keep.map(|k| format!(" WHERE {k}")).unwrap_or_default();
        for t in &chain[1..] {
            if let Some(s) = self.stage(&t.name) {
                self.insert(
                    t,
                    &s,
                    Some(format!(
                        "{} IN (SELECT {} FROM {source}{keep})",
                        quote(DLT_ROOT_ID),
                        quote(DLT_ID)
                    )),
                );
            }
        }
    }

    fn merge(&mut self, chain: &[&Table]) -> Result<()> {
        let root = chain[0];
        let Some(staged) = self.stage(&root.name) else {
            // nothing staged for the root: a merge without rows changes nothing
            return Ok(());
        };
        let strategy = root.strategy();
        let pk = root.hinted(|c| c.primary_key);
        let mk = root.hinted(|c| c.merge_key);
        for hint in ["primary_key", "merge_key"] {
            let wanted = root.columns.values().filter(|c| match hint {
                "primary_key" => c.primary_key,
                _ => c.merge_key,
            });
            for c in wanted {
                if !c.is_complete() {
                    return Err(LoadError::Plan(format!(
                        "table `{}`: {hint} column `{}` never received a value, so it is not in the table",
                        root.name, c.name
                    )));
                }
            }
        }
        let keep = not_deleted(root);
        let row = quote(ROW_COLUMN);
        let sort = root
            .hinted(|c| c.dedup_sort.is_some())
            .first()
            .map(|c| {
                let dir = if c.dedup_sort.as_deref() == Some("asc") {
                    "ASC"
                } else {
                    "DESC"
                };
                format!("{} {dir} NULLS LAST, ", quote(&c.name))
            })
            .unwrap_or_default();
        match strategy {
            MergeStrategy::DeleteInsert | MergeStrategy::Upsert => {
                if strategy == MergeStrategy::Upsert && pk.is_empty() {
                    return Err(LoadError::Plan(format!(
                        "table `{}`: merge strategy `upsert` needs a primary key",
                        root.name
                    )));
                }
                if pk.is_empty() && mk.is_empty() {
                    // dlt: merge without keys appends
                    self.append(chain);
                    return Ok(());
                }
                let source = if !pk.is_empty() && !root.deduplicated {
                    // the last record of a key wins (after `dedup_sort`)
                    self.dedup(root, &staged, &pk, &format!("{sort}{row} DESC"))
                } else {
                    staged.clone()
                };
                let mk: &[&Column] = if strategy == MergeStrategy::Upsert {
                    &[]
                } else {
                    &mk
                };
                self.delete_matching(chain, &staged, &pk, mk);
                self.insert_chain(chain, &source, keep);
            }
            MergeStrategy::InsertOnly => {
                if pk.is_empty() {
                    return Err(LoadError::Plan(format!(
                        "table `{}`: merge strategy `insert-only` needs a primary key",
                        root.name
                    )));
                }
                // the first record of a key wins; keys already present are left alone
                let dedup = self.dedup(root, &staged, &pk, &format!("{sort}{row} ASC"));
                let fresh = self.helper(&root.name, "fresh");
                let mut conds = vec![format!(
                    "NOT EXISTS (SELECT 1 FROM {} AS d WHERE {})",
                    self.dest(&root.name),
                    key_match(&pk)
                )];
                conds.extend(keep);
                let cols = column_list(root.complete_columns());
                self.push(
                    format!("finding new keys of `{}`", root.name),
                    format!(
                        "CREATE TABLE {fresh} AS SELECT {cols} FROM {dedup} AS s WHERE {}",
                        conds.join(" AND ")
                    ),
                );
                self.insert_chain(chain, &fresh, None);
            }
            MergeStrategy::Scd2 => self.scd2(chain, &staged, &mk, keep)?,
        }
        Ok(())
    }

    fn scd2(
        &mut self,
        chain: &[&Table],
        staged: &str,
        mk: &[&Column],
        keep: Option<String>,
    ) -> Result<()> {
        let root = chain[0];
        let (Some(from), Some(to)) = (
            root.columns.values().find(|c| c.valid_from),
            root.columns.values().find(|c| c.valid_to),
        ) else {
            return Err(LoadError::Plan(format!(
                "table `{}`: scd2 needs validity columns",
                root.name
            )));
        };
        let boundary = timestamp(
            &root
                .boundary_timestamp
                .clone()
                .unwrap_or_else(|| load_time(self.t.load_id)),
        );
        let active_value = to
            .active_record_timestamp
            .as_deref()
            .map(timestamp)
            .unwrap_or_else(|| "NULL".into());
        let active = |alias: &str| match &to.active_record_timestamp {
            None => format!("{alias}{} IS NULL", quote(&to.name)),
            Some(_) => format!("{alias}{} = {active_value}", quote(&to.name)),
        };
        let id = quote(DLT_ID);
        let row = quote(ROW_COLUMN);
        let data: Vec<&Column> = root
            .complete_columns()
            .filter(|c| !c.valid_from && !c.valid_to)
            .collect();
        let cols = column_list(data.iter().copied());
        // one row per row hash, deleted rows left out: the versions present in this load
        let present = self.helper(&root.name, "present");
        let keep = keep.map(|k| format!(" AND {k}")).unwrap_or_default();
        self.push(
            format!("collecting row versions of `{}`", root.name),
            format!(
                "CREATE TABLE {present} AS SELECT {cols} FROM (SELECT {cols}, \
                 ROW_NUMBER() OVER (PARTITION BY {id} ORDER BY {row}) AS _sluice_rn \
                 FROM {staged}) AS x WHERE _sluice_rn = 1{keep}"
            ),
        );
        // retire active versions that are absent (within the staged merge keys, if any)
        let scope = if mk.is_empty() {
            String::new()
        } else {
            format!(
                " AND {id} IN (SELECT d.{id} FROM {} AS d WHERE EXISTS \
                 (SELECT 1 FROM {staged} AS s WHERE {}))",
                self.dest(&root.name),
                key_match(mk)
            )
        };
        self.push(
            format!("retiring row versions of `{}`", root.name),
            format!(
                "UPDATE {dest} SET {to} = {boundary} WHERE {active} AND {id} NOT IN \
                 (SELECT {id} FROM {present}){scope}",
                dest = self.dest(&root.name),
                to = quote(&to.name),
                active = active(""),
            ),
        );
        // insert versions that are not active (new, changed, or reappearing after retirement)
        self.push(
            format!("inserting row versions into `{}`", root.name),
            format!(
                "INSERT INTO {dest} ({cols}, {from}, {to}) SELECT {cols}, {boundary}, {active_value} \
                 FROM {present} AS s WHERE NOT EXISTS (SELECT 1 FROM {dest} AS d WHERE d.{id} = s.{id} AND {active})",
                dest = self.dest(&root.name),
                from = quote(&from.name),
                to = quote(&to.name),
                active = active("d."),
            ),
        );
        // nested rows are keyed by the row hash of their root: insert the ones not present
        for t in &chain[1..] {
            if let Some(s) = self.stage(&t.name) {
                let cols = column_list(t.complete_columns());
                self.push(
                    format!("inserting into table `{}`", t.name),
                    format!(
                        "INSERT INTO {dest} ({cols}) SELECT {cols} FROM (SELECT {cols}, \
                         ROW_NUMBER() OVER (PARTITION BY {id} ORDER BY {row}) AS _sluice_rn FROM {s}) AS s \
                         WHERE _sluice_rn = 1 AND NOT EXISTS (SELECT 1 FROM {dest} AS d WHERE d.{id} = s.{id})",
                        dest = self.dest(&t.name),
                    ),
                );
            }
        }
        Ok(())
    }
}

fn column_list<'c>(cols: impl Iterator<Item = &'c Column>) -> String {
    cols.map(|c| quote(&c.name)).collect::<Vec<_>>().join(", ")
}

/// `d.k1 = s.k1 AND d.k2 = s.k2`: compound keys compare column by column, never concatenated.
fn key_match(keys: &[&Column]) -> String {
    keys.iter()
        .map(|c| format!("d.{q} = s.{q}", q = quote(&c.name)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The filter that drops rows flagged by the `hard_delete` column: a boolean deletes when
/// true, any other type when not NULL (dlt's rule).
fn not_deleted(root: &Table) -> Option<String> {
    let c = root.hinted(|c| c.hard_delete).into_iter().next()?;
    Some(if c.data_type == Some(DataType::Bool) {
        format!("{} IS DISTINCT FROM TRUE", quote(&c.name))
    } else {
        format!("{} IS NULL", quote(&c.name))
    })
}

/// dlt's system tables (`_dlt_loads` with Sluice's extra `component` column, `_dlt_version`,
/// `_dlt_pipeline_state`) in `dataset`, created when missing. The same DDL on both engines.
pub fn system_tables_ddl(dataset: &str) -> String {
    use sluice_schema::{LOADS_TABLE, STATE_TABLE, VERSION_TABLE};
    let ds = quote(dataset);
    format!(
        "CREATE SCHEMA IF NOT EXISTS {ds};
         CREATE TABLE IF NOT EXISTS {ds}.{loads} (load_id VARCHAR NOT NULL, schema_name VARCHAR, status BIGINT NOT NULL, inserted_at TIMESTAMP WITH TIME ZONE NOT NULL, schema_version_hash VARCHAR, component VARCHAR);
         CREATE TABLE IF NOT EXISTS {ds}.{version} (version BIGINT NOT NULL, engine_version BIGINT NOT NULL, inserted_at TIMESTAMP WITH TIME ZONE NOT NULL, schema_name VARCHAR NOT NULL, version_hash VARCHAR NOT NULL, schema VARCHAR NOT NULL);
         CREATE TABLE IF NOT EXISTS {ds}.{state} (version BIGINT NOT NULL, engine_version BIGINT NOT NULL, pipeline_name VARCHAR NOT NULL, state VARCHAR NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL, version_hash VARCHAR, _dlt_load_id VARCHAR NOT NULL, _dlt_id VARCHAR NOT NULL);",
        loads = quote(LOADS_TABLE),
        version = quote(VERSION_TABLE),
        state = quote(STATE_TABLE),
    )
}

/// The schema's columns of a batch bound for `table`, in batch order.
pub fn batch_columns<'t>(
    table: &'t Table,
    batch: &arrow_array::RecordBatch,
) -> Result<Vec<&'t Column>> {
    batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| {
            table.columns.get(f.name()).ok_or_else(|| {
                LoadError::Plan(format!(
                    "batch column `{}` is not in table `{}`",
                    f.name(),
                    table.name
                ))
            })
        })
        .collect()
}

/// The staging table of one table in the open package.
#[derive(Clone, Debug)]
pub struct Staged {
    pub name: String,
    /// its columns, in order
    pub columns: Vec<String>,
    /// rows staged so far (the next row's position)
    pub rows: usize,
}

impl Staged {
    /// A new staging table for `table` in package `load_id`, holding `fields`, with the DDL
    /// that creates it in schema `staging`.
    pub fn create(
        staging: &str,
        table: &str,
        load_id: &str,
        fields: &[&Column],
        ty: fn(&Column) -> String,
    ) -> (Staged, String) {
        let name = crate::staging_name(table, load_id, "");
        let ddl = staging_ddl(staging, &name, fields, ty);
        let columns = fields.iter().map(|c| c.name.clone()).collect();
        (
            Staged {
                name,
                columns,
                rows: 0,
            },
            ddl,
        )
    }
}

/// Table → staging table name, as [`Target::staged`] takes it.
pub fn staged_names(staged: &HashMap<String, Staged>) -> HashMap<String, String> {
    staged
        .iter()
        .map(|(t, s)| (t.clone(), s.name.clone()))
        .collect()
}

/// The schema tables that have staged rows, each with its complete columns — what staging
/// tables are widened to before a package's SQL runs. Rows staged for a table the schema
/// does not have are a plan error.
pub fn staged_tables<'s>(
    schema: &'s Schema,
    staged: &HashMap<String, Staged>,
) -> Result<Vec<(&'s Table, Vec<&'s Column>)>> {
    staged
        .keys()
        .map(|t| {
            let table = schema.tables.get(t).ok_or_else(|| {
                LoadError::Plan(format!(
                    "rows staged for table `{t}` that the schema does not have"
                ))
            })?;
            Ok((table, table.complete_columns().collect()))
        })
        .collect()
}

/// `CREATE TABLE staging.name (cols…, _sluice_row BIGINT)`.
pub fn staging_ddl(
    staging: &str,
    name: &str,
    cols: &[&Column],
    ty: fn(&Column) -> String,
) -> String {
    let mut defs: Vec<String> = cols
        .iter()
        .map(|c| format!("{} {}", quote(&c.name), ty(c)))
        .collect();
    defs.push(format!("{} BIGINT", quote(ROW_COLUMN)));
    format!(
        "CREATE TABLE {}.{} ({})",
        quote(staging),
        quote(name),
        defs.join(", ")
    )
}

/// `ALTER TABLE … ADD COLUMN` for every column of `wanted` the staging table lacks (recorded
/// in `have`); `None` when it has them all.
pub fn widen_ddl(
    staging: &str,
    name: &str,
    have: &mut Vec<String>,
    wanted: &[&Column],
    ty: fn(&Column) -> String,
) -> Option<String> {
    let mut add = Vec::new();
    for c in wanted {
        if !have.contains(&c.name) {
            add.push(format!(
                "ALTER TABLE {}.{} ADD COLUMN {} {};",
                quote(staging),
                quote(name),
                quote(&c.name),
                ty(c)
            ));
            have.push(c.name.clone());
        }
    }
    (!add.is_empty()).then(|| add.concat())
}

/// `CREATE TABLE` / `ADD COLUMN` statements that give `dataset` every complete column of
/// `schema` — migrations only ever add. `existing` lists a table's columns (none: no table);
/// `ty` is the destination's type for a column.
pub fn migration(
    schema: &Schema,
    dataset: &str,
    mut existing: impl FnMut(&str) -> Result<Vec<String>>,
    ty: fn(&Column) -> String,
) -> Result<Vec<Stmt>> {
    let mut out = Vec::new();
    for table in schema.data_tables() {
        if table.complete_columns().next().is_none() {
            continue;
        }
        let have = existing(&table.name)?;
        out.extend(table_migration(table, &have, dataset, ty));
    }
    Ok(out)
}

/// `CREATE TABLE` (when `have` is empty: no table yet) or `ADD COLUMN` statements that give
/// `dataset.table` every complete column of `table` it lacks.
pub fn table_migration(
    table: &Table,
    have: &[String],
    dataset: &str,
    ty: fn(&Column) -> String,
) -> Vec<Stmt> {
    let ds = quote(dataset);
    let cols: Vec<&Column> = table.complete_columns().collect();
    if cols.is_empty() {
        return Vec::new();
    }
    if have.is_empty() {
        let defs: Vec<String> = cols
            .iter()
            .map(|c| {
                let null = if c.nullable { "" } else { " NOT NULL" };
                format!("{} {}{null}", quote(&c.name), ty(c))
            })
            .collect();
        return vec![Stmt {
            context: format!("creating table `{}`", table.name),
            sql: format!(
                "CREATE TABLE {ds}.{} ({})",
                quote(&table.name),
                defs.join(", ")
            ),
        }];
    }
    cols.iter()
        .filter(|c| !have.contains(&c.name))
        .map(|c| Stmt {
            context: format!("adding column `{}` to `{}`", c.name, table.name),
            sql: format!(
                "ALTER TABLE {ds}.{} ADD COLUMN {} {}",
                quote(&table.name),
                quote(&c.name),
                ty(c)
            ),
        })
        .collect()
}

/// The dataset tables a package writes in place, each with the columns it has — so a batch
/// costs a catalog query only the first time its table is seen, and DDL only when the batch
/// brings a column the table lacks. Append chains always qualify; `replace` chains qualify
/// when the destination was told the package replaces them ([`InPlace::replace`]): the chain
/// is emptied inside the transaction before its first rows land, and the commit then only
/// appends to it.
#[derive(Debug, Default)]
pub struct InPlace {
    tables: HashMap<String, Vec<String>>,
    /// roots whose chains this package replaces from scratch
    replacing: Vec<String>,
    /// those of them already emptied
    emptied: Vec<String>,
}

impl InPlace {
    /// The package replaces the chains of `roots` from scratch: write them in place too.
    pub fn replace(&mut self, roots: &[String]) {
        self.replacing = roots.to_vec();
    }

    /// Whether rows of `table` go in place: its root appends, or is replaced from scratch.
    pub fn takes(&self, schema: &Schema, table: &str) -> bool {
        let root = schema.root_of(table);
        match schema
            .tables
            .get(root)
            .map(|t| t.write_disposition.unwrap_or_default())
        {
            Some(WriteDisposition::Append) => true,
            Some(WriteDisposition::Replace) => self.replacing.iter().any(|r| r == root),
            _ => false,
        }
    }

    /// The statements (run inside the package transaction) that make `dataset.table` take a
    /// batch with `fields`: for the first batch of a replaced chain, empty every table of the
    /// chain the dataset has; then create the table, or add the complete columns it lacks.
    /// `existing` reads a table's columns from the destination (none: no table), once per
    /// table. Also returns the table's column count afterwards.
    pub fn prepare(
        &mut self,
        schema: &Schema,
        table: &Table,
        fields: &[&Column],
        dataset: &str,
        mut existing: impl FnMut(&str) -> Result<Vec<String>>,
        ty: fn(&Column) -> String,
    ) -> Result<(Vec<Stmt>, usize)> {
        let mut stmts = Vec::new();
        let root = schema.root_of(&table.name).to_owned();
        if self.replacing.contains(&root) && !self.emptied.contains(&root) {
            for t in schema.table_chain(&root) {
                let have = match self.tables.get(&t.name) {
                    Some(have) => have.clone(),
                    None => existing(&t.name)?,
                };
                if !have.is_empty() {
                    stmts.push(empty_table(
                        dataset,
                        &t.name,
                        false,
                        ReplaceStrategy::default(),
                    ));
                    self.tables.insert(t.name.clone(), have);
                }
            }
            self.emptied.push(root);
        }
        let have = match self.tables.get(&table.name) {
            Some(have) if fields.iter().all(|c| have.contains(&c.name)) => {
                return Ok((stmts, have.len()));
            }
            Some(have) => have.clone(),
            None => existing(&table.name)?,
        };
        stmts.extend(table_migration(table, &have, dataset, ty));
        let mut columns = have;
        for c in table.complete_columns() {
            if !columns.contains(&c.name) {
                columns.push(c.name.clone());
            }
        }
        let width = columns.len();
        self.tables.insert(table.name.clone(), columns);
        Ok((stmts, width))
    }

    /// The replaced roots whose chains were emptied in place (the commit only appends to
    /// them).
    pub fn emptied(&self) -> &[String] {
        &self.emptied
    }

    /// A plan error when a table that took rows in place no longer qualifies in the schema
    /// being committed (its rows would skip the disposition's SQL).
    pub fn check(&self, schema: &Schema) -> Result<()> {
        match self.tables.keys().find(|t| !self.takes(schema, t)) {
            Some(t) => Err(LoadError::Plan(format!(
                "table `{t}` took rows in place but its disposition no longer allows it"
            ))),
            None => Ok(()),
        }
    }

    /// Forget the package.
    pub fn clear(&mut self) {
        self.tables.clear();
        self.replacing.clear();
        self.emptied.clear();
    }
}

/// The statement that empties `dataset.table` for `replace`: `TRUNCATE` where the destination
/// has a transactional one and the strategy allows it, else `DELETE`.
pub fn empty_table(dataset: &str, table: &str, truncate: bool, strategy: ReplaceStrategy) -> Stmt {
    let dest = format!("{}.{}", quote(dataset), quote(table));
    let sql = if truncate && strategy == ReplaceStrategy::TruncateAndInsert {
        format!("TRUNCATE TABLE {dest}")
    } else {
        format!("DELETE FROM {dest}")
    };
    Stmt {
        context: format!("replacing table `{table}`"),
        sql,
    }
}

/// The statements that apply the staged rows of `root`'s chain, followed by the cleanup of
/// their helper tables. Only tables with complete columns (so existing in the destination)
/// take part.
pub fn chain_statements(
    target: &Target,
    schema: &Schema,
    root: &str,
    append_only: bool,
) -> Result<Vec<Stmt>> {
    let chain: Vec<&Table> = schema
        .table_chain(root)
        .into_iter()
        .filter(|t| t.complete_columns().next().is_some())
        .collect();
    if chain.is_empty() || chain[0].name != root {
        return Ok(Vec::new());
    }
    let mut g = Gen {
        t: target,
        out: Vec::new(),
        helpers: Vec::new(),
    };
    let disposition = match chain[0].write_disposition.unwrap_or_default() {
        WriteDisposition::Replace if append_only => WriteDisposition::Append,
        d => d,
    };
    match disposition {
        WriteDisposition::Append => g.append(&chain),
        WriteDisposition::Replace => g.replace(&chain),
        WriteDisposition::Merge => g.merge(&chain)?,
        WriteDisposition::Skip => {}
    }
    for h in std::mem::take(&mut g.helpers) {
        g.push(
            "dropping a helper table",
            format!("DROP TABLE IF EXISTS {h}"),
        );
    }
    Ok(g.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_time_is_the_load_id_in_utc() {
        assert_eq!(
            load_time("1700000000.5"),
            "2023-11-14T22:13:20.500000Z".to_owned()
        );
        assert_eq!(
            load_time("1700000000.000123"),
            "2023-11-14T22:13:20.000123Z"
        );
    }

    fn events(disposition: WriteDisposition) -> (Schema, Table) {
        let mut schema = Schema::new("s");
        let mut t = Table {
            name: "events".into(),
            write_disposition: Some(disposition),
            ..Default::default()
        };
        t.columns
            .insert("id".into(), Column::data("id", DataType::Bigint));
        schema.tables.insert("events".into(), t.clone());
        (schema, t)
    }

    #[test]
    fn in_place_tables_are_created_once_and_widened_by_new_columns() {
        let (mut schema, mut t) = events(WriteDisposition::Append);
        let ty = |_: &Column| "X".to_owned();
        let mut ip = InPlace::default();
        assert!(ip.takes(&schema, "events"));
        let id = t.columns["id"].clone();
        let (stmts, width) = ip
            .prepare(&schema, &t, &[&id], "ds", |_| Ok(Vec::new()), ty)
            .expect("prepare");
        assert_eq!(width, 1);
        assert!(stmts[0].sql.starts_with("CREATE TABLE \"ds\".\"events\""));
        let (stmts, _) = ip
            .prepare(&schema, &t, &[&id], "ds", |_| panic!("asked twice"), ty)
            .expect("prepare");
        assert!(stmts.is_empty());
        t.columns
            .insert("name".into(), Column::data("name", DataType::Text));
        let name = t.columns["name"].clone();
        let (stmts, width) = ip
            .prepare(&schema, &t, &[&id, &name], "ds", |_| panic!("known"), ty)
            .expect("prepare");
        assert_eq!(width, 2);
        assert_eq!(
            stmts.iter().map(|s| s.sql.as_str()).collect::<Vec<_>>(),
            [r#"ALTER TABLE "ds"."events" ADD COLUMN "name" X"#]
        );
        ip.check(&schema).expect("still append");
        if let Some(t) = schema.tables.get_mut("events") {
            t.write_disposition = Some(WriteDisposition::Merge);
        }
        assert!(!ip.takes(&schema, "events"));
        assert!(ip.check(&schema).is_err());
    }

    #[test]
    fn replaced_chains_are_emptied_once_before_their_first_rows() {
        let (mut schema, t) = events(WriteDisposition::Replace);
        let mut child = Table {
            name: "events__tags".into(),
            parent: Some("events".into()),
            ..Default::default()
        };
        child
            .columns
            .insert("value".into(), Column::data("value", DataType::Text));
        schema.tables.insert(child.name.clone(), child.clone());
        let ty = |_: &Column| "X".to_owned();
        let mut ip = InPlace::default();
        assert!(
            !ip.takes(&schema, "events__tags"),
            "replace stages unless told"
        );
        ip.replace(&["events".to_owned()]);
        assert!(ip.takes(&schema, "events__tags"));
        // the root exists in the dataset, the nested table not yet
        let existing = |t: &str| {
            Ok(if t == "events" {
                vec!["id".into()]
            } else {
                Vec::new()
            })
        };
        let value = child.columns["value"].clone();
        let (stmts, _) = ip
            .prepare(&schema, &child, &[&value], "ds", existing, ty)
            .expect("prepare");
        assert_eq!(
            stmts.iter().map(|s| s.sql.as_str()).collect::<Vec<_>>(),
            [
                r#"DELETE FROM "ds"."events""#,
                r#"CREATE TABLE "ds"."events__tags" ("value" X)"#
            ]
        );
        let id = t.columns["id"].clone();
        let (stmts, _) = ip
            .prepare(&schema, &t, &[&id], "ds", |_| panic!("known"), ty)
            .expect("prepare");
        assert!(stmts.is_empty(), "emptied once: {stmts:?}");
        assert_eq!(ip.emptied(), ["events".to_owned()]);
        ip.check(&schema).expect("still replaced");
    }

    #[test]
    fn compound_keys_compare_per_column() {
        let a = Column::data("doc", DataType::Text);
        let b = Column::data("rev", DataType::Text);
        assert_eq!(
            key_match(&[&a, &b]),
            r#"d."doc" = s."doc" AND d."rev" = s."rev""#
        );
    }
}
