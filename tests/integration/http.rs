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
