//! The hostile suite, part two: what a connector *declares* and the tricks an API server
//! plays, besides what a connector *does* (`sandbox.rs`). Every case ends in a clear error
//! naming the connector (and resource, page, limit or rule where there is one), writes
//! nothing outside the package folder, and leaves rows committed earlier intact. SECURITY.md
//! lists each case beside the rule it proves.

use std::path::Path;

use crate::api_server::{ApiResponse, ApiServer};
use crate::support::Area;

const PIPE: &str =
    "name = \"sb\"\ndataset = \"sb\"\n[connector]\nname = \"synthetic\"\n[config]\nrows = 100\n";

fn probe_toml(config: &str, rest: &str) -> String {
    format!(
        "name = \"sb\"\ndataset = \"sb\"\n[connector]\nname = \"probe\"\n[config]\n{config}\n{rest}"
    )
}

fn run_probe(area: &Area, config: &str, rest: &str) -> Result<sluice_pipeline::RunSummary, String> {
    area.run(
        &probe_toml(config, rest),
        ("sandbox_probe", sluice_bundled::SANDBOX_PROBE),
    )
    .map_err(|e| format!("{e:#}"))
}

fn refused(area: &Area, config: &str, rest: &str) -> String {
    match run_probe(area, config, rest) {
        Ok(s) => panic!("the host must refuse `{config}`; it loaded {:?}", s.tables),
        Err(e) => e,
    }
}

fn earlier_data(area: &Area) {
    area.run(PIPE, ("synthetic", sluice_bundled::SYNTHETIC.bytes))
        .expect("earlier run");
    intact(area);
}

fn intact(area: &Area) {
    assert_eq!(area.count("select count(*) from sb.events"), 100);
    assert_eq!(area.count("select count(*) from sb._dlt_loads"), 1);
}

/// Every path under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap_or(&p).display().to_string());
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Nothing exists outside the area's own folders (its database and the database's lease
/// file, pipelines and cache).
fn nothing_outside(area: &Area) {
    for p in tree(area.path()) {
        let top = p.split('/').next().unwrap_or_default();
        assert!(
            ["pipelines", "cache"].contains(&top)
                || top.starts_with("test.duckdb")
                || top == ".test.duckdb.sb.sluice-lease",
            "the run created `{p}` outside its folders"
        );
    }
    let parent = area.path().parent().expect("tmp");
    for name in ["x", "abs", "etc", "a"] {
        assert!(!parent.join(name).join("x").exists());
    }
    assert!(!Path::new("/abs/x").exists());
}

// ---- 1. what a connector declares

#[test]
fn declared_names_that_could_be_paths_are_refused_naming_connector_and_value() {
    let area = Area::new();
    earlier_data(&area);
    for (declare, field, value, rule) in [
        ("dotdot", "resources[0].name", "`../../x`", "path separator"),
        ("abs", "resources[0].name", "`/abs/x`", "path separator"),
        ("slash", "resources[0].name", "`a/b`", "path separator"),
        ("empty", "resources[0].name", "``", "is empty"),
        (
            "long",
            "resources[0].name",
            "(10240 bytes)",
            "longer than 256 bytes",
        ),
    ] {
        let msg = refused(&area, &format!("declare = \"{declare}\""), "");
        assert!(
            msg.contains("connector `sandbox_probe` declared an invalid")
                && msg.contains(field)
                && msg.contains(value)
                && msg.contains(rule),
            "{declare}: {msg}"
        );
        assert!(
            msg.len() < 600,
            "{declare}: the error stays readable: {msg}"
        );
        intact(&area);
        nothing_outside(&area);
    }
}

