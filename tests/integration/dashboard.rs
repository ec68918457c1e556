//! `sluice dashboard` in a real browser: headless Chromium driven over WebDriver opens every
//! page for a pipeline on DuckDB and one on PostgreSQL and checks what it shows — runs with
//! a chart, loads, tables with counts, a paged preview, schema versions, state, a query
//! answered, a refused query's error, packages, the last run and the connector. Screenshots
//! are kept under the target dir (`target/tmp/dashboard/`). The guard is checked over raw
//! HTTP: another `Host`, a missing token.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;

use crate::dataset::{folder_pipeline, two_loads_of};
use crate::pg::PgServer;
use crate::support::{Area, files_pipeline};
use crate::webdriver::Browser;

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// The status line of a raw HTTP/1.1 request to the dashboard.
fn raw_status(port: u16, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(request.as_bytes()).expect("send");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.lines().next().unwrap_or_default().to_owned()
}

/// Every page of `name`'s dashboard, checked.
fn pages(b: &Browser, base: &str, name: &str, runs: usize, engine_error: (&str, &str)) {
    let shot = |page: &str| b.screenshot(&shots().join(format!("{name}-{page}.png")));
    b.goto(&format!("{base}/#/p/{name}/loads"));
    b.wait_for("svg#runs-chart");
    let bars = b.count("svg#runs-chart rect.bar");
    assert_eq!(bars, runs, "one bar per run");
    b.wait_text("table.loads", "0");
    assert_eq!(b.count("table.loads tbody tr"), 2, "two committed loads");
    shot("loads");

    b.goto(&format!("{base}/#/p/{name}/tables"));
    let tables = b.wait_text("table.tables", "121");
    assert!(tables.contains('t'), "{tables}");
    shot("tables");

    b.goto(&format!("{base}/#/p/{name}/tables/t"));
    b.wait_text(".pager", "rows 1–50");
    assert_eq!(b.count("table.preview tbody tr"), 50);
    b.click("#next-page");
    b.wait_text(".pager", "rows 51–100");
    b.click("#next-page");
    b.wait_text(".pager", "rows 101–121");
    assert_eq!(b.count("table.preview tbody tr"), 21);
    assert_eq!(
        b.script("return document.getElementById('next-page').disabled"),
        serde_json::Value::Bool(true)
    );
    shot("preview");

    b.goto(&format!("{base}/#/p/{name}/schema"));
    let versions = b.wait_text("table.versions", "+ t: b");
    assert!(versions.contains("+ table t"), "{versions}");
    assert!(b.text("main").contains("bigint"));
    shot("schema");

    b.goto(&format!("{base}/#/p/{name}/state"));
    b.wait_text("table.state", "files");
    shot("state");

    b.goto(&format!("{base}/#/p/{name}/query"));
    b.type_into("#sql", "select count(*) as n, max(b) as top from t");
    b.click("#run-query");
    let answer = b.wait_text("#query-result table.result", "121");
    assert!(answer.contains("2.5"), "{answer}");
    shot("query");
    b.type_into("#sql", "delete from t");
    b.click("#run-query");
    b.wait_text("#query-result .error", "read-only");
    b.type_into("#sql", engine_error.0);
    b.click("#run-query");
    b.wait_text("#query-result .error", engine_error.1);
    shot("query-error");

    b.goto(&format!("{base}/#/p/{name}/packages"));
    if name == "duck" {
        let pending = b.wait_text("table.pending", "frozen");
        assert!(pending.contains("abort-packages"), "{pending}");
        let aborted = b.wait_text("table.aborted", "set aside by");
        assert!(aborted.contains("frozen"), "{aborted}");
        shot("packages");
    } else {
        b.wait_text("main", "Pending (0)");
    }

    b.goto(&format!("{base}/#/p/{name}/trace"));
    b.wait_text("main", "Rows per table");
    shot("trace");

    b.goto(&format!("{base}/#/p/{name}/connector"));
    b.wait_text("table.imports", "sluice:connector");
    let grants = b.wait_text("table.grants", "read");
    assert!(grants.contains(&format!("{name}-")), "{grants}");
    let digest = b.text("table.connector");
    assert!(digest.split_whitespace().any(|w| w.len() == 64), "{digest}");
    shot("connector");
}

