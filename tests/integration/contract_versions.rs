//! The host runs components built against every contract version it released: components
//! built against `sluice:connector@0.1.0`, `0.2.0` and `0.2.1` (checked in under
//! `tests/components/vX.Y.Z/`, built from this repository before the next version) load the
//! same data as today's builds.

use serde_json::{Value, json};
use sluice_host::{Contract, Host};

use crate::api_server::{ApiResponse, ApiServer};
use crate::support::{Area, canon, manifest_dir};

fn component(name: &str) -> Vec<u8> {
    let path = manifest_dir().join("components/v0.1.0").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn components_are_told_apart_by_the_contract_they_export() {
    let dir = tempfile::tempdir().expect("tmp");
    let host = Host::new(dir.path()).expect("host");
    let old = host
        .load("rest_api", &component("rest_api.wasm"))
        .expect("a 0.1.0 component loads");
    assert_eq!(old.contract, Contract::V0_1);
    assert!(
        old.imports
            .iter()
            .any(|i| i == "sluice:connector/http@0.1.0")
    );
    let new = host
        .load("rest_api", sluice_bundled::REST_API.bytes)
        .expect("the bundled one loads");
    assert_eq!(new.contract, Contract::V0_2_2);
    assert_eq!(new.contract.version(), "0.2.2");
    // `sluice connector inspect` says which contract, and reads the old spec through it
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let i = rt
        .block_on(sluice_pipeline::inspect(
            "rest_api",
            &component("rest_api.wasm"),
            dir.path(),
            "{}",
        ))
        .expect("inspects");
    assert_eq!(i.contract, "0.1.0");
    assert!(!i.config_schema.is_null(), "the 0.1.0 spec came through");
}

/// Posts in pages of two (header links), comments per post, incremental on `updated`.
fn server() -> ApiServer {
    ApiServer::start(|req| {
        let base = format!("http://{}", req.header("host").unwrap_or_default());
        let parts: Vec<&str> = req.path.trim_start_matches("/api/").split('/').collect();
        match parts.as_slice() {
            ["posts"] => {
                let page: i64 = req.param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let since = req.param("since").unwrap_or_default().to_owned();
                let posts: Vec<Value> = (2 * page - 1..=2 * page)
                    .filter(|i| *i <= 5)
                    .map(|i| json!({"id": i, "title": format!("post {i}"), "updated": format!("2024-05-0{i}T00:00:00Z"), "tags": ["a", "b"]}))
                    .filter(|p| p["updated"].as_str().unwrap_or_default() >= since.as_str())
                    .collect();
                let mut r = ApiResponse::json(&Value::Array(posts));
                if page < 3 {
                    r = r.header(
                        "Link",
                        &format!("<{base}/api/posts?page={}>; rel=\"next\"", page + 1),
                    );
                }
                r
            }
            ["posts", id, "comments"] => ApiResponse::json(&json!([
                {"id": format!("{id}-1"), "body": "first"},
                {"id": format!("{id}-2"), "body": "second"},
            ])),
            _ => ApiResponse::raw(404, "{}"),
        }
    })
}

fn pipeline(server: &ApiServer) -> String {
    format!(
        r#"name = "cv"
dataset = "cv"
[connector]
name = "rest_api"
[grants]
allow_hosts = ["{base}"]
[config.client]
base_url = "{base}/api/"
paginator = "header_link"
[[config.resources]]
name = "posts"
endpoint = {{ path = "posts", params = {{ since = "{{incremental.start_value}}" }}, incremental = {{ cursor_path = "updated", initial_value = "2024-05-01T00:00:00Z" }} }}
primary_key = "id"
write_disposition = "merge"
[[config.resources]]
name = "comments"
endpoint = "posts/{{resources.posts.id}}/comments"
"#,
        base = server.url()
    )
}

#[test]
fn a_0_1_0_component_loads_what_a_0_2_0_build_loads() {
    let old = component("rest_api.wasm");
    let mut out = Vec::new();
    for bytes in [old.as_slice(), sluice_bundled::REST_API.bytes] {
        let server = server();
        let area = Area::new();
        let toml = pipeline(&server);
        let first = area.run(&toml, ("rest_api", bytes)).expect("first run");
        assert_eq!(first.tables["posts"], 5);
        assert_eq!(first.tables["comments"], 10);
        // the second run asks from the committed cursor, through either contract
        area.run(&toml, ("rest_api", bytes)).expect("second run");
        let asked = server
            .requests()
            .iter()
            .filter(|r| r.path == "/api/posts" && r.param("since") == Some("2024-05-05T00:00:00Z"))
            .count();
        assert!(asked >= 1, "the second run resumed from the cursor");
        out.push(canon(&area.conn(), "cv"));
    }
    assert_eq!(
        out[0], out[1],
        "same tables, columns and rows from both builds"
    );
}

/// The `rest_api` component built against 0.2.1 (before `http.fetch-all`: one request at a
/// time) links to the 0.2.2 host and loads what today's build, which fans requests out, loads.
#[test]
fn a_0_2_1_component_runs_as_built() {
    let path = manifest_dir().join("components/v0.2.1/rest_api.wasm");
    let old = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dir = tempfile::tempdir().expect("tmp");
    let loaded = Host::new(dir.path())
        .expect("host")
        .load("rest_api", &old)
        .expect("loads");
    assert_eq!(loaded.contract, Contract::V0_2_1);
    assert!(
        loaded
            .imports
            .iter()
            .any(|i| i == "sluice:connector/http@0.2.1")
    );
    let mut out = Vec::new();
    for bytes in [old.as_slice(), sluice_bundled::REST_API.bytes] {
        let server = server();
        let area = Area::new();
        let first = area
            .run(&pipeline(&server), ("rest_api", bytes))
            .expect("runs");
        assert_eq!(first.tables["comments"], 10);
        out.push(canon(&area.conn(), "cv"));
    }
    assert_eq!(out[0], out[1]);
}

/// A 0.1.0 component of the `connector-http` world (it brings its own `wasi:http` client).
#[test]
fn a_0_1_0_wasi_http_component_runs() {
    let body: Vec<Value> = (0..40).map(|i| json!({"id": i})).collect();
    let body = serde_json::to_vec(&body).expect("json");
    let server = ApiServer::start(move |_| {
        ApiResponse::raw(200, body.clone()).header("content-type", "application/json")
    });
    let authority = server.url().trim_start_matches("http://").to_owned();
    let toml = format!(
        "name = \"wh\"\ndataset = \"wh\"\n[connector]\nname = \"wasi_http_probe\"\n[config]\nauthority = \"{authority}\"\npath = \"/items\"\n[grants]\nallow_hosts = [\"{}\"]\n",
        server.url()
    );
    let area = Area::new();
    let s = area
        .run(
            &toml,
            ("wasi_http_probe", &component("wasi_http_probe.wasm")),
        )
        .expect("runs");
    assert_eq!(s.tables["items"], 40);
}

/// A component built against 0.2.0 (before `objects`, checked in under
/// `tests/components/v0.2.0/`) links to the 0.2.1 host and reads what today's build reads.
#[test]
fn a_0_2_0_component_runs_as_built() {
    let path = manifest_dir().join("components/v0.2.0/sql_database.wasm");
    let old = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dir = tempfile::tempdir().expect("tmp");
    let host = Host::new(dir.path()).expect("host");
    let loaded = host.load("sql_database", &old).expect("loads");
    assert_eq!(loaded.contract, Contract::V0_2_0);
    assert!(
        loaded
            .imports
            .iter()
            .any(|i| i == "sluice:connector/sql@0.2.0")
    );
    let mut datasets = Vec::new();
    for bytes in [&old[..], sluice_bundled::SQL_DATABASE.bytes] {
        let area = Area::new();
        let file = area.path().join("shop.db");
        let c = rusqlite::Connection::open(&file).expect("sqlite");
        c.execute_batch(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL, note TEXT); \
             INSERT INTO orders VALUES (1, 1.5, 'a'), (2, 2.5, NULL);",
        )
        .expect("rows");
        drop(c);
        let toml = crate::sql_sources::pipeline("sqlite://shop.db", "", "");
        let s = area.run(&toml, ("sql_database", bytes)).expect("run");
        assert_eq!(s.tables.get("orders"), Some(&2));
        datasets.push(canon(&area.conn(), "ds"));
    }
    assert_eq!(datasets[0], datasets[1]);
}
