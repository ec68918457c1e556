//! Outgoing HTTP from connectors over real loopback sockets: through the host's `http`
//! interface and through standard `wasi:http`, both decided by the pipeline's one policy.

use std::sync::atomic::Ordering;

use crate::support::{Area, Server};

const ITEMS: &str = r#"[{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]"#;

fn wasi_http(
    area: &Area,
    port: u16,
    allow: &str,
) -> Result<sluice_pipeline::RunSummary, sluice_pipeline::PipelineError> {
    let toml = format!(
        "name = \"wh\"\ndataset = \"wh\"\n[connector]\nname = \"wasi_http_probe\"\n[config]\nauthority = \"127.0.0.1:{port}\"\npath = \"/items\"\n[grants]\nallow_hosts = [{allow}]\n"
    );
    area.run(&toml, ("wasi_http_probe", sluice_bundled::WASI_HTTP_PROBE))
}

#[test]
fn wasi_http_client_reaches_an_allowed_host() {
    let server = Server::start(ITEMS);
    let area = Area::new();
    let s = wasi_http(
        &area,
        server.port,
        &format!("\"http://127.0.0.1:{}\"", server.port),
    )
    .expect("allowed");
    assert_eq!(s.tables["items"], 2);
    assert_eq!(area.count("select count(*) from wh.items"), 2);
    assert_eq!(server.hits.load(Ordering::Relaxed), 1);
    assert_eq!(s.http_requests, 1);
    // counted per resource in the summary (and so in trace.json and --json)
    assert_eq!(s.http["items"].requests, 1);
    assert_eq!(s.http["items"].denied, 0);
}

#[test]
fn wasi_http_client_is_denied_off_the_allow_list() {
    let server = Server::start(ITEMS);
    let area = Area::new();
    let err = wasi_http(&area, server.port, "\"http://127.0.0.1:9\"").expect_err("denied");
    let msg = err.to_string();
    assert!(
        msg.contains("`wasi_http_probe`") && msg.contains("HttpRequestDenied"),
        "{msg}"
    );
    assert_eq!(
        server.hits.load(Ordering::Relaxed),
        0,
        "the request never left the host"
    );
}

#[test]
fn host_http_interface_reaches_an_allowed_host() {
    let server = Server::start(ITEMS);
    let area = Area::new();
    let toml = format!(
        "name = \"hh\"\ndataset = \"hh\"\n[connector]\nname = \"probe\"\n[config]\ntry = \"http\"\nurl = \"http://127.0.0.1:{p}/x\"\n[grants]\nallow_hosts = [\"http://127.0.0.1:{p}\"]\n",
        p = server.port
    );
    let s = area
        .run(&toml, ("sandbox_probe", sluice_bundled::SANDBOX_PROBE))
        .expect("allowed");
    assert_eq!(s.tables["probe"], 1);
    assert_eq!(
        area.count("select count(*) from hh.probe where status = 200"),
        1
    );
    assert_eq!(server.hits.load(Ordering::Relaxed), 1);
}

#[test]
fn secrets_from_the_pipeline_reach_only_their_host_and_never_the_output() {
    const TOKEN: &str = "s3cr3t-t0ken-value";
    let server = Server::start(ITEMS);
    let area = Area::new();
    let toml = |host: &str| {
        format!(
            "name = \"sx\"\ndataset = \"sx\"\n[connector]\nname = \"probe\"\n[config]\ntry = \"http\"\nurl = \"http://127.0.0.1:{p}/x\"\nsecrets = [\"token\"]\n[grants]\nallow_hosts = [\"http://127.0.0.1:{p}\"]\n[secrets.token]\nvalue = \"{TOKEN}\"\nhost = \"{host}\"\nheader = \"Authorization\"\nprefix = \"Bearer \"\n",
            p = server.port
        )
    };
    let s = area
        .run(
            &toml(&format!("http://127.0.0.1:{}", server.port)),
            ("sandbox_probe", sluice_bundled::SANDBOX_PROBE),
        )
        .expect("allowed");
    assert_eq!(s.tables["probe"], 1);
    let seen = server.last_request.lock().expect("lock").clone();
    assert!(
        seen.to_ascii_lowercase()
            .contains(&format!("authorization: bearer {TOKEN}")),
        "{seen}"
    );
    // nothing the run produced holds the value: summary, trace, dataset
    assert!(!format!("{s:?}").contains(TOKEN));
    let trace =
        std::fs::read_to_string(area.path().join("pipelines/sx/trace.json")).expect("trace");
    assert!(!trace.contains(TOKEN));
    assert_eq!(
        area.count(&format!(
            "select count(*) from sx.probe where cast(status as varchar) like '%{TOKEN}%'"
        )),
        0
    );
    // granted for another host: the host refuses to send it, naming the secret, not its value
    let area = Area::new();
    let err = area
        .run(
            &toml("https://api.example.com"),
            ("sandbox_probe", sluice_bundled::SANDBOX_PROBE),
        )
        .expect_err("secret not for this host");
    let msg = format!("{err} {err:?}");
    assert!(msg.contains("secret `token`"), "{msg}");
    assert!(!msg.contains(TOKEN), "{msg}");
    // a secret from a missing environment variable names the variable
    let area = Area::new();
    let err = area
        .run(
            &toml("x").replace(
                &format!("value = \"{TOKEN}\""),
                "env = \"SLUICE_TEST_UNSET_SECRET_VAR\"",
            ),
            ("sandbox_probe", sluice_bundled::SANDBOX_PROBE),
        )
        .expect_err("unset env");
    assert!(
        err.to_string().contains("SLUICE_TEST_UNSET_SECRET_VAR"),
        "{err}"
    );
}

