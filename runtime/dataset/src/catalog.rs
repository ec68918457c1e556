//! What a dataset holds, read from dlt's system tables: the newest schema (tables, columns
//! with dlt types), row counts, loads, schema versions with what each added, and the
//! pipeline's newest committed state.

use serde::Serialize;
use serde_json::{Map, Value};
use sluice_schema::Schema;

use crate::duck::quote;
use crate::{Dataset, DatasetError, Result, batches_to_json};

/// A table of the dataset.
#[derive(Clone, Debug, Serialize)]
pub struct TableSummary {
    pub name: String,
    /// the table a nested table belongs to
    pub parent: Option<String>,
    pub resource: Option<String>,
    pub write_disposition: Option<String>,
    pub rows: i64,
    /// PostgreSQL tables over [`EXACT_COUNT_UP_TO`] rows: the planner's estimate, not a count
    pub rows_estimated: bool,
    pub columns: Vec<ColumnSummary>,
}

/// Up to this many (estimated) rows a PostgreSQL table is counted; beyond, its estimate is
/// shown, so listing tables never scans a large one.
pub const EXACT_COUNT_UP_TO: i64 = 1_000_000;

/// A column with its dlt type and hints.
#[derive(Clone, Debug, Serialize)]
pub struct ColumnSummary {
    pub name: String,
    /// dlt's data type (`text`, `bigint`, `timestamp`, …)
    pub data_type: Option<String>,
    pub nullable: bool,
    pub primary_key: bool,
    pub merge_key: bool,
}

/// One row of `_dlt_loads`.
#[derive(Clone, Debug, Serialize)]
pub struct LoadRecord {
    pub load_id: String,
    pub schema_name: Option<String>,
    pub status: i64,
    pub inserted_at: Option<String>,
    pub schema_version_hash: Option<String>,
    /// `name@version sha256:…` of the connector that produced it
    pub component: Option<String>,
}

/// One stored schema version and what it added to the one before it.
#[derive(Clone, Debug, Serialize)]
pub struct SchemaVersion {
    pub schema_name: String,
    pub version: i64,
    pub version_hash: String,
    pub inserted_at: Option<String>,
    /// the loads that carried this version (the first one introduced it)
    pub loads: Vec<String>,
    pub changes: Vec<SchemaChange>,
}

/// A table added, or columns added to a table, by a schema version.
#[derive(Clone, Debug, Serialize)]
pub struct SchemaChange {
    pub table: String,
    pub new_table: bool,
    pub columns: Vec<String>,
    /// tables gone since the previous version (`pipeline … drop`)
    pub dropped: bool,
}

impl Dataset {
    /// Rows of a query on dlt's system tables, as JSON objects.
    fn system_rows(&self, sql: String) -> Result<Vec<Map<String, Value>>> {
        let (_, batches, _) = self.run(sql)?.collect_rows(usize::MAX)?;
        batches_to_json(&batches)
    }

    /// The newest stored schema (the pipeline's own, else the newest of any name).
    pub fn schema(&self) -> Result<Option<Schema>> {
        let sql = format!(
            "SELECT schema FROM _dlt_version ORDER BY (schema_name = {}) DESC, version DESC, \
             inserted_at DESC LIMIT 1",
            literal(self.pipeline())
        );
        let rows = self.system_rows(sql).map_err(|e| self.no_loads(e))?;
        let Some(text) = rows
            .first()
            .and_then(|r| r.get("schema"))
            .and_then(Value::as_str)
        else {
            return Ok(None);
        };
        Schema::from_json(text)
            .map(Some)
            .map_err(|e| DatasetError::Query(format!("the stored schema does not parse: {e}")))
    }

    /// A missing system table means nothing was loaded yet.
    fn no_loads(&self, e: DatasetError) -> DatasetError {
        match e {
            DatasetError::Query(t) if t.contains("_dlt_") => DatasetError::NotFound(format!(
                "dataset `{}` has no loads yet ({})",
                self.dataset_name(),
                self.describe()
            )),
            e => e,
        }
    }

    fn dataset_name(&self) -> &str {
        self.name()
    }

    /// The names of every table a query may name: the schema's tables and dlt's.
    pub(crate) fn table_names(&self) -> Result<Vec<String>> {
        let schema = self.schema()?;
        Ok(schema
            .map(|s| s.tables.keys().cloned().collect())
            .unwrap_or_default())
    }

