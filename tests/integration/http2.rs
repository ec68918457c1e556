//! HTTP/2 where the server offers it: an HTTP/2 + HTTP/1.1 server over TLS on loopback (hyper,
//! ALPN `h2` first) serves a paged API, and every request of a `rest_api` run reaches it as
//! HTTP/2. Run in a child process whose `SSL_CERT_FILE` names the test CA (the host's client
//! trusts the system's roots and that file, as it does in production).

use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::support::Area;

type Versions = Arc<Mutex<Vec<String>>>;

/// Serve `https://localhost:<port>` with `cert`/`key`, answering `/api/items?page=N` (three
/// pages of two items, a `next` link), recording each request's HTTP version.
fn serve(cert: &str, key: &str, versions: Versions) -> u16 {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("cert")
        .map(|c| c.expect("cert pem"))
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).expect("key");
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let port = std_listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, versions) = (acceptor.clone(), versions.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| {
                        let versions = versions.clone();
                        async move { Ok::<_, std::convert::Infallible>(answer(&req, &versions, port)) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });
    });
    port
}

fn answer(
    req: &hyper::Request<hyper::body::Incoming>,
    versions: &Versions,
    port: u16,
) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    if let Ok(mut v) = versions.lock() {
        v.push(format!("{:?}", req.version()));
    }
    let page: i64 = req
        .uri()
        .query()
        .and_then(|q| q.strip_prefix("page="))
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let next = (page < 3).then(|| format!("https://localhost:{port}/api/items?page={}", page + 1));
    let items: Vec<_> = (2 * page - 1..=2 * page)
        .map(|id| json!({"id": id}))
        .collect();
    let body = json!({"items": items, "next": next}).to_string();
    hyper::Response::new(http_body_util::Full::new(hyper::body::Bytes::from(body)))
}

/// The child: runs the pipeline against the server and prints the versions it saw.
#[test]
#[ignore = "started by requests_go_over_http2_where_the_server_offers_it with SSL_CERT_FILE set"]
fn http2_child() {
    let cert = std::env::var("SLUICE_TEST_H2_CERT").expect("cert path");
    let key = std::env::var("SLUICE_TEST_H2_KEY").expect("key path");
    let versions = Versions::default();
    let port = serve(&cert, &key, versions.clone());
    let base = format!("https://localhost:{port}");
    let toml = format!(
        "name = \"h2\"\ndataset = \"h2\"\n[connector]\nname = \"rest_api\"\n[grants]\nallow_hosts = [\"{base}\"]\nallow_private_addresses = true\n[config.client]\nbase_url = \"{base}/api/\"\n[[config.resources]]\nname = \"items\"\nendpoint = {{ path = \"items\", data_selector = \"items\", paginator = {{ type = \"json_link\", next_url_path = \"next\" }} }}\n"
    );
    let area = Area::new();
    let s = area
        .run(&toml, ("rest_api", sluice_bundled::REST_API.bytes))
        .expect("runs over TLS");
    assert_eq!(s.tables.get("items"), Some(&6));
    let seen = versions.lock().map(|v| v.clone()).unwrap_or_default();
    println!("VERSIONS {}", seen.join(","));
}

#[test]
fn requests_go_over_http2_where_the_server_offers_it() {
    let ca = crate::certs::TestCa::new();
    let out = crate::support::child_test("http2::http2_child")
        .env("SSL_CERT_FILE", &ca.ca)
        .env("SLUICE_TEST_H2_CERT", &ca.server_cert)
        .env("SLUICE_TEST_H2_KEY", &ca.server_key)
        .output()
        .expect("child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let versions: Vec<&str> = stdout
        .lines()
        .find_map(|l| l.split("VERSIONS ").nth(1))
        .expect("the child reports versions")
        .split(',')
        .collect();
    assert_eq!(versions, vec!["HTTP/2.0"; 3], "{stdout}");
}
