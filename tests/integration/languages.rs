//! The same pipelines against the Rust connectors and their Python and JavaScript ports
//! (`sdk/python/examples`, `sdk/js/examples`, built by `tests/build.rs` with componentize-py
//! and componentize-js): identical tables, column for column and row for row; then each SDK's
//! own surface (HTTP through the host with a secret — and `fetch` over wasi:http in
//! JavaScript —, a declared incremental cursor, state, logs, config and runtime errors); then
//! `sluice init connector` projects in all three languages, built with their toolchains and
//! run from the pipeline file they ship.

use serde_json::json;

use crate::api_server::{ApiResponse, ApiServer};
use crate::support::Area;

fn python(example: &str) -> Vec<u8> {
    let path = match example {
        "hello" => env!("SLUICE_PY_HELLO"),
        "synthetic" => env!("SLUICE_PY_SYNTHETIC"),
        _ => env!("SLUICE_PY_PROBE"),
    };
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn javascript(example: &str) -> Vec<u8> {
    let path = match example {
        "hello" => env!("SLUICE_JS_HELLO"),
        "synthetic" => env!("SLUICE_JS_SYNTHETIC"),
        _ => env!("SLUICE_JS_PROBE"),
    };
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every table of dataset `ds`: its columns with types, its row count and a digest of its
/// rows without the `_dlt_*` columns (ids and load ids differ from run to run by design).
fn tables(area: &Area, ds: &str) -> Vec<String> {
    let conn = area.conn();
    let mut stmt = conn
        .prepare(
            "select table_name, string_agg(column_name || ' ' || data_type, ', ' order by ordinal_position)
             from information_schema.columns where table_schema = ? and table_name not like '_dlt_%'
             group by table_name order by table_name",
        )
        .expect("prepare");
    let shapes: Vec<(String, String)> = stmt
        .query_map([ds], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    assert!(!shapes.is_empty(), "no tables in `{ds}`");
    shapes
        .into_iter()
        .map(|(table, columns)| {
            let (n, digest): (i64, String) = conn
                .query_row(
                    &format!(
                        "select count(*), coalesce(md5(string_agg(x::varchar, '|' order by x::varchar)), '')
                         from (select columns(c -> c not like '\\_dlt\\_%' escape '\\' or c = '_dlt_list_idx') from {ds}.{table}) x"
                    ),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .expect("digest");
            format!("{table}: {n} rows {digest} [{columns}]")
        })
        .collect()
}

fn synthetic_runs(component: &[u8]) -> (Vec<String>, Vec<u64>) {
    let area = Area::new();
    let toml = |rows: u64| {
        format!(
            "name = \"lang\"\ndataset = \"gh\"\n[connector]\nname = \"synthetic\"\n[config]\nrows = {rows}\npage_size = 700\nseed = 7\n[resources.commit_stats]\nselected = true\n[resources.events.incremental]\ncursor_path = \"seq\"\n"
        )
    };
    let mut loaded = Vec::new();
    // a first run, then a second one that only adds what is past the cursor
    for rows in [2500, 3100] {
        let s = area
            .run(&toml(rows), ("synthetic", component))
            .expect("synthetic run");
        loaded.push(s.tables["events"]);
    }
    (tables(&area, "gh"), loaded)
}

#[test]
fn synthetic_in_python_and_javascript_loads_the_same_tables_as_in_rust() {
    let (rust, rust_loaded) = synthetic_runs(sluice_bundled::SYNTHETIC.bytes);
    // the incremental second run re-reads from the last cursor value (boundary dedup)
    assert_eq!(rust_loaded, vec![2500, 600]);
    assert_eq!(rust.len(), 4, "{rust:#?}");
    assert!(rust[0].starts_with("commit_stats: 3100 rows"), "{rust:#?}");
    let (py, py_loaded) = synthetic_runs(&python("synthetic"));
    assert_eq!(py_loaded, rust_loaded);
    assert_eq!(py, rust);
    let (js, js_loaded) = synthetic_runs(&javascript("synthetic"));
    assert_eq!(js_loaded, rust_loaded);
    assert_eq!(js, rust);
}

#[test]
fn hello_in_python_and_javascript_loads_the_same_table_as_in_rust() {
    let toml = "name = \"hi\"\ndataset = \"hi\"\n[connector]\nname = \"hello\"\n[config]\nname = \"sluice\"\n";
    let load = |component: &[u8]| {
        let area = Area::new();
        area.run(toml, ("hello", component)).expect("hello run");
        tables(&area, "hi")
    };
    let rust = load(sluice_bundled::HELLO.bytes);
    assert!(rust[0].starts_with("greetings: 2 rows"), "{rust:?}");
    assert_eq!(load(&python("hello")), rust);
    assert_eq!(load(&javascript("hello")), rust);
}

/// What differs between the Python and the JavaScript probe.
struct Probe {
    connector: &'static str,
    component: Vec<u8>,
    token: &'static str,
    /// the config line and the log line of the first run, then of the second
    runs: [(&'static str, &'static str); 2],
    /// a config line reading over standard wasi:http (refused for an ungranted host)
    over_wasi: &'static str,
    /// what the refusal of an ungranted host says
    refused: &'static str,
    /// the exception the probe throws, as the error names it
    exception: &'static str,
}

/// A probe's surface: two runs against the items API (the first from the cursor's initial
/// value, the second from its last value, with state counting runs), the token injected by the
/// host only, an ungranted host refused before anything leaves, config and runtime errors.
fn check_probe(p: Probe) {
    let server = items_server(p.token);
    let base = server.url();
    let (connector, token) = (p.connector, p.token);
    let toml = |extra: &str| {
        format!(
            "name = \"probe\"\ndataset = \"probe\"\n[connector]\nname = \"{connector}\"\n[config]\nbase_url = \"{base}\"\n{extra}\n[grants]\nallow_hosts = [\"{base}\"]\n[secrets.token]\nvalue = \"{token}\"\nhost = \"{base}\"\nscheme = \"bearer\"\n"
        )
    };
    let area = Area::new();
    let mut seen = String::new();
    for (i, (extra, log)) in p.runs.into_iter().enumerate() {
        let (r, logs) = area.run_logged(&toml(extra), &[], (connector, &p.component));
        let s = r.unwrap_or_else(|e| panic!("run {}: {e}", i + 1));
        // three pages and the empty one, then one page from the cursor and the empty one
        assert_eq!(s.http_requests, [4, 2][i], "run {}", i + 1);
        if i == 0 {
            assert_eq!(s.tables["items"], 5);
        }
        assert!(logs.iter().any(|(_, m)| m == log), "{log}: {logs:?}");
        seen += &format!("{logs:?}{s:?}");
    }
    let sinces: Vec<String> = server
        .requests()
        .iter()
        .filter_map(|q| q.param("since").map(str::to_owned))
        .collect();
    assert_eq!(sinces, ["0", "0", "0", "0", "5", "5"]);
    assert_eq!(area.count("select count(*) from probe.items"), 5);
    // the secret went in by the host only: not in the tables, the logs or the summaries
    assert!(!seen.contains(token));

    let other = items_server(token);
    let err = area
        .run(
            &toml(p.over_wasi).replacen(&base, &other.url(), 1),
            (connector, &p.component),
        )
        .expect_err("host not granted");
    assert!(other.requests().is_empty(), "the request must not leave");
    let msg = err.to_string();
    assert!(msg.contains("`items`") && msg.contains(p.refused), "{msg}");

    assert_probe_errors(&area, &toml, (connector, &p.component), p.exception);
    assert_eq!(area.count("select count(*) from probe.items"), 5);
}

#[test]
fn the_python_sdk_fetches_through_the_host_with_state_incremental_and_errors() {
    check_probe(Probe {
        connector: "py_probe",
        component: python("probe"),
        token: "py-secret-7d1f",
        // `sluice.http` names the secret; `sluice.wasi_http` gets the one granted for the host
        runs: [
            ("", "run 1 read 3 pages since 0 with sluice.http"),
            (
                "wasi = true",
                "run 2 read 1 pages since 5 with sluice.wasi_http",
            ),
        ],
        over_wasi: "wasi = true",
        refused: "refused by the pipeline's policy",
        exception: "ValueError: the probe fails on purpose at app.py:",
    });
}

#[test]
fn the_javascript_sdk_fetches_through_the_host_with_state_incremental_and_errors() {
    check_probe(Probe {
        connector: "js_probe",
        component: javascript("probe"),
        token: "js-secret-41ac",
        // standard `fetch` gets the secret granted for the host; `sluice.http` names it
        runs: [
            ("use_fetch = true", "run 1 read 3 pages since 0 with fetch"),
            ("", "run 2 read 1 pages since 5 with sluice.http"),
        ],
        over_wasi: "use_fetch = true",
        // StarlingMonkey rejects a refused fetch with its generic TypeError
        refused: "TypeError",
        exception: "TypeError: the probe fails on purpose at app.js:",
    });
}

/// A probe's errors: an unknown config key and a wrong type name the key; an exception inside
/// the resource names connector, resource, exception and line (`exception`).
fn assert_probe_errors(
    area: &Area,
    toml: &dyn Fn(&str) -> String,
    probe: (&str, &[u8]),
    exception: &str,
) {
    let err = area
        .run(&toml("colour = \"red\""), probe)
        .expect_err("unknown key");
    let msg = err.to_string();
    assert!(
        msg.contains("configuration error") && msg.contains("unknown config key(s) `colour`"),
        "{msg}"
    );
    let err = area
        .run(&toml("fail = \"yes\""), probe)
        .expect_err("wrong type");
    assert!(
        err.to_string()
            .contains("config key `fail` must be boolean, got \"yes\""),
        "{err}"
    );
    let err = area.run(&toml("fail = true"), probe).expect_err("throws");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("`{}`", probe.0))
            && msg.contains("`items`")
            && msg.contains(exception),
        "{msg}"
    );
}

/// An items API for the probes: ids 1..=5 with `updated` = id, pages of two from `since` on,
/// answered only with the bearer token.
fn items_server(token: &'static str) -> ApiServer {
    ApiServer::start(move |req| {
        if req.header("authorization") != Some(&format!("Bearer {token}")) {
            return ApiResponse::raw(401, "no token");
        }
        let page: u64 = req.param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let since: u64 = req.param("since").and_then(|p| p.parse().ok()).unwrap_or(0);
        let ids: Vec<u64> = (since.max(1)..=5).collect();
        let items: Vec<_> = ids
            .chunks(2)
            .nth(page as usize - 1)
            .unwrap_or(&[])
            .iter()
            .map(|i| json!({"id": i, "updated": i, "name": format!("item {i}")}))
            .collect();
        ApiResponse::json(&json!({ "items": items }))
    })
}

/// `sluice init connector` in `lang`, built with the language's toolchain, run twice from
/// the pipeline file it ships (merge on `id`: ten rows, not twenty).
fn scaffolded_project_runs(lang: sluice_scaffold::Language, build: &[&[&str]]) {
    let area = Area::new();
    let dir = area.path().join("project");
    let project = sluice_scaffold::scaffold(lang, "my_source", &dir).expect("scaffold");
    match lang {
        // the project's own dependencies, from the toolchain the tests installed
        sluice_scaffold::Language::JavaScript => std::os::unix::fs::symlink(
            std::path::Path::new(env!("SLUICE_JS_TOOLS_DIR")).join("node_modules"),
            dir.join("node_modules"),
        )
        .expect("link node_modules"),
        // a target dir that outlives the test, so later runs build incrementally
        sluice_scaffold::Language::Rust => {
            let target = std::path::Path::new(env!("SLUICE_TEST_CACHE")).join("scaffold-rust");
            std::fs::create_dir_all(&target).expect("target dir");
            std::os::unix::fs::symlink(&target, dir.join("target")).expect("link target");
        }
        sluice_scaffold::Language::Python => {}
    }
    for argv in build {
        let out = std::process::Command::new(argv[0])
            .args(&argv[1..])
            .current_dir(&dir)
            .env("SLUICE_PY_VENV", env!("SLUICE_PY_VENV_DIR"))
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        assert!(
            out.status.success(),
            "{argv:?} failed in the {lang} project:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut spec =
        sluice_pipeline::PipelineSpec::from_file(&dir.join("pipeline.toml"), &[]).expect("spec");
    let path = spec
        .connector
        .path
        .clone()
        .expect("the pipeline names the component");
    assert_eq!(path, dir.join(&project.component));
    let component = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    spec.destination = format!("duckdb:{}", area.db().display());
    for _ in 0..2 {
        let s = area
            .run_parsed(spec.clone(), ("my_source", &component))
            .expect("the scaffolded pipeline runs");
        assert_eq!(s.tables["items"], 10);
    }
    assert_eq!(
        area.count("select count(*) from my_source_dataset.items where message like 'hello #%'"),
        10
    );
}

#[test]
fn init_connector_in_rust_builds_and_runs() {
    scaffolded_project_runs(
        sluice_scaffold::Language::Rust,
        &[&["cargo", "build", "--release", "--target", "wasm32-wasip2"]],
    );
}

#[test]
fn init_connector_in_python_builds_and_runs() {
    scaffolded_project_runs(sluice_scaffold::Language::Python, &[&["./build.sh"]]);
}

#[test]
fn init_connector_in_javascript_builds_and_runs() {
    scaffolded_project_runs(
        sluice_scaffold::Language::JavaScript,
        &[&["npm", "run", "build"]],
    );
}