#[test]
fn a_hundred_thousand_resources_are_refused() {
    let area = Area::new();
    earlier_data(&area);
    let started = std::time::Instant::now();
    let msg = refused(&area, "declare = \"many\"", "");
    assert!(
        msg.contains("connector `sandbox_probe`")
            && msg.contains("100000 resources")
            && msg.contains("more than 1000 resources"),
        "{msg}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    intact(&area);
    nothing_outside(&area);
}

#[test]
fn parents_tables_column_hints_cursor_paths_and_the_config_schema_are_checked() {
    let area = Area::new();
    earlier_data(&area);
    for (declare, want) in [
        ("cycle", "cycle of parents"),
        ("orphan", "names no declared resource"),
        ("table_dotdot", "resources[0].table_name `../../etc`"),
        (
            "column_ansi",
            "resources[0].columns[0].name `id\\u{1b}[31m`",
        ),
        ("cursor_nul", "incremental.cursor_path `id\\u{0}`"),
        ("bad_schema", "config_schema"),
    ] {
        let msg = refused(&area, &format!("declare = \"{declare}\""), "");
        assert!(
            msg.contains("connector `sandbox_probe`") && msg.contains(want),
            "{declare}: {msg}"
        );
        assert!(
            !msg.contains('\x1b') && !msg.contains('\0'),
            "{declare}: {msg:?}"
        );
        intact(&area);
        nothing_outside(&area);
    }
}

#[test]
fn page_files_are_named_by_index_not_by_the_connector_chosen_name() {
    let area = Area::new();
    earlier_data(&area);
    // a page refused by a data contract stays pending: its files can be looked at
    let msg = refused(
        &area,
        "try = \"tiny_pages\"\npages = 1",
        "[resources.probe]\nschema_contract = { tables = \"freeze\" }\n",
    );
    assert!(msg.contains("abort-packages"), "{msg}");
    let packages = area.path().join("pipelines/sb/packages");
    let files: Vec<String> = tree(&packages)
        .into_iter()
        .filter(|p| p.ends_with("json") && !p.ends_with("manifest.json"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with("/r0000/00000000.ndjson"), "{files:?}");
    intact(&area);
}

// ---- 2. one memory budget per store

/// The component of `tests/hostile/<stem>.wat`.
fn wat(var: &str) -> Vec<u8> {
    std::fs::read(var).expect("built by tests/build.rs")
}

/// Run in a child process by `memories_and_tables_share_one_budget_and_rss_stays_bounded`:
/// peak RSS is the process's own.
#[test]
#[ignore = "started by memories_and_tables_share_one_budget_and_rss_stays_bounded"]
fn store_budget_child() {
    let area = Area::new();
    earlier_data(&area);
    let before = crate::support::status_kib("VmHWM");
    let limits = "[limits]\nmemory_mb = 256\n";
    let mut messages = Vec::new();
    for (name, bytes) in [
        ("eight_memories", wat(env!("SLUICE_WAT_EIGHT_MEMORIES"))),
        ("table_bomb", wat(env!("SLUICE_WAT_TABLE_BOMB"))),
    ] {
        let toml =
            format!("name = \"sb\"\ndataset = \"sb\"\n[connector]\nname = \"{name}\"\n{limits}");
        let err = area.run(&toml, (name, &bytes)).expect_err("over budget");
        messages.push(format!("{err:#}"));
        intact(&area);
    }
    println!("PEAK_KIB {before} {}", crate::support::status_kib("VmHWM"));
    for m in messages {
        println!("MESSAGE {m}");
    }
}

#[test]
fn memories_and_tables_share_one_budget_and_rss_stays_bounded() {
    let stdout = crate::support::child_test_output("hostile::store_budget_child");
    let messages: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split("MESSAGE ").nth(1))
        .collect();
    assert_eq!(messages.len(), 2, "{stdout}");
    for (m, name) in messages.iter().zip(["eight_memories", "table_bomb"]) {
        assert!(
            m.contains(&format!("connector `{name}`"))
                && m.contains("instantiate exceeded the memory limit of 256 MiB"),
            "{m}"
        );
    }
    let peak: Vec<u64> = stdout
        .lines()
        .find_map(|l| l.split("PEAK_KIB ").nth(1))
        .expect("peak")
        .split(' ')
        .filter_map(|x| x.parse().ok())
        .collect();
    // eight memories of 64 MiB, each filled, would add 512 MiB; the budget stops the fifth
    assert!(
        peak[1] < peak[0] + 300 * 1024,
        "peak RSS grew from {} KiB to {} KiB",
        peak[0],
        peak[1]
    );
}

#[test]
fn thousands_of_core_instances_are_refused() {
    let area = Area::new();
    earlier_data(&area);
    let bytes = wat(env!("SLUICE_WAT_MANY_INSTANCES"));
    let toml = "name = \"sb\"\ndataset = \"sb\"\n[connector]\nname = \"many_instances\"\n";
    let msg = format!(
        "{:#}",
        area.run(toml, ("many_instances", &bytes))
            .expect_err("over the instance cap")
    );
    assert!(
        msg.contains("connector `many_instances`")
            && msg.contains("instantiate trapped")
            && msg.contains("count"),
        "{msg}"
    );
    intact(&area);
}

// ---- 3. resolve once, check every hop

#[test]
fn a_redirect_hop_to_a_name_resolving_to_loopback_is_refused() {
    let port = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(0));
    let p = port.clone();
    let server = ApiServer::start(move |req| match req.path.as_str() {
        "/hop" => ApiResponse::raw(302, "").header(
            "Location",
            &format!(
                "http://localhost:{}/steal",
                p.load(std::sync::atomic::Ordering::Relaxed)
            ),
        ),
        _ => ApiResponse::raw(200, "[]"),
    });
    port.store(server.port, std::sync::atomic::Ordering::Relaxed);
    let area = Area::new();
    earlier_data(&area);
    // both granted: the IP literal by the pipeline author, the name only by the allow-list
    let grants = format!(
        "[grants]\nallow_hosts = [\"{}\", \"http://localhost:{}\"]\n",
        server.url(),
        server.port
    );
    let msg = refused(
        &area,
        &format!("try = \"http\"\nurl = \"{}/hop\"", server.url()),
        &grants,
    );
    assert!(
        msg.contains("`probe`") && msg.contains("localhost") && msg.contains("non-public address"),
        "{msg}"
    );
    assert_eq!(server.to("/steal").len(), 0, "the hop never connected");
    intact(&area);
}

