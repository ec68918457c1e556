//! Data contracts, JSON Schema contracts, preferred types, schema export/import in dlt's YAML
//! and schema-change webhooks — through real pipeline runs of the `files` connector into
//! DuckDB, and a real HTTP server on loopback for the webhook.

use serde_json::{Value, json};
use sluice_pipeline::{PipelineError, RunSummary};
use sluice_schema::{ContractMode, SchemaContract};

use crate::support::{Area, Server};

/// Pipelines over files of records, all loading table `t` into one DuckDB file.
struct Files {
    area: Area,
}

impl Files {
    fn new() -> Files {
        Files { area: Area::new() }
    }

    /// Load `records` with pipeline-file lines `top` (before `[connector]`) and `resource`
    /// (in `[resources.t]`); `run` is the run-level contract.
    fn load(
        &self,
        records: Value,
        top: &str,
        resource: &str,
        run: Option<SchemaContract>,
    ) -> Result<RunSummary, PipelineError> {
        let n = std::fs::read_dir(self.area.path())
            .map(|d| d.count())
            .unwrap_or(0);
        let file = self.area.path().join(format!("records_{n}.json"));
        std::fs::write(&file, records.to_string()).expect("write records");
        let toml = format!(
            "name = \"c\"\ndataset = \"ds\"\n{top}\n[connector]\nname = \"files\"\n[config]\npaths = [{p:?}]\ntable = \"t\"\n[grants]\nallow_read_files = [{p:?}]\n[resources.t]\n{resource}\n",
            p = file.display().to_string(),
        );
        self.area.run_with(
            &toml,
            ("files", sluice_bundled::FILES.bytes),
            &format!("duckdb:{}", self.area.db().display()),
            run,
        )
    }

    /// Pipeline `name` reading the file `file` into table `t`, with `config` lines added to
    /// the connector's `[config]`.
    fn file_toml(&self, name: &str, file: &std::path::Path, config: &str) -> String {
        format!(
            "name = \"{name}\"\ndataset = \"ds\"\n[connector]\nname = \"files\"\n[config]\npaths = [{p:?}]\ntable = \"t\"\n{config}\n[grants]\nallow_read_files = [{p:?}]\n",
            p = file.display().to_string(),
        )
    }

    /// Run pipeline `toml` of the `files` connector into this area's database.
    fn run_file(&self, toml: &str) -> Result<RunSummary, PipelineError> {
        self.area.run_to(
            toml,
            ("files", sluice_bundled::FILES.bytes),
            &format!("duckdb:{}", self.area.db().display()),
        )
    }

    fn ok(&self, records: Value, top: &str, resource: &str) -> RunSummary {
        self.load(records, top, resource, None)
            .unwrap_or_else(|e| panic!("load: {e}"))
    }

    fn columns(&self, table: &str) -> Vec<(String, String)> {
        let conn = self.area.conn();
        let mut stmt = conn
            .prepare(&format!(
                "select column_name, data_type || case when is_nullable = 'NO' then ' NOT NULL' else '' end \
                 from information_schema.columns where table_schema = 'ds' and table_name = '{table}' \
                 and column_name not like '_dlt%' order by ordinal_position"
            ))
            .expect("columns query");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .expect("columns")
    }