    /// The schema's data tables (nested ones after their parent) with columns and row counts.
    pub fn tables(&self) -> Result<Vec<TableSummary>> {
        let Some(schema) = self.schema()? else {
            return Ok(Vec::new());
        };
        let tables: Vec<&sluice_schema::Table> = schema
            .tables
            .values()
            .filter(|t| !t.name.starts_with("_dlt_") && !t.columns.is_empty())
            .collect();
        let counts = self.counts(tables.iter().map(|t| t.name.as_str()))?;
        Ok(tables
            .into_iter()
            .map(|t| TableSummary {
                name: t.name.clone(),
                parent: t.parent.clone(),
                resource: t.resource.clone(),
                write_disposition: t.write_disposition.map(|w| w.as_str().to_owned()),
                rows: counts.get(&t.name).map_or(0, |c| c.0),
                rows_estimated: counts.get(&t.name).is_some_and(|c| c.1),
                columns: t
                    .columns
                    .values()
                    .map(|c| ColumnSummary {
                        name: c.name.clone(),
                        data_type: c.data_type.map(|d| d.name().to_owned()),
                        nullable: c.nullable,
                        primary_key: c.primary_key,
                        merge_key: c.merge_key,
                    })
                    .collect(),
            })
            .collect())
    }

    /// Every table the dataset holds now (dlt's system tables too), sorted, with its rows and
    /// whether that is PostgreSQL's estimate (`sluice tables`).
    pub fn table_counts(&self) -> Result<Vec<(String, i64, bool)>> {
        let mut names = self.existing_tables()?;
        names.sort();
        let counts = self.counts(names.iter().map(String::as_str))?;
        Ok(names
            .into_iter()
            .map(|n| {
                let (rows, estimated) = counts.get(&n).copied().unwrap_or((0, false));
                (n, rows, estimated)
            })
            .collect())
    }