// ---- 4. requests the guest may shape

#[test]
fn the_guest_cannot_set_host_framing_or_proxy_headers() {
    let server = ApiServer::start(|_| ApiResponse::raw(200, "[]"));
    let area = Area::new();
    earlier_data(&area);
    let grants = format!("[grants]\nallow_hosts = [\"{}\"]\n", server.url());
    for header in [
        "Host",
        "Transfer-Encoding",
        "Content-Length",
        "Connection",
        "Upgrade",
        "TE",
        "Proxy-Authorization",
    ] {
        let msg = refused(
            &area,
            &format!(
                "try = \"http\"\nurl = \"{}/x\"\nheaders = [[\"{header}\", \"evil\"]]",
                server.url()
            ),
            &grants,
        );
        assert!(
            msg.contains("`probe`")
                && msg.contains(&format!("header `{header}` is set by the host only")),
            "{header}: {msg}"
        );
    }
    assert_eq!(server.requests().len(), 0);
    intact(&area);
}

#[test]
fn trace_and_connect_are_refused() {
    let server = ApiServer::start(|_| ApiResponse::raw(200, "[]"));
    let area = Area::new();
    earlier_data(&area);
    let grants = format!("[grants]\nallow_hosts = [\"{}\"]\n", server.url());
    for method in ["TRACE", "CONNECT"] {
        let msg = refused(
            &area,
            &format!(
                "try = \"http\"\nurl = \"{}/x\"\nmethod = \"{method}\"",
                server.url()
            ),
            &grants,
        );
        assert!(
            msg.contains(&format!("method `{method}` is not allowed")),
            "{method}: {msg}"
        );
    }
    assert_eq!(server.requests().len(), 0);
    intact(&area);
}

