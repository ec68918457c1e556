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

mod ddl;
mod dispositions;
mod in_place;
mod staging;

pub use ddl::{migration, staging_ddl, system_tables_ddl, table_migration, widen_ddl};
pub use dispositions::{Target, chain_statements, empty_table};
pub use in_place::InPlace;
pub use staging::{Staged, batch_columns, staged_names, staged_tables};

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

pub(crate) fn timestamp(iso: &str) -> String {
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

#[cfg(test)]
mod tests {
    use sluice_schema::{Column, DataType, Schema, Table, WriteDisposition};

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
}