/// A run of `duck` whose new file adds column `x` under a frozen contract: it fails at
/// normalization and leaves its package pending.
fn frozen_load(area: &Area) {
    let dir = area.path().join("duck-data");
    std::fs::write(dir.join("three.ndjson"), "{\"id\": 122, \"x\": 1}\n").expect("write");
    let toml = folder_pipeline(&dir, "duck");
    let frozen =
        sluice_schema::SchemaContract::from_json(&serde_json::json!("freeze")).expect("contract");
    let dest = format!("duckdb:{}", area.db().display());
    let c = ("files", sluice_bundled::FILES.bytes);
    let e = area
        .run_with(&toml, c, &dest, Some(frozen))
        .expect_err("the contract refuses column x");
    assert!(e.to_string().contains("frozen"), "{e}");
}

#[test]
fn the_dashboard_shows_pipelines_on_duckdb_and_postgres_in_a_real_browser() {
    let pg = PgServer::start();
    let area = Area::new();
    two_loads_of(&area, "duck", &format!("duckdb:{}", area.db().display()));
    // a run that fails is in the history, with its error
    let missing = area.path().join("duck-missing.ndjson");
    let c = ("files", sluice_bundled::FILES.bytes);
    assert!(area.run(&files_pipeline("duck", &missing, "t"), c).is_err());
    // a load a frozen contract refuses stays pending with its error; set aside, it is aborted
    // with why; refused again, pending again
    frozen_load(&area);
    sluice_pipeline::abort_packages(&area.path().join("pipelines"), "duck").expect("abort");
    frozen_load(&area);
    two_loads_of(&area, "pgds", &pg.url());
    let dash = sluice_dashboard::start(sluice_dashboard::Options {
        pipelines_dir: area.path().join("pipelines"),
        pipelines: Vec::new(),
        port: 0,
    })
    .expect("dashboard starts");
    let base = format!("http://127.0.0.1:{}", dash.port);

    // the guard, over raw HTTP: another Host (DNS rebinding), no token, a wrong token
    let api = |host: &str, token: &str| {
        raw_status(
            dash.port,
            &format!(
                "GET /api/pipelines HTTP/1.1\r\nHost: {host}\r\nX-Sluice-Token: {token}\r\nConnection: close\r\n\r\n"
            ),
        )
    };
    let token = dash.url.rsplit("token=").next().expect("token").to_owned();
    let own = format!("127.0.0.1:{}", dash.port);
    assert!(api(&own, &token).contains("200"), "{}", api(&own, &token));
    assert!(api(&format!("rebind.example:{}", dash.port), &token).contains("421"));
    assert!(api(&own, "").contains("401"));
    assert!(api(&own, &"0".repeat(48)).contains("401"));

    let b = Browser::start();
    b.goto(&dash.url);
    let list = b.wait_text("table.pipelines", "pgds");
    assert!(
        list.contains("duck") && list.contains("failed") && list.contains("ok"),
        "{list}"
    );
    // the token left the address bar
    let href = b.script("return location.href");
    assert!(
        !href.as_str().unwrap_or_default().contains("token"),
        "{href}"
    );
    b.screenshot(&shots().join("pipelines.png"));

    pages(
        &b,
        &base,
        "duck",
        5,
        (
            "select * from read_text('/etc/passwd')",
            "disabled by configuration",
        ),
    );
    // the failed run: a red bar, and its error in the runs table
    b.goto(&format!("{base}/#/p/duck/loads"));
    b.wait_for("svg#runs-chart rect.bar.failed");
    b.wait_text("table.runs", "duck-missing.ndjson");
    pages(
        &b,
        &base,
        "pgds",
        2,
        ("select * from no_such_table", "does not exist"),
    );

    // an unknown pipeline is an error on the page, not a blank
    b.goto(&format!("{base}/#/p/nope/tables"));
    b.wait_text(".error", "no pipeline `nope`");

    // nothing was changed
    assert_eq!(pg.query("select count(*) from pgds_dataset.t"), ["121"]);
    assert_eq!(area.count("select count(*) from duck_dataset.t"), 121);
}
