//! Compressed responses over real loopback HTTP: the host asks for gzip, deflate, brotli and
//! zstd, decodes what the server sends before the connector (and its body cap) sees it, so a
//! small compressed body that inflates past `limits.http_max_body_mb` stops at the cap.

use std::io::Write as _;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::api_server::{ApiResponse, ApiServer};
use crate::support::Area;

const REST: (&str, &[u8]) = ("rest_api", sluice_bundled::REST_API.bytes);
const ENCODINGS: [&str; 5] = ["identity", "gzip", "deflate", "br", "zstd"];

fn encode(encoding: &str, body: &[u8]) -> Vec<u8> {
    match encoding {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(body).expect("gzip");
            e.finish().expect("gzip")
        }
        // HTTP's `deflate` is the zlib format
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(body).expect("deflate");
            e.finish().expect("deflate")
        }
        "br" => {
            let mut out = Vec::new();
            let mut e = brotli::CompressorWriter::new(&mut out, 4096, 9, 22);
            e.write_all(body).expect("brotli");
            drop(e);
            out
        }
        "zstd" => zstd::encode_all(body, 19).expect("zstd"),
        _ => body.to_vec(),
    }
}

fn rows() -> Value {
    Value::Array(
        (1..=400)
            .map(
                |i| json!({"id": i, "title": format!("issue {i}: the same words again and again")}),
            )
            .collect(),
    )
}

fn pipeline(server: &ApiServer, resources: &str, limits: &str) -> String {
    format!(
        "name = \"cz\"\ndataset = \"cz\"\n[connector]\nname = \"rest_api\"\n[grants]\nallow_hosts = [\"{base}\"]\n[limits]\nhttp_retry_budget_secs = 5\n{limits}\n[config.client]\nbase_url = \"{base}/api/\"\n{resources}",
        base = server.url()
    )
}

#[test]
fn every_encoding_loads_the_same_rows_as_a_plain_response() {
    let plain = serde_json::to_vec(&rows()).expect("json");
    let bodies: Arc<Vec<(String, Vec<u8>)>> = Arc::new(
        ENCODINGS
            .iter()
            .map(|e| (e.to_string(), encode(e, &plain)))
            .collect(),
    );
    for (e, body) in bodies.iter().skip(1) {
        assert!(body.len() * 5 < plain.len(), "{e}: {} bytes", body.len());
    }
    let served = bodies.clone();
    let server = ApiServer::start(move |req| {
        let name = req.path.trim_start_matches("/api/");
        let Some((e, body)) = served.iter().find(|(e, _)| e == name) else {
            return ApiResponse::raw(404, "no such encoding");
        };
        let r = ApiResponse::raw(200, body.clone()).header("content-type", "application/json");
        if e == "identity" {
            r
        } else {
            r.header("content-encoding", e)
        }
    });
    let resources: String = ENCODINGS
        .iter()
        .map(|e| format!("[[config.resources]]\nname = \"t_{e}\"\nendpoint = {{ path = \"{e}\", paginator = \"single_page\" }}\n"))
        .collect();
    let area = Area::new();
    let s = area
        .run(&pipeline(&server, &resources, ""), REST)
        .expect("every encoding loads");
    let plain_rows = area.count("select count(*) from cz.t_identity");
    assert_eq!(plain_rows, 400);
    for e in ENCODINGS {
        assert_eq!(s.tables[&format!("t_{e}")], 400, "{e}");
        let same = area.count(&format!(
            "select count(*) from (select id, title from cz.t_{e} intersect select id, title from cz.t_identity)"
        ));
        assert_eq!(same, 400, "{e}: rows differ from the plain response");
    }
    for req in server.requests() {
        let accepted = req.header("accept-encoding").unwrap_or_default().to_owned();
        for e in ["gzip", "deflate", "br", "zstd"] {
            assert!(
                accepted.contains(e),
                "accept-encoding `{accepted}` lacks {e}"
            );
        }
    }
}

#[test]
fn a_decompression_bomb_stops_at_the_body_cap() {
    // 256 MiB of spaces, about 250 KiB on the wire
    let bomb = Arc::new(encode("gzip", &vec![b' '; 256 << 20]));
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    let served = bomb.clone();
    let server = ApiServer::start(move |_| {
        ApiResponse::raw(200, served.as_slice().to_vec())
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
    });
    let resources = "[[config.resources]]\nname = \"bomb\"\nendpoint = { path = \"bomb\", paginator = \"single_page\" }\n";
    let area = Area::new();
    let err = area
        .run(&pipeline(&server, resources, "http_max_body_mb = 8"), REST)
        .expect_err("the inflated body is over the cap");
    let msg = format!("{err}");
    assert!(msg.contains("resource `bomb`"), "names the resource: {msg}");
    assert!(
        msg.contains("exceeds the size cap (8392704 bytes)"),
        "{msg}"
    );
    assert!(server.requests().len() <= 3, "not retried forever");
}

/// `wasi:http` goes through the same client: a gzip response reaches the guest decoded.
#[test]
fn wasi_http_guests_get_decoded_bodies() {
    let plain = serde_json::to_vec(&rows()).expect("json");
    let body = encode("gzip", &plain);
    let server = ApiServer::start(move |_| {
        ApiResponse::raw(200, body.clone())
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
    });
    let authority = server.url().trim_start_matches("http://").to_owned();
    let toml = format!(
        "name = \"wz\"\ndataset = \"wz\"\n[connector]\nname = \"wasi_http_probe\"\n[config]\nauthority = \"{authority}\"\npath = \"/items\"\n[grants]\nallow_hosts = [\"{}\"]\n",
        server.url()
    );
    let area = Area::new();
    let s = area
        .run(&toml, ("wasi_http_probe", sluice_bundled::WASI_HTTP_PROBE))
        .expect("decoded by the host");
    assert_eq!(s.tables["items"], 400);
    assert_eq!(area.count("select count(distinct id) from wz.items"), 400);
}