#[test]
fn path_prefixes_match_whole_segments_and_the_checked_path_is_the_sent_path() {
    let server = ApiServer::start(|_| ApiResponse::raw(200, "[]"));
    let area = Area::new();
    earlier_data(&area);
    let grants = format!("[grants]\nallow_hosts = [\"{}/v1\"]\n", server.url());
    for path in [
        "/v10/x",
        "/v1-internal/x",
        "/v1/../admin",
        "/v1/%2e%2e/admin",
        "/v1/..%2fadmin",
    ] {
        let msg = refused(
            &area,
            &format!("try = \"http\"\nurl = \"{}{path}\"", server.url()),
            &grants,
        );
        assert!(
            msg.contains("outside the path prefixes") || msg.contains("traversal"),
            "{path}: {msg}"
        );
    }
    assert_eq!(server.requests().len(), 0, "{:?}", server.requests());
    // a path under the prefix passes, normalized as it was checked
    run_probe(
        &area,
        &format!("try = \"http\"\nurl = \"{}/v1/a/../b\"", server.url()),
        &grants,
    )
    .expect("inside the prefix");
    let seen: Vec<String> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(seen, vec!["/v1/b".to_owned()]);
}

fn wasi_http_toml(server: &ApiServer, extra: &str, rest: &str) -> String {
    format!(
        "name = \"wh\"\ndataset = \"sb\"\n[connector]\nname = \"wasi_http_probe\"\n[config]\nauthority = \"127.0.0.1:{}\"\n{extra}\n[grants]\nallow_hosts = [\"{}/v1\"]\n{rest}",
        server.port,
        server.url()
    )
}

#[test]
fn wasi_http_holds_to_the_same_methods_headers_and_path_prefixes() {
    let server = ApiServer::start(|_| ApiResponse::raw(200, "[{\"id\": 1}]"));
    let area = Area::new();
    earlier_data(&area);
    let c = ("wasi_http_probe", sluice_bundled::WASI_HTTP_PROBE);
    for (extra, want) in [
        ("path = \"/v1/x\"\nmethod = \"TRACE\"", "HttpRequestDenied"),
        ("path = \"/v10/x\"", "HttpRequestDenied"),
        ("path = \"/v1/../admin\"", "HttpRequestDenied"),
        (
            "path = \"/v1/x\"\nheaders = [[\"proxy-authorization\", \"x\"]]",
            "header refused",
        ),
        (
            "path = \"/v1/x\"\nheaders = [[\"te\", \"trailers\"]]",
            "header refused",
        ),
    ] {
        let err = area
            .run(&wasi_http_toml(&server, extra, ""), c)
            .expect_err(extra);
        let msg = format!("{err:#}");
        assert!(
            msg.contains("`wasi_http_probe`") && msg.contains(want),
            "{extra}: {msg}"
        );
    }
    assert_eq!(server.requests().len(), 0, "{:?}", server.requests());
    intact(&area);
    // the same probe inside the prefix loads
    let s = area
        .run(&wasi_http_toml(&server, "path = \"/v1/x\"", ""), c)
        .expect("allowed");
    assert_eq!(s.tables["items"], 1);
}

// ---- 5. secrets stay with their origin

#[test]
fn secrets_do_not_follow_a_redirect_to_another_origin_in_any_placement() {
    const TOKEN: &str = "origin-bound-secret-7f3a";
    let other = ApiServer::start(|_| ApiResponse::raw(200, "[]"));
    let target = format!("{}/landing", other.url());
    let origin = ApiServer::start(move |_| ApiResponse::raw(302, "").header("Location", &target));
    for placement in [
        "scheme = \"bearer\"",
        "header = \"X-Api-Key\"",
        "query = \"api_key\"",
        "scheme = \"http_basic\"\nusername = \"bob\"",
    ] {
        let area = Area::new();
        earlier_data(&area);
        let rest = format!(
            "[grants]\nallow_hosts = [\"{o}\", \"{x}\"]\n[secrets.token]\nvalue = \"{TOKEN}\"\nhost = \"{o}\"\n{placement}\n",
            o = origin.url(),
            x = other.url()
        );
        run_probe(
            &area,
            &format!(
                "try = \"http\"\nurl = \"{}/start\"\nsecrets = [\"token\"]",
                origin.url()
            ),
            &rest,
        )
        .expect("the redirect is followed, without the secret");
        let landed = other.to("/landing");
        let last = landed.last().expect("the hop arrived");
        let seen = format!("{:?} {:?}", last.headers, last.query);
        assert!(
            !seen.contains(TOKEN) && !seen.contains("Basic "),
            "{placement}: {seen}"
        );
        // the origin did get it
        let first = origin.requests();
        let sent = format!(
            "{:?} {:?}",
            first.last().map(|r| &r.headers),
            first.last().map(|r| &r.query)
        );
        assert!(
            sent.contains(TOKEN) || sent.contains("Basic "),
            "{placement}: {sent}"
        );
    }
}

