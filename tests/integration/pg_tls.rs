//! PostgreSQL over TLS (rustls) against a real server that takes TCP sessions over TLS only,
//! with a throwaway CA: each `sslmode` does what libpq's does, certificate failures name the
//! destination (never the password) and the reason, and nothing is loaded without TLS.

use crate::certs::TestCa;
use crate::pg::PgServer;
use crate::support::{Area, files_pipeline};

/// Load one row into `url`; when it fails, the error with its causes as the CLI prints it.
fn load(url: &str) -> Result<(), String> {
    let area = Area::new();
    let file = area.path().join("t.json");
    std::fs::write(&file, "[{\"id\": 1}]").expect("write");
    let toml = files_pipeline("tls", &file, "t");
    let err = match area.run_to(&toml, ("files", sluice_bundled::FILES.bytes), url) {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    Err(format!("{text} {err:?}"))
}

#[test]
fn sessions_follow_sslmode_against_a_tls_only_server() {
    let ca = TestCa::new();
    let pg = PgServer::start_tls(&ca);
    let port = pg.port;
    let root = ca.ca.display().to_string();
    let other = ca.other_ca.display().to_string();
    let at = |host: &str, query: &str| {
        format!("postgres://postgres:pw0rd@{host}:{port}/postgres?{query}")
    };

    // loads: TLS negotiated (the server refuses anything else), verified where asked
    for query in [
        String::new(),
        "sslmode=prefer".into(),
        "sslmode=require".into(),
        format!("sslmode=require&sslrootcert={root}"),
        format!("sslmode=verify-ca&sslrootcert={root}"),
    ] {
        load(&at("127.0.0.1", &query)).unwrap_or_else(|e| panic!("`{query}`: {e}"));
    }
    load(&at(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={root}"),
    ))
    .expect("verify-full for the certificate's own host name");
    let rows = pg.query("select count(*) from tls_dataset.t");
    assert_eq!(rows, ["6"], "six runs, one row each");

    // refused, each with its reason, naming the destination, none showing the password
    for (host, query, reason) in [
        ("127.0.0.1", "sslmode=disable".to_owned(), "no encryption"),
        (
            "127.0.0.1",
            format!("sslmode=verify-full&sslrootcert={root}"),
            "not valid for name",
        ),
        (
            "localhost",
            format!("sslmode=verify-full&sslrootcert={other}"),
            "UnknownIssuer",
        ),
        (
            "127.0.0.1",
            format!("sslmode=verify-ca&sslrootcert={other}"),
            "UnknownIssuer",
        ),
        ("127.0.0.1", "sslmode=verify-ca".to_owned(), "UnknownIssuer"),
        (
            "127.0.0.1",
            "sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem".to_owned(),
            "sslrootcert `/nonexistent/ca.pem`",
        ),
    ] {
        let err = load(&at(host, &query)).expect_err(&query);
        assert!(
            err.to_lowercase().contains(&reason.to_lowercase()),
            "{query}: {err}"
        );
        assert!(!err.contains("pw0rd"), "{err}");
        let shown = format!("postgres://postgres@{host}:{port}/postgres");
        assert!(err.contains(&shown), "{query}: {err}");
    }
    assert_eq!(pg.query("select count(*) from tls_dataset.t"), ["6"]);
}

#[test]
fn a_server_without_tls_takes_prefer_and_refuses_require() {
    let pg = PgServer::start();
    let url = |query: &str| format!("postgres://postgres@127.0.0.1:{}/postgres?{query}", pg.port);
    load(&url("sslmode=prefer")).expect("prefer falls back to plain TCP");
    load(&url("sslmode=disable")).expect("disable");
    let err = load(&url("sslmode=require")).expect_err("require needs TLS");
    assert!(err.contains("TLS") || err.contains("tls"), "{err}");
    assert_eq!(pg.query("select count(*) from tls_dataset.t"), ["2"]);
}

#[test]
fn a_client_certificate_is_presented_when_the_server_asks() {
    let ca = TestCa::new();
    let pg = PgServer::start_tls_client_auth(&ca);
    let root = ca.ca.display();
    let url = |client: Option<&(std::path::PathBuf, std::path::PathBuf)>| {
        let mut u = format!(
            "postgres://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={root}",
            pg.port
        );
        if let Some((cert, key)) = client {
            u.push_str(&format!(
                "&sslcert={}&sslkey={}",
                cert.display(),
                key.display()
            ));
        }
        u
    };
    load(&url(Some(&ca.client))).expect("the CA's client certificate for user postgres");
    let err = load(&url(None)).expect_err("no client certificate");
    assert!(err.contains("certificate"), "{err}");
    let err = load(&url(Some(&ca.other_client))).expect_err("a certificate of another CA");
    assert!(err.contains("UnknownCA"), "the server's alert: {err}");
    let missing = (ca.client.0.clone(), "/nonexistent/client.key".into());
    let err = load(&url(Some(&missing))).expect_err("no key file");
    assert!(err.contains("sslkey `/nonexistent/client.key`"), "{err}");
    assert_eq!(pg.query("select count(*) from tls_dataset.t"), ["1"]);
}
