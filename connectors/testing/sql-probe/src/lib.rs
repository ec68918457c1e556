//! Test connector that asks the host's `sql` interface for exactly what its config says —
//! any grant name, schema, table, column, order or filter — so the tests can check what the
//! host refuses. Resource `seen` pages the tables reflection shows it (as JSON records);
//! resource `read` pages the rows of the configured read.

use sluice_sdk::serde_json::{Value, json};
use sluice_sdk::sql::{self, Comparison, Predicate, ReadRequest, Rows};
use sluice_sdk::{Error, Open, Page, Pages, Resource, ResourceSpec, Source, SourceSpec};

struct SqlProbe;

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

fn request(c: &Value) -> ReadRequest {
    let mut r = ReadRequest::table(&text(c, "database"), &text(c, "table"));
    r.schema = c["schema"].as_str().map(str::to_owned);
    r.columns = strings(&c["columns"]);
    r.order_by = strings(&c["order_by"]);
    r.filter = c["filter"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| Predicate {
                    column: text(f, "column"),
                    op: match f["op"].as_str() {
                        Some("ge") => Comparison::Ge,
                        Some("lt") => Comparison::Lt,
                        Some("le") => Comparison::Le,
                        _ => Comparison::Gt,
                    },
                    value: f["value"].to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    r
}

impl Source for SqlProbe {
    fn spec(_config: &Value) -> Result<SourceSpec, Error> {
        Ok(SourceSpec::new("sql_probe", "0.1.0")
            .resource(ResourceSpec::new("seen"))
            .resource(ResourceSpec::new("read")))
    }

    fn open(open: Open) -> Result<Box<dyn Resource>, Error> {
        let c = &open.config;
        if open.resource == "seen" {
            let mut rows = Vec::new();
            for db in sql::databases() {
                for t in sql::tables(&db).map_err(sql::error)? {
                    rows.push(json!({"database": db, "schema": t.schema, "name": t.name}));
                }
            }
            return Ok(Box::new(Pages::from(vec![Page::json(&Value::Array(rows))])));
        }
        let rows = sql::read(&request(c)).map_err(sql::error)?;
        Ok(Box::new(Read(rows)))
    }
}

struct Read(Rows);

impl Resource for Read {
    fn next_page(&mut self) -> Result<Option<Page>, Error> {
        Ok(self.0.next().map_err(sql::error)?.map(Page::arrow_ipc))
    }
}

sluice_sdk::export!(SqlProbe);