#[test]
fn a_secret_the_server_puts_into_a_cross_origin_redirect_is_refused() {
    const TOKEN: &str = "reflected-into-location-9";
    let other = ApiServer::start(|_| ApiResponse::raw(200, "[]"));
    let target = format!("{}/landing?stolen={TOKEN}", other.url());
    let origin = ApiServer::start(move |_| ApiResponse::raw(302, "").header("Location", &target));
    let area = Area::new();
    earlier_data(&area);
    let rest = format!(
        "[grants]\nallow_hosts = [\"{o}\", \"{x}\"]\n[secrets.token]\nvalue = \"{TOKEN}\"\nhost = \"{o}\"\nquery = \"api_key\"\n",
        o = origin.url(),
        x = other.url()
    );
    let msg = refused(
        &area,
        &format!(
            "try = \"http\"\nurl = \"{}/start\"\nsecrets = [\"token\"]",
            origin.url()
        ),
        &rest,
    );
    assert!(msg.contains("put secret `token` into a redirect"), "{msg}");
    assert!(!msg.contains(TOKEN), "{msg}");
    assert_eq!(other.requests().len(), 0);
    intact(&area);
}

#[test]
fn an_echoed_secret_never_reaches_the_dataset() {
    const TOKEN: &str = "echo-me-into-the-dataset-42";
    let server = ApiServer::start(|req| {
        let auth = req.header("authorization").unwrap_or("-").to_owned();
        ApiResponse::raw(200, format!("{{\"you sent\": \"{auth}\"}}")).header("X-Echo", &auth)
    });
    let area = Area::new();
    earlier_data(&area);
    let rest = format!(
        "[grants]\nallow_hosts = [\"{u}\"]\n[secrets.token]\nvalue = \"{TOKEN}\"\nhost = \"{u}\"\nscheme = \"bearer\"\n",
        u = server.url()
    );
    run_probe(
        &area,
        &format!("try = \"http_body\"\nurl = \"{}/me\"", server.url()),
        &rest,
    )
    .expect("loads, masked");
    // the body in the root table, the headers (a list) in its nested table
    let row: String = area
        .conn()
        .query_row(
            "select body || ' ' || (select string_agg(value, ' ') from sb.probe__headers) from sb.probe",
            [],
            |r| r.get(0),
        )
        .expect("the row");
    assert!(row.contains("x-echo: Bearer *"), "{row}");
    assert!(!row.contains(TOKEN), "{row}");
    assert!(
        row.contains(&format!("Bearer {}", "*".repeat(TOKEN.len()))),
        "{row}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn an_echoed_secret_over_wasi_http_is_masked_too() {
    const TOKEN: &str = "wasi-echo-secret-0123";
    let server = ApiServer::start(|req| {
        let auth = req.header("x-api-key").unwrap_or("-").to_owned();
        ApiResponse::raw(200, format!("[{{\"id\": 1, \"echo\": \"{auth}\"}}]"))
    });
    let area = Area::new();
    earlier_data(&area);
    let rest = format!(
        "[secrets.key]\nvalue = \"{TOKEN}\"\nhost = \"{}\"\nheader = \"X-Api-Key\"\n",
        server.url()
    );
    area.run(
        &wasi_http_toml(&server, "path = \"/v1/items\"", &rest),
        ("wasi_http_probe", sluice_bundled::WASI_HTTP_PROBE),
    )
    .expect("loads, masked");
    let echo: String = area
        .conn()
        .query_row("select echo from sb.items", [], |r| r.get(0))
        .expect("row");
    assert_eq!(echo, "*".repeat(TOKEN.len()));
    assert_eq!(server.requests()[0].header("x-api-key"), Some(TOKEN));
}

// ---- 6. limits on every path

#[test]
fn a_dependent_resource_is_held_to_the_page_and_state_limits() {
    let area = Area::new();
    earlier_data(&area);
    let msg = refused(&area, "child = \"big_page\"", "[limits]\nmax_page_mb = 1\n");
    assert!(
        msg.contains("connector `sandbox_probe` resource `child` page 1")
            && msg.contains("page size limit of 1 MiB"),
        "{msg}"
    );
    intact(&area);
    let msg = refused(&area, "child = \"big_state\"", "");
    assert!(
        msg.contains("resource `child` page 1") && msg.contains("state size limit of 1024 KiB"),
        "{msg}"
    );
    intact(&area);
}

#[test]
fn close_is_held_to_the_call_deadline() {
    let area = Area::new();
    earlier_data(&area);
    let started = std::time::Instant::now();
    let msg = refused(
        &area,
        "try = \"close_loop\"",
        "[limits]\ncall_timeout_secs = 1\n",
    );
    assert!(
        msg.contains("`sandbox_probe`")
            && msg.contains("`probe`")
            && msg.contains("close exceeded the 1000 ms time limit"),
        "{msg}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    intact(&area);
}

#[test]
fn a_guest_http_timeout_is_capped_by_the_pipeline() {
    let server = ApiServer::start(|_| {
        std::thread::sleep(std::time::Duration::from_secs(4));
        ApiResponse::raw(200, "[]")
    });
    let area = Area::new();
    earlier_data(&area);
    let started = std::time::Instant::now();
    let msg = refused(
        &area,
        &format!(
            "try = \"http\"\nurl = \"{}/slow\"\ntimeout_ms = 3600000",
            server.url()
        ),
        &format!(
            "[grants]\nallow_hosts = [\"{}\"]\n[limits]\nhttp_timeout_secs = 1\nhttp_retry_budget_secs = 1\n",
            server.url()
        ),
    );
    assert!(msg.contains("Timeout"), "{msg}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    intact(&area);
}

#[test]
fn wasi_http_bodies_are_capped() {
    let big = format!("[{}]", vec!["{\"id\": 1}"; 200_000].join(","));
    let server = ApiServer::start(move |_| ApiResponse::raw(200, big.clone()));
    let area = Area::new();
    earlier_data(&area);
    let err = area
        .run(
            &wasi_http_toml(
                &server,
                "path = \"/v1/big\"",
                "[limits]\nhttp_max_body_mb = 1\n",
            ),
            ("wasi_http_probe", sluice_bundled::WASI_HTTP_PROBE),
        )
        .expect_err("over the body cap");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("`wasi_http_probe`") && msg.contains("HttpResponseBodySize"),
        "{msg}"
    );
    intact(&area);
}

// ---- 7. schema explosion

fn files_toml(file: &Path, rest: &str) -> String {
    format!(
        "name = \"sb\"\ndataset = \"sb\"\n[connector]\nname = \"files\"\n[config]\npaths = [{p:?}]\ntable = \"wide\"\n[grants]\nallow_read_files = [{p:?}]\n{rest}",
        p = file.display().to_string()
    )
}

#[test]
fn a_page_past_the_column_cap_fails_or_is_discarded_under_a_contract() {
    let area = Area::new();
    earlier_data(&area);
    let data = area.path().join("data");
    std::fs::create_dir_all(&data).expect("dir");
    let file = data.join("wide.ndjson");
    let wide: serde_json::Map<String, serde_json::Value> = (0..2_000)
        .map(|i| (format!("c{i}"), serde_json::json!(i)))
        .collect();
    std::fs::write(
        &file,
        format!("{{\"id\": 1}}\n{}\n", serde_json::Value::Object(wide)),
    )
    .expect("write");
    let files = ("files", sluice_bundled::FILES.bytes);
    let err = area
        .run(&files_toml(&file, ""), files)
        .expect_err("over the cap");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("resource `wide` page 1")
            && msg.contains("record 2")
            && msg.contains("table `wide` past 1600 columns (limits.max_columns)"),
        "{msg}"
    );
    intact(&area);
    sluice_pipeline::abort_packages(&area.path().join("pipelines"), "sb").expect("set aside");
    // the cap is a setting
    let s = area
        .run(&files_toml(&file, "[limits]\nmax_columns = 2100\n"), files)
        .expect("within a raised cap");
    assert_eq!(s.tables["wide"], 2);
    // under discard_row the wide record is dropped and counted
    let area = Area::new();
    let s = area
        .run(
            &files_toml(
                &file,
                "[resources.wide]\nschema_contract = { columns = \"discard_row\" }\n",
            ),
            files,
        )
        .expect("discarded");
    assert_eq!(s.tables["wide"], 1);
    assert_eq!(s.discarded["wide"].rows, 1);
}

#[test]
fn a_record_that_would_create_too_many_tables_fails_naming_the_limit() {
    let area = Area::new();
    earlier_data(&area);
    let data = area.path().join("data");
    std::fs::create_dir_all(&data).expect("dir");
    let file = data.join("lists.json");
    let lists: serde_json::Map<String, serde_json::Value> = (0..30)
        .map(|i| (format!("l{i}"), serde_json::json!([1, 2])))
        .collect();
    std::fs::write(&file, format!("[{}]", serde_json::Value::Object(lists))).expect("write");
    let err = area
        .run(
            &files_toml(&file, "[limits]\nmax_tables = 10\n"),
            ("files", sluice_bundled::FILES.bytes),
        )
        .expect_err("over the table cap");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("resource `wide` page 1")
            && msg.contains("past 10 tables (limits.max_tables)"),
        "{msg}"
    );
    intact(&area);
}