    /// Row counts of `tables` (a table not created yet counts 0), each with whether it is
    /// an estimate: exact counts in one statement, large PostgreSQL tables estimated.
    fn counts<'a>(
        &self,
        tables: impl Iterator<Item = &'a str>,
    ) -> Result<std::collections::HashMap<String, (i64, bool)>> {
        let existing = self.existing_tables()?;
        let estimated = self.estimates()?;
        let mut out: std::collections::HashMap<String, (i64, bool)> = estimated
            .into_iter()
            .filter(|(_, n)| *n > EXACT_COUNT_UP_TO)
            .map(|(t, n)| (t, (n, true)))
            .collect();
        let parts: Vec<String> = tables
            .filter(|t| existing.iter().any(|e| e == t) && !out.contains_key(*t))
            .map(|t| {
                format!(
                    "SELECT {} AS t, count(*) AS n FROM {}",
                    literal(t),
                    quote(t)
                )
            })
            .collect();
        if parts.is_empty() {
            return Ok(out);
        }
        for r in self.system_rows(parts.join(" UNION ALL "))? {
            if let (Some(t), Some(n)) = (r.get("t").and_then(Value::as_str), number(r.get("n"))) {
                out.insert(t.to_owned(), (n, false));
            }
        }
        Ok(out)
    }

    /// PostgreSQL's own row estimates of the dataset's tables (none elsewhere).
    fn estimates(&self) -> Result<Vec<(String, i64)>> {
        if !self.is_postgres() {
            return Ok(Vec::new());
        }
        let rows = self.system_rows(
            "SELECT c.relname AS t, c.reltuples::bigint AS n FROM pg_class c JOIN pg_namespace s \
             ON s.oid = c.relnamespace WHERE s.nspname = current_schema() AND c.relkind = 'r'"
                .into(),
        )?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((r.get("t")?.as_str()?.to_owned(), number(r.get("n"))?)))
            .collect())
    }

    /// The tables that exist in the dataset now.
    fn existing_tables(&self) -> Result<Vec<String>> {
        if let Some(tables) = self.file_tables()? {
            return Ok(tables);
        }
        let sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()";
        let rows = self.system_rows(sql.into())?;
        Ok(rows
            .iter()
            .filter_map(|r| r.get("table_name")?.as_str().map(str::to_owned))
            .collect())
    }

    /// Rows each root table holds from load `load_id` (by `_dlt_load_id`), as a JSON
    /// object table → rows (tables without rows from it left out).
    pub fn rows_of_load(&self, load_id: &str) -> Result<Value> {
        let Some(schema) = self.schema()? else {
            return Ok(Value::Object(Map::new()));
        };
        let existing = self.existing_tables()?;
        let parts: Vec<String> = schema
            .tables
            .values()
            .filter(|t| !t.name.starts_with("_dlt_") && t.columns.contains_key("_dlt_load_id"))
            .filter(|t| existing.contains(&t.name))
            .map(|t| {
                format!(
                    "SELECT {} AS t, count(*) AS n FROM {} WHERE _dlt_load_id = {}",
                    literal(&t.name),
                    quote(&t.name),
                    literal(load_id)
                )
            })
            .collect();
        if parts.is_empty() {
            return Ok(Value::Object(Map::new()));
        }
        let rows = self.system_rows(parts.join(" UNION ALL "))?;
        Ok(Value::Object(
            rows.iter()
                .filter_map(|r| {
                    let n = number(r.get("n"))?;
                    let t = r.get("t")?.as_str()?.to_owned();
                    (n > 0).then(|| (t, Value::from(n)))
                })
                .collect(),
        ))
    }

    /// Every committed load, oldest first.
    pub fn loads(&self) -> Result<Vec<LoadRecord>> {
        let rows = self
            .system_rows("SELECT * FROM _dlt_loads ORDER BY load_id".into())
            .map_err(|e| self.no_loads(e))?;
        Ok(rows
            .iter()
            .map(|r| LoadRecord {
                load_id: text(r, "load_id").unwrap_or_default(),
                schema_name: text(r, "schema_name"),
                status: r.get("status").and_then(Value::as_i64).unwrap_or(0),
                inserted_at: text(r, "inserted_at"),
                schema_version_hash: text(r, "schema_version_hash"),
                component: text(r, "component"),
            })
            .collect())
    }

    /// Every stored schema version, oldest first, each with what it added.
    pub fn schema_versions(&self) -> Result<Vec<SchemaVersion>> {
        let rows = self
            .system_rows(
                "SELECT version, version_hash, schema_name, inserted_at, schema FROM \
                 _dlt_version ORDER BY schema_name, version, inserted_at"
                    .into(),
            )
            .map_err(|e| self.no_loads(e))?;
        let loads = self.loads()?;
        let mut out: Vec<SchemaVersion> = Vec::new();
        let mut previous: Option<(String, Schema)> = None;
        for r in &rows {
            let name = text(r, "schema_name").unwrap_or_default();
            let hash = text(r, "version_hash").unwrap_or_default();
            let Some(schema) = text(r, "schema").and_then(|s| Schema::from_json(&s).ok()) else {
                continue;
            };
            let before = previous
                .as_ref()
                .filter(|(n, _)| *n == name)
                .map(|(_, s)| s);
            out.push(SchemaVersion {
                changes: changes(before, &schema),
                schema_name: name.clone(),
                version: r.get("version").and_then(Value::as_i64).unwrap_or(0),
                loads: loads
                    .iter()
                    .filter(|l| l.schema_version_hash.as_deref() == Some(&hash))
                    .map(|l| l.load_id.clone())
                    .collect(),
                version_hash: hash,
                inserted_at: text(r, "inserted_at"),
            });
            previous = Some((name, schema));
        }
        Ok(out)
    }

    /// The pipeline's newest committed state, decoded (`None` before its first load).
    pub fn state(&self) -> Result<Option<Value>> {
        let sql = format!(
            "SELECT state FROM _dlt_pipeline_state WHERE pipeline_name = {} ORDER BY version \
             DESC, created_at DESC LIMIT 1",
            literal(self.pipeline())
        );
        let rows = self.system_rows(sql).map_err(|e| self.no_loads(e))?;
        Ok(rows
            .first()
            .and_then(|r| r.get("state"))
            .and_then(Value::as_str)
            .and_then(sluice_schema::decompress_state))
    }
}

/// What `after` added to `before` (everything, for the first version).
fn changes(before: Option<&Schema>, after: &Schema) -> Vec<SchemaChange> {
    let mut out = Vec::new();
    for t in after
        .tables
        .values()
        .filter(|t| !t.name.starts_with("_dlt_"))
    {
        let old = before.and_then(|b| b.tables.get(&t.name));
        let columns: Vec<String> = t
            .columns
            .keys()
            .filter(|c| old.is_none_or(|o| !o.columns.contains_key(*c)))
            .cloned()
            .collect();
        if old.is_none() || !columns.is_empty() {
            out.push(SchemaChange {
                table: t.name.clone(),
                new_table: old.is_none(),
                columns,
                dropped: false,
            });
        }
    }
    for t in before.iter().flat_map(|b| b.tables.keys()) {
        if !t.starts_with("_dlt_") && !after.tables.contains_key(t) {
            out.push(SchemaChange {
                table: t.clone(),
                new_table: false,
                columns: Vec::new(),
                dropped: true,
            });
        }
    }
    out
}

/// A count as JSON renders it (a number, or text for 64-bit values).
fn number(v: Option<&Value>) -> Option<i64> {
    let v = v?;
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

fn text(row: &Map<String, Value>, key: &str) -> Option<String> {
    match row.get(key)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        v => Some(v.to_string()),
    }
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
