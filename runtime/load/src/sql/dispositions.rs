//! The SQL of each write disposition and merge strategy for one root table chain: append,
//! replace, merge (delete-insert, upsert, insert-only) and SCD2, then the removal of helper
//! and staging tables (dlt's `SqlMergeFollowupJob`, reference §5).

use std::collections::HashMap;

use sluice_schema::{
    Column, DLT_ID, DLT_ROOT_ID, DataType, MergeStrategy, Schema, Table, WriteDisposition,
};

use super::{ROW_COLUMN, ReplaceStrategy, Stmt, load_time, quote, timestamp};
use crate::{LoadError, Result};

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
        // a root without row keys (an Arrow table) has no nested rows: delete by key directly
        if chain.len() == 1 && !root.columns.get(DLT_ID).is_some_and(Column::is_complete) {
            self.push(
                format!("deleting replaced rows of `{}`", root.name),
                format!(
                    "DELETE FROM {} AS d WHERE {}",
                    self.dest(&root.name),
                    conds.join(" OR ")
                ),
            );
            return;
        }
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
    fn compound_keys_compare_per_column() {
        let a = Column::data("doc", DataType::Text);
        let b = Column::data("rev", DataType::Text);
        assert_eq!(
            key_match(&[&a, &b]),
            r#"d."doc" = s."doc" AND d."rev" = s."rev""#
        );
    }
}