#[test]
fn records_nested_too_deep_or_with_huge_keys_fail_naming_the_cap() {
    let area = Area::new();
    earlier_data(&area);
    let data = area.path().join("data");
    std::fs::create_dir_all(&data).expect("dir");
    let deep = format!("{}1{}", "{\"a\": ".repeat(70), "}".repeat(70));
    let long_key = format!("{{\"{}\": 1}}", "k".repeat(5_000));
    let files = ("files", sluice_bundled::FILES.bytes);
    for (name, record, want) in [
        (
            "deep",
            deep,
            "nest deeper than 64 levels (limits.max_nesting_depth)",
        ),
        (
            "keys",
            long_key,
            "longer than 1024 bytes (limits.max_identifier_bytes)",
        ),
    ] {
        let file = data.join(format!("{name}.ndjson"));
        std::fs::write(&file, format!("{{\"id\": 1}}\n{record}\n")).expect("write");
        let err = area.run(&files_toml(&file, ""), files).expect_err(name);
        let msg = format!("{err:#}");
        assert!(
            msg.contains("resource `wide` page 1")
                && msg.contains("record 2")
                && msg.contains(want),
            "{name}: {msg}"
        );
        assert!(msg.len() < 1_000, "{name}: the error stays readable");
        intact(&area);
        sluice_pipeline::abort_packages(&area.path().join("pipelines"), "sb").expect("set aside");
    }
    // both caps are settings
    let file = data.join("deep.ndjson");
    area.run(
        &files_toml(&file, "[limits]\nmax_nesting_depth = 100\n"),
        files,
    )
    .expect("within a raised cap");
}