    fn values(&self, sql: &str) -> Vec<String> {
        let conn = self.area.conn();
        let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        stmt.query_map([], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

fn cols(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn freeze_refuses_the_package_and_a_relaxed_contract_loads_it() {
    let f = Files::new();
    f.ok(json!([{"id": 1, "a": 1}]), "", "");
    let err = f
        .load(
            json!([{"id": 2, "a": 2}, {"id": 3, "a": 3, "b": "new"}]),
            "",
            "schema_contract = { columns = \"freeze\" }",
            None,
        )
        .expect_err("a new column under columns: freeze");
    let msg = err.to_string();
    for part in [
        "resource `t` page 1",
        "in schema `c`",
        "table `t` column `b`",
        "contract on `columns` with mode `freeze`",
        "offending record 2",
        r#""b":"new""#,
        "sluice pipeline c abort-packages",
    ] {
        assert!(msg.contains(part), "`{part}` missing from: {msg}");
    }
    // nothing of the package loaded
    assert_eq!(f.area.count("select count(*) from ds.t"), 1);
    // the same package, now under discard_value, loads without the new column
    let s = f.ok(
        json!([]),
        "",
        "schema_contract = { columns = \"discard_value\" }",
    );
    assert_eq!(s.pending_packages_loaded, 1);
    assert_eq!(f.area.count("select count(*) from ds.t"), 3);
    assert_eq!(f.columns("t"), cols(&[("id", "BIGINT"), ("a", "BIGINT")]));
    assert_eq!(s.discarded["t"].values, 1);
    assert_eq!(s.discarded["t"].columns, ["b"]);
}

#[test]
fn contract_levels_run_over_resource_over_source() {
    let f = Files::new();
    f.ok(json!([{"id": 1, "a": 1}]), "", "");
    // source-level freeze: a new list is a new nested table
    let err = f
        .load(
            json!([{"id": 2, "lst": [1, 2]}]),
            "schema_contract = \"freeze\"",
            "",
            None,
        )
        .expect_err("tables frozen at source level");
    assert!(
        err.to_string()
            .contains("can't add table `t__lst` because `tables` are frozen"),
        "{err}"
    );
    // a resource-level contract wins over the source's (the pending package is relaxed)
    let s = f.ok(
        json!([]),
        "schema_contract = \"freeze\"",
        "schema_contract = \"evolve\"",
    );
    assert_eq!(s.pending_packages_loaded, 1);
    assert_eq!(f.area.count("select count(*) from ds.t__lst"), 2);
    // the run's contract wins over both: discard_row drops the row with a type change
    let s = f
        .load(
            json!([{"id": 3, "a": "text"}, {"id": 4, "a": 4}]),
            "",
            "schema_contract = \"evolve\"",
            Some(SchemaContract {
                data_type: ContractMode::DiscardRow,
                ..Default::default()
            }),
        )
        .expect("run-level discard_row");
    assert_eq!(s.discarded["t"].rows, 1);
    assert_eq!(
        f.values("select cast(id as varchar) from ds.t order by id"),
        ["1", "2", "4"]
    );
    assert!(!f.columns("t").iter().any(|(c, _)| c == "a__v_text"));
}

#[test]
fn json_schema_gives_columns_and_validates_records() {
    let f = Files::new();
    let schema_file = f.area.path().join("event.schema.json");
    std::fs::write(
        &schema_file,
        json!({
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "at": {"type": "string", "format": "date-time"},
                "user": {"type": "object", "properties": {"login": {"type": "string", "minLength": 1}}}
            },
            "required": ["id", "at"]
        })
        .to_string(),
    )
    .expect("write schema");
    let hint = format!("json_schema = {:?}", schema_file.display().to_string());
    // default (dlt's model contract): unknown fields dropped, the rest typed by the schema
    let s = f.ok(
        json!([{"id": 1, "at": "2024-05-01T10:00:00Z", "user": {"login": "ann"}, "extra": 1}]),
        "",
        &hint,
    );
    assert_eq!(s.discarded.get("t").map(|d| d.values), None, "{s:?}");
    assert_eq!(
        f.columns("t"),
        cols(&[
            ("id", "BIGINT NOT NULL"),
            ("at", "TIMESTAMP WITH TIME ZONE NOT NULL"),
            ("user__login", "VARCHAR"),
        ])
    );
    // a wrong type fails with the record's path
    let err = f
        .load(
            json!([{"id": 2, "at": "2024-05-02T10:00:00Z"}, {"id": 3, "at": "2024-05-03T10:00:00Z", "user": {"login": ""}}]),
            "",
            &hint,
            None,
        )
        .expect_err("minLength");
    let msg = err.to_string();
    assert!(
        msg.contains("resource `t` page 1")
            && msg.contains("record 2 ")
            && msg.contains("`$.user.login`")
            && msg.contains("out of bounds"),
        "{msg}"
    );
    // with discard_row the bad record goes and the good one loads (the pending package too)
    let s = f.ok(
        json!([{"id": 4, "at": "nope"}]),
        "",
        &format!("{hint}\nschema_contract = {{ data_type = \"discard_row\" }}"),
    );
    assert_eq!(s.pending_packages_loaded, 1);
    assert_eq!(
        f.values("select cast(id as varchar) from ds.t order by id"),
        ["1", "2"]
    );
    assert_eq!(s.discarded["t"].rows, 2);
}

#[test]
fn preferred_types_and_schema_yaml_round_trip() {
    let f = Files::new();
    let export = f.area.path().join("export");
    let top = format!(
        "[schema]\nexport = {:?}\npreferred_types = {{ \"re:_at$\" = \"timestamp\", \"price\" = \"decimal\" }}",
        export.display().to_string()
    );
    f.ok(
        json!([{"id": 1, "created_at": 1700000000, "price": "12.5", "note": "x"}]),
        &top,
        "",
    );
    assert_eq!(
        f.columns("t"),
        cols(&[
            ("id", "BIGINT"),
            ("created_at", "TIMESTAMP WITH TIME ZONE"),
            ("price", "DECIMAL(38,9)"),
            ("note", "VARCHAR"),
        ])
    );
    // the export is dlt's YAML of the stored schema
    let yaml = std::fs::read_to_string(export.join("c.schema.yaml")).expect("exported");
    assert!(yaml.contains("engine_version: 11"), "{yaml}");
    assert!(yaml.contains("re:_at$: timestamp"), "{yaml}");
    let back = sluice_schema::Schema::from_yaml(&yaml).expect("parses");
    let stored =
        sluice_pipeline::stored_schema(&f.area.path().join("pipelines"), "c").expect("stored");
    assert_eq!(back.tables, stored.tables);
    assert_eq!(back.version_hash, stored.version_hash);

    // a hand-written schema file in dlt's YAML, imported by a second pipeline
    let g = Files::new();
    let import = g.area.path().join("t.schema.yaml");
    std::fs::write(
        &import,
        "name: c\nsettings:\n  preferred_types:\n    re:^is_: bool\n  schema_contract:\n    data_type: discard_value\ntables:\n  t:\n    columns:\n      amount:\n        data_type: decimal\n        precision: 10\n        scale: 2\n        nullable: true\n      id:\n        data_type: bigint\n        nullable: false\n",
    )
    .expect("write import");
    let top = format!("[schema]\nimport = {:?}", import.display().to_string());
    let s = g.ok(
        json!([{"id": 1, "amount": "12.345", "is_open": "yes", "n": 1}, {"id": 2, "amount": 1, "is_open": "no", "n": "two"}]),
        &top,
        "",
    );
    assert_eq!(
        s.schema_imported.as_deref(),
        Some(&*import.display().to_string())
    );
    assert_eq!(
        g.columns("t"),
        cols(&[
            ("amount", "DECIMAL(10,2)"),
            ("id", "BIGINT NOT NULL"),
            ("is_open", "BOOLEAN"),
            ("n", "BIGINT"),
        ])
    );
    assert_eq!(
        g.values("select cast(amount as varchar) || ' ' || cast(is_open as varchar) || ' ' || coalesce(cast(n as varchar), '-') from ds.t order by id"),
        ["12.35 true 1", "1.00 false -"]
    );
    // the imported settings' contract (data_type: discard_value) dropped "two"
    assert_eq!(s.discarded["t"].values, 1);
    // unchanged file: not imported again
    let s = g.ok(json!([{"id": 3}]), &top, "");
    assert_eq!(s.schema_imported, None);
    // an import that changes a loaded column's type is refused, naming the column
    std::fs::write(
        &import,
        "name: c\ntables:\n  t:\n    columns:\n      amount:\n        data_type: text\n",
    )
    .expect("rewrite import");
    let err = g.load(json!([]), &top, "", None).expect_err("type change");
    assert!(
        err.to_string().contains("tables.t.columns.amount")
            && err.to_string().contains("only ever added"),
        "{err}"
    );
}

#[test]
fn schema_changes_are_posted_to_a_webhook_without_leaking_its_url() {
    let hook = Server::start("ok");
    let f = Files::new();
    let url = format!(
        "http://127.0.0.1:{}/services/T000/B000/SECRET123",
        hook.port
    );
    let top = format!("[notifications]\nwebhook_url = {url:?}");
    let s = f.ok(json!([{"id": 1, "tags": ["a"]}]), &top, "");
    assert_eq!(hook.hits.load(std::sync::atomic::Ordering::Relaxed), 1);
    let request = hook.last_request.lock().expect("request").clone();
    assert!(
        request.starts_with("POST /services/T000/B000/SECRET123 "),
        "{request}"
    );
    let body: Value =
        serde_json::from_str(request.split("\r\n\r\n").nth(1).expect("body")).expect("JSON body");
    let text = body["text"].as_str().expect("slack text");
    assert!(text.contains("Sluice pipeline `c`"), "{text}");
    assert!(text.contains("new table `t`: `id`"), "{text}");
    assert!(text.contains("new table `t__tags`"), "{text}");
    assert_eq!(
        s.notifications,
        ["schema change notification sent to 127.0.0.1"]
    );
    let summary = serde_json::to_string(&s).expect("summary json");
    assert!(!summary.contains("SECRET123"));
    // no schema change: no post
    f.ok(json!([{"id": 2, "tags": ["b"]}]), &top, "");
    assert_eq!(hook.hits.load(std::sync::atomic::Ordering::Relaxed), 1);
    // a new column is posted; a dead endpoint is reported, not fatal, and stays secret
    let s = f.ok(json!([{"id": 3, "extra": true}]), &top, "");
    assert_eq!(hook.hits.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert!(s.notifications[0].contains("sent"));
    drop(hook);
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = dead.local_addr().expect("addr").port();
    drop(dead);
    let top =
        format!("[notifications]\nwebhook_url = \"http://127.0.0.1:{port}/services/SECRET456\"");
    let s = f.ok(json!([{"id": 4, "more": 1}]), &top, "");
    assert!(
        s.notifications[0].contains("failed"),
        "{:?}",
        s.notifications
    );
    assert!(
        !serde_json::to_string(&s)
            .expect("json")
            .contains("SECRET456")
    );
}

#[test]
fn bad_input_names_its_place_and_collisions_are_reported() {
    let f = Files::new();
    let s = f.ok(json!([{"id": 1, "a b": 1, "a_b": 2}]), "", "");
    assert_eq!(s.key_collisions["t"].rows, 1);
    assert_eq!(s.key_collisions["t"].columns, ["a_b"]);
    assert_eq!(f.values("select cast(a_b as varchar) from ds.t"), ["2"]);
    // the host checks each page's syntax as the connector hands it over: a malformed page
    // fails the extraction naming connector, resource, page, record, line and column
    let file = f.area.path().join("bad.ndjson");
    std::fs::write(&file, "{\"id\": 2}\n{\"id\": 3,}\n").expect("write");
    let toml = f.file_toml("c", &file, "");
    let err = f.run_file(&toml).expect_err("malformed");
    assert_eq!(
        err.to_string(),
        "connector `files` resource `t` page 1: record 2 of the page is not valid JSON: line 2 column 10: trailing comma",
    );
    // what was committed before is intact, and no package was left behind to block the next run
    assert_eq!(f.area.count("select count(*) from ds.t"), 1);
    assert_eq!(pending(&f), 0);

    // a bad line on page 2, after page 1 (a new column and a nested table) went to the loader
    let lines: Vec<String> = (0..5)
        .map(|i| {
            format!(
                "{{\"id\": {}, \"extra\": {i}, \"tags\": [\"a\", \"b\"]}}",
                10 + i
            )
        })
        .chain(["{\"id\": 20}".to_owned(), "{\"id\": 21,}".to_owned()])
        .collect();
    std::fs::write(&file, lines.join("\n")).expect("write");
    let err = f
        .run_file(&f.file_toml("c", &file, "page_size = 5"))
        .expect_err("malformed");
    assert!(
        err.to_string().starts_with(
            "connector `files` resource `t` page 2: record 2 of the page is not valid JSON"
        ),
        "{err}"
    );
    // a failed extraction keeps nothing of its open package: page 1 was loading inside the
    // package's transaction, which rolled back with its new column and nested table, and
    // no package is left behind
    assert_eq!(pending(&f), 0);
    assert_eq!(f.area.count("select count(*) from ds.t"), 1);
    assert_eq!(
        f.area.count(
            "select count(*) from information_schema.tables where table_schema = 'ds' and table_name = 't__tags'"
        ),
        0
    );
    std::fs::write(&file, lines.join("\n").replace("21,}", "21}")).expect("write");
    f.run_file(&f.file_toml("c", &file, "page_size = 5"))
        .expect("the fixed file loads");
    assert_eq!(f.area.count("select count(distinct id) from ds.t"), 8);
}

/// Packages of pipeline `c` waiting to load.
fn pending(f: &Files) -> usize {
    std::fs::read_dir(f.area.path().join("pipelines/c/packages"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().join("manifest.json").exists())
                .count()
        })
        .unwrap_or(0)
}

/// A run of one resource loads while it extracts. When the load fails (a record on page 2
/// of 40 breaks the data contract), the extraction stops within a few pages instead of reading the rest: the pages
/// written so far are sealed as a pending package (whole, so `abort-packages` or a fixed
/// contract can deal with it) and the error names the page.
#[test]
fn a_load_that_fails_while_extracting_stops_the_extraction() {
    let f = Files::new();
    let file = f.area.path().join("long.ndjson");
    let lines: Vec<String> = (0..200)
        .map(|i| {
            if i == 7 {
                "{\"id\": 7, \"extra\": 1}".to_owned()
            } else {
                format!("{{\"id\": {i}}}")
            }
        })
        .collect();
    std::fs::write(&file, lines.join("\n")).expect("write");
    let toml = format!(
        "{}[resources.t]\nschema_contract = {{ columns = \"freeze\" }}\n",
        f.file_toml("c", &file, "page_size = 5")
    );
    // the table exists before the run (a new table takes any columns)
    let first = f.area.path().join("first.ndjson");
    std::fs::write(&first, "{\"id\": -1}").expect("write");
    f.run_file(&toml.replace(&file.display().to_string(), &first.display().to_string()))
        .expect("first run");
    let err = f
        .run_file(&toml)
        .expect_err("a new column under columns: freeze");
    let msg = err.to_string();
    assert!(
        msg.starts_with("normalize: resource `t` page 2: ") && msg.contains("column `extra`"),
        "{msg}"
    );
    let packages = f.area.path().join("pipelines/c/packages");
    let sealed: Vec<std::path::PathBuf> = std::fs::read_dir(&packages)
        .expect("packages")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("manifest.json").exists())
        .collect();
    assert_eq!(sealed.len(), 1, "one pending package: {sealed:?}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sealed[0].join("manifest.json")).expect("manifest"))
            .expect("manifest JSON");
    let pages = manifest["pages"].as_array().expect("pages").len();
    // page 2 failed; the feed holds two pages and the writer one more before it notices
    assert!((2..=8).contains(&pages), "{pages} of 40 pages extracted");
    assert_eq!(
        f.area.count("select count(*) from ds.t"),
        1,
        "nothing of the package was committed"
    );
    // set aside, the next run of a fixed file loads every line once
    sluice_pipeline::abort_packages(&f.area.path().join("pipelines"), "c").expect("set aside");
    std::fs::write(&file, lines.join("\n").replace(", \"extra\": 1}", "}")).expect("write");
    f.run_file(&toml).expect("fixed");
    assert_eq!(f.area.count("select count(distinct id) from ds.t"), 201);
}

/// The `files` connector ends an NDJSON page at `page_size` records or once it holds
/// `page_bytes`, whichever comes first; every record loads either way.
#[test]
fn files_pages_end_at_a_record_count_or_a_byte_size() {
    let f = Files::new();
    let file = f.area.path().join("wide.ndjson");
    // 200 lines of exactly 10,000 bytes with the newline
    let lines: String = (0..200)
        .map(|i| {
            let head = format!("{{\"id\": {i:>5}, \"pad\": \"");
            let pad = "x".repeat(10_000 - head.len() - 3);
            format!("{head}{pad}\"}}\n")
        })
        .collect();
    assert_eq!(lines.len(), 2_000_000);
    std::fs::write(&file, lines).expect("write");
    let pages = |config: &str| {
        let s = f.run_file(&f.file_toml("p", &file, config)).expect("run");
        assert_eq!(s.tables["t"], 200, "{config}");
        s.normalize_paths.fast_pages + s.normalize_paths.general_pages
    };
    // 2 MB in one page under the default 2 MiB
    assert_eq!(pages(""), 1);
    assert_eq!(pages("page_bytes = 500000"), 4);
    assert_eq!(pages("page_size = 30"), 7);
    assert_eq!(pages("page_size = 30\npage_bytes = 100000"), 20);
}
