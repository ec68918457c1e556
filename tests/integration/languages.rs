//! The same pipelines against the Rust connectors and their Python ports (`sdk/python/examples`,
//! built by `tests/build.rs` with componentize-py): identical tables, column for column and row
//! for row; then the Python SDK's own surface (HTTP through the host with a secret, a declared
//! incremental cursor, state, logs, config and runtime errors).

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
fn synthetic_in_python_loads_the_same_tables_as_in_rust() {
    let (rust, rust_loaded) = synthetic_runs(sluice_bundled::SYNTHETIC.bytes);
    let (py, py_loaded) = synthetic_runs(&python("synthetic"));
    // the incremental second run re-reads from the last cursor value (boundary dedup)
    assert_eq!(rust_loaded, vec![2500, 600]);
    assert_eq!(py_loaded, rust_loaded);
    assert_eq!(rust.len(), 4, "{rust:#?}");
    assert!(rust[0].starts_with("commit_stats: 3100 rows"), "{rust:#?}");
    assert_eq!(py, rust);
}

#[test]
fn hello_in_python_loads_the_same_table_as_in_rust() {
    let toml = "name = \"hi\"\ndataset = \"hi\"\n[connector]\nname = \"hello\"\n[config]\nname = \"sluice\"\n";
    let load = |component: &[u8]| {
        let area = Area::new();
        area.run(toml, ("hello", component)).expect("hello run");
        tables(&area, "hi")
    };
    let rust = load(sluice_bundled::HELLO.bytes);
    assert!(rust[0].starts_with("greetings: 2 rows"), "{rust:?}");
    assert_eq!(load(&python("hello")), rust);
}

#[test]
fn the_python_sdk_fetches_through_the_host_with_state_incremental_and_errors() {
    const TOKEN: &str = "py-secret-7d1f";
    let server = ApiServer::start(|req| {
        if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            return ApiResponse::raw(401, "no token");
        }
        let page: u64 = req.param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let since: u64 = req.param("since").and_then(|p| p.parse().ok()).unwrap_or(0);
        // ids 1..=5, `updated` = id; pages of two, from `since` on
        let ids: Vec<u64> = (since.max(1)..=5).collect();
        let items: Vec<_> = ids
            .chunks(2)
            .nth(page as usize - 1)
            .unwrap_or(&[])
            .iter()
            .map(|i| json!({"id": i, "updated": i, "name": format!("item {i}")}))
            .collect();
        ApiResponse::json(&json!({ "items": items }))
    });
    let base = server.url();
    let toml = |extra: &str| {
        format!(
            "name = \"py\"\ndataset = \"py\"\n[connector]\nname = \"py_probe\"\n[config]\nbase_url = \"{base}\"\n{extra}\n[grants]\nallow_hosts = [\"{base}\"]\n[secrets.token]\nvalue = \"{TOKEN}\"\nhost = \"{base}\"\nscheme = \"bearer\"\n"
        )
    };
    let probe = python("probe");
    let area = Area::new();
    let (r, logs) = area.run_logged(&toml(""), &[], ("py_probe", &probe));
    let s = r.expect("first run");
    assert_eq!(s.tables["items"], 5);
    assert_eq!(s.http_requests, 4, "three pages and the empty one");
    assert!(
        logs.iter().any(|(_, m)| m == "run 1 read 3 pages since 0"),
        "{logs:?}"
    );
    // the second run asks from the last cursor value, and its state counts runs
    let (r, logs) = area.run_logged(&toml(""), &[], ("py_probe", &probe));
    r.expect("second run");
    assert!(
        logs.iter().any(|(_, m)| m == "run 2 read 1 pages since 5"),
        "{logs:?}"
    );
    let sinces: Vec<String> = server
        .requests()
        .iter()
        .filter_map(|q| q.param("since").map(str::to_owned))
        .collect();
    assert_eq!(sinces, ["0", "0", "0", "0", "5", "5"]);
    assert_eq!(area.count("select count(*) from py.items"), 5);
    // the secret went in by the host only: not in the tables, the logs or the summary
    assert!(!format!("{logs:?}{s:?}").contains(TOKEN));

    // configuration errors name the key
    let err = area
        .run(&toml("colour = \"red\""), ("py_probe", &probe))
        .expect_err("unknown key");
    let msg = err.to_string();
    assert!(
        msg.contains("configuration error") && msg.contains("unknown config key(s) `colour`"),
        "{msg}"
    );
    let err = area
        .run(&toml("fail = \"yes\""), ("py_probe", &probe))
        .expect_err("wrong type");
    assert!(
        err.to_string()
            .contains("config key `fail` must be boolean, got \"yes\""),
        "{err}"
    );
    // an exception inside a resource: connector, resource, exception and line
    let err = area
        .run(&toml("fail = true"), ("py_probe", &probe))
        .expect_err("raises");
    let msg = err.to_string();
    assert!(
        msg.contains("`py_probe`")
            && msg.contains("`items`")
            && msg.contains("ValueError: the probe fails on purpose at app.py:"),
        "{msg}"
    );
    assert_eq!(area.count("select count(*) from py.items"), 5);
}