// ---- 8. output hygiene

#[test]
fn terminal_controls_in_logs_and_errors_are_escaped() {
    let area = Area::new();
    earlier_data(&area);
    let (r, logs) = area.run_logged(
        &probe_toml("try = \"ansi\"", ""),
        &[],
        ("sandbox_probe", sluice_bundled::SANDBOX_PROBE),
    );
    let msg = format!("{:#}", r.expect_err("the probe errs"));
    let logged: Vec<&String> = logs.iter().map(|(_, m)| m).collect();
    for text in logged.iter().map(|s| s.as_str()).chain([msg.as_str()]) {
        assert!(
            !text.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{text:?}"
        );
    }
    assert!(
        logged
            .iter()
            .any(|m| m.contains("ok\\u{1b}[2J")
                && m.contains("\\rerror: fake line\\nsecond\\u{202e}")),
        "{logged:?}"
    );
    assert!(
        msg.contains("bad\\u{1b}]0;pwned\\u{7}\\r\\nerror: the run succeeded"),
        "{msg}"
    );
    intact(&area);
}

// ---- 9. grants

#[test]
fn a_file_grant_shows_that_file_and_nothing_beside_it() {
    let area = Area::new();
    let data = area.path().join("data");
    std::fs::create_dir_all(&data).expect("dir");
    let granted = data.join("granted.json");
    let sibling = data.join("sibling.json");
    std::fs::write(&granted, "[{\"id\": 1}]").expect("write");
    std::fs::write(&sibling, "[{\"id\": 2}]").expect("write");
    let files = ("files", sluice_bundled::FILES.bytes);
    let toml = |paths: &[&Path]| {
        let list: Vec<String> = paths
            .iter()
            .map(|p| format!("{:?}", p.display().to_string()))
            .collect();
        format!(
            "name = \"fg\"\ndataset = \"fg\"\n[connector]\nname = \"files\"\n[config]\npaths = [{}]\ntable = \"t\"\n[grants]\nallow_read_files = [{:?}]\n",
            list.join(", "),
            granted.display().to_string()
        )
    };
    let s = area
        .run(&toml(&[&granted]), files)
        .expect("the granted file loads");
    assert_eq!(s.tables["t"], 1);
    let err = area
        .run(&toml(&[&sibling]), files)
        .expect_err("not granted");
    let msg = format!("{err:#}");
    assert!(msg.contains("sibling.json"), "{msg}");
    assert_eq!(area.count("select count(*) from fg.t"), 1);
}