/// The probe making `repeat` GETs to the server with pipeline `[limits]` lines `limits`.
fn probe_repeat(
    area: &Area,
    server: &Server,
    repeat: u32,
    limits: &str,
) -> Result<sluice_pipeline::RunSummary, sluice_pipeline::PipelineError> {
    let toml = format!(
        "name = \"rl\"\ndataset = \"rl\"\n[connector]\nname = \"probe\"\n[config]\ntry = \"http\"\nurl = \"http://127.0.0.1:{p}/x\"\nrepeat = {repeat}\n[grants]\nallow_hosts = [\"http://127.0.0.1:{p}\"]\n[limits]\n{limits}\n",
        p = server.port
    );
    area.run(&toml, ("sandbox_probe", sluice_bundled::SANDBOX_PROBE))
}

fn gaps_ms(server: &Server) -> Vec<u128> {
    let t = server.times.lock().expect("times").clone();
    t.windows(2)
        .map(|w| w[1].duration_since(w[0]).as_millis())
        .collect()
}

#[test]
fn a_per_host_rate_limit_paces_requests() {
    let server = Server::start(ITEMS);
    let area = Area::new();
    let s = probe_repeat(
        &area,
        &server,
        6,
        "http_rate_per_second = { \"127.0.0.1\" = 5.0 }",
    )
    .expect("paced run");
    assert_eq!(s.http["probe"].requests, 6);
    let gaps = gaps_ms(&server);
    assert_eq!(gaps.len(), 5);
    // 5 per second: the server sees them at least ~200 ms apart
    assert!(gaps.iter().all(|g| *g >= 180), "{gaps:?}");
    // a bad rate is a configuration error, not a silent no-limit
    let e = probe_repeat(&area, &server, 1, "http_rate_per_second = { \"x\" = 0.0 }")
        .expect_err("zero rate");
    assert!(e.to_string().contains("http_rate_per_second `x`"), "{e}");
}

#[test]
fn retry_after_is_honoured_within_the_retry_budget() {
    // 429 with Retry-After in seconds, then 503 with an HTTP date, then success
    let server = Server::scripted(vec![
        (429, "retry-after: 1\r\n", "{}"),
        (503, "retry-after: Thu, 01 Jan 1970 00:00:00 GMT\r\n", "{}"),
        (200, "", ITEMS),
    ]);
    let area = Area::new();
    let s = probe_repeat(&area, &server, 1, "").expect("retried to success");
    assert_eq!((s.http["probe"].requests, s.http["probe"].retries), (3, 2));
    assert_eq!(
        area.count("select count(*) from rl.probe where status = 200"),
        1
    );
    let gaps = gaps_ms(&server);
    assert!(gaps[0] >= 950, "Retry-After: 1 waited {gaps:?}");

    // a Retry-After beyond the budget ends the retries at once: the guest gets the 429
    let server = Server::scripted(vec![(429, "retry-after: 30\r\n", "{}")]);
    let area = Area::new();
    let started = std::time::Instant::now();
    let s = probe_repeat(&area, &server, 1, "http_retry_budget_secs = 2").expect("run");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(server.hits.load(Ordering::Relaxed), 1);
    assert_eq!(
        area.count("select count(*) from rl.probe where status = 429"),
        1
    );
    assert_eq!(s.http["probe"].retries, 0);
}

#[test]
fn wasi_http_requests_get_oauth2_tokens_from_the_host() {
    use crate::api_server::{ApiResponse, ApiServer};
    const ACCESS: &str = "wasi-access-token-777";
    let server = ApiServer::start(|req| match req.path.as_str() {
        "/oauth/token"
            if String::from_utf8_lossy(&req.body).contains("client_secret=cs-wasi-555") =>
        {
            ApiResponse::json(&serde_json::json!({"access_token": ACCESS, "expires_in": 60}))
        }
        "/items" if req.header("authorization") == Some(&format!("Bearer {ACCESS}")) => {
            ApiResponse::raw(200, ITEMS)
        }
        _ => ApiResponse::raw(401, "[]"),
    });
    let area = Area::new();
    let toml = format!(
        "name = \"wo\"\ndataset = \"wo\"\n[connector]\nname = \"wasi_http_probe\"\n[config]\nauthority = \"127.0.0.1:{p}\"\npath = \"/items\"\n[grants]\nallow_hosts = [\"{u}\"]\n[secrets.client]\nvalue = \"cs-wasi-555\"\nhost = \"{u}\"\nscheme = \"oauth2_client_credentials\"\ntoken_url = \"{u}/oauth/token\"\nclient_id = \"wasi\"\n",
        p = server.port,
        u = server.url()
    );
    let s = area
        .run(&toml, ("wasi_http_probe", sluice_bundled::WASI_HTTP_PROBE))
        .expect("authorized through the host");
    assert_eq!(s.tables["items"], 2);
    assert_eq!(server.to("/oauth/token").len(), 1);
    assert_eq!(server.to("/items").len(), 1);
    let out = serde_json::to_string(&s).expect("json");
    assert!(
        !out.contains(ACCESS) && !out.contains("cs-wasi-555"),
        "{out}"
    );
}