#[test]
fn a_grant_holding_the_pipeline_file_or_the_pipelines_folder_is_refused() {
    let area = Area::new();
    let dir = area.path().join("project");
    std::fs::create_dir_all(dir.join("data")).expect("dir");
    let file = dir.join("pipe.toml");
    std::fs::write(
        &file,
        "name = \"g\"\n[connector]\nname = \"synthetic\"\n[config]\nrows = 10\n[grants]\nallow_read = [\".\"]\n",
    )
    .expect("write");
    let mut spec = sluice_pipeline::PipelineSpec::from_file(&file, &[]).expect("spec");
    spec.destination = format!("duckdb:{}", area.db().display());
    let err = area
        .run_parsed(spec, ("synthetic", sluice_bundled::SYNTHETIC.bytes))
        .expect_err("holds the pipeline file");
    let msg = format!("{err:#}");
    assert!(msg.contains("contains the pipeline file"), "{msg}");
    // the area's folder holds the pipelines folder
    let toml = format!(
        "name = \"g\"\n[connector]\nname = \"synthetic\"\n[config]\nrows = 10\n[grants]\nallow_read = [{:?}]\n",
        area.path().display().to_string()
    );
    let msg = format!(
        "{:#}",
        area.run(&toml, ("synthetic", sluice_bundled::SYNTHETIC.bytes))
            .expect_err("overlaps the pipelines folder")
    );
    assert!(msg.contains("overlaps the pipelines folder"), "{msg}");
    // a data folder beside them is fine
    let toml = format!(
        "name = \"g\"\n[connector]\nname = \"synthetic\"\n[config]\nrows = 10\n[grants]\nallow_read = [{:?}]\n",
        dir.join("data").display().to_string()
    );
    area.run(&toml, ("synthetic", sluice_bundled::SYNTHETIC.bytes))
        .expect("a data folder");
}

#[test]
fn a_symlink_in_a_granted_directory_pointing_outside_is_not_followed() {
    let area = Area::new();
    let outside = area.path().join("outside");
    let data = area.path().join("granted");
    std::fs::create_dir_all(&outside).expect("dir");
    std::fs::create_dir_all(&data).expect("dir");
    std::fs::write(outside.join("secret.json"), "[{\"secret\": 1}]").expect("write");
    std::os::unix::fs::symlink(outside.join("secret.json"), data.join("link.json")).expect("link");
    let toml = format!(
        "name = \"sl\"\ndataset = \"sl\"\n[connector]\nname = \"files\"\n[config]\npaths = [{:?}]\ntable = \"t\"\n[grants]\nallow_read = [{:?}]\n",
        data.join("link.json").display().to_string(),
        data.display().to_string()
    );
    let err = area
        .run(&toml, ("files", sluice_bundled::FILES.bytes))
        .expect_err("the link leads outside the grant");
    let msg = format!("{err:#}");
    assert!(msg.contains("link.json"), "{msg}");
}
