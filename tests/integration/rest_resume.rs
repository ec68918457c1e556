//! A REST run that fails deep in a pagination keeps what it extracted: the pages before the
//! failure load with the state of the last one, and the next run goes on from the next page,
//! not from page 1 — every row exactly once. Where keeping part of a resource could lose or
//! double rows (`replace`, a cursor whose rows come out of order), nothing is kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::{Value, json};

use crate::api_server::{ApiResponse, ApiServer};
use crate::support::Area;

const REST: (&str, &[u8]) = ("rest_api", sluice_bundled::REST_API.bytes);
const PAGES: i64 = 8;

/// Events in 8 pages of 3 (ids ascending, or descending with `?order=desc`); the page named
/// by `fail_at` answers 400 while it is set; pages from `gone_from` on answer 404.
fn events(fail_at: Arc<AtomicI64>) -> ApiServer {
    events_until(fail_at, Arc::new(AtomicI64::new(0)))
}

fn events_until(fail_at: Arc<AtomicI64>, gone_from: Arc<AtomicI64>) -> ApiServer {
    ApiServer::start(move |req| {
        let page: i64 = req.param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        if page == fail_at.load(Ordering::SeqCst) {
            return ApiResponse::raw(400, r#"{"message": "the index is rebuilding"}"#);
        }
        let gone = gone_from.load(Ordering::SeqCst);
        if gone > 0 && page >= gone {
            return ApiResponse::raw(404, r#"{"message": "no such page"}"#);
        }
        let desc = req.param("order") == Some("desc");
        let ids: Vec<i64> = (3 * (page - 1) + 1..=3 * page)
            .map(|i| if desc { 3 * PAGES + 1 - i } else { i })
            .collect();
        let rows: Vec<Value> = ids
            .iter()
            .map(|id| json!({"id": id, "kind": "click", "at": format!("2024-01-01T00:00:{:02}Z", id)}))
            .collect();
        ApiResponse::json(&json!({"data": rows, "total_pages": PAGES}))
    })
}

fn pipeline(server: &ApiServer, resource: &str) -> String {
    format!(
        r#"name = "ev"
dataset = "ev"
[connector]
name = "rest_api"
[grants]
allow_hosts = ["{base}"]
[limits]
http_retry_budget_secs = 5
[config.client]
base_url = "{base}/api/"
paginator = {{ type = "page_number", page_param = "page", base_page = 1, total_path = "total_pages" }}
[[config.resources]]
{resource}
"#,
        base = server.url()
    )
}

fn pages_asked(server: &ApiServer, from: usize) -> Vec<String> {
    server.requests()[from..]
        .iter()
        .map(|r| r.param("page").unwrap_or("-").to_owned())
        .collect()
}

#[test]
fn a_run_failing_on_page_5_keeps_pages_1_to_4_and_the_next_run_goes_on_from_page_5() {
    let fail_at = Arc::new(AtomicI64::new(5));
    let server = events(fail_at.clone());
    let area = Area::new();
    // append, no key, no cursor: only the resume point keeps rows from loading twice
    let toml = pipeline(
        &server,
        "name = \"events\"\nendpoint = { path = \"events\", data_selector = \"data\" }",
    );
    let (r, logs) = area.run_logged(&toml, &[], REST);
    let err = r.expect_err("page 5 fails");
    assert!(err.to_string().contains("400"), "{err}");
    assert!(
        logs.iter().any(|(level, m)| level == "warn"
            && m.contains("what came before the failure is loaded (events: 4 pages")),
        "{logs:?}"
    );
    assert_eq!(area.count("select count(*) from ev.events"), 12);
    assert_eq!(area.count("select max(id) from ev.events"), 12);

    fail_at.store(0, Ordering::SeqCst);
    let before = server.requests().len();
    let s = area.run(&toml, REST).expect("the next run");
    assert_eq!(pages_asked(&server, before), vec!["5", "6", "7", "8"]);
    assert_eq!(s.tables.get("events"), Some(&12));
    assert_eq!(area.count("select count(*) from ev.events"), 24);
    assert_eq!(area.count("select count(distinct id) from ev.events"), 24);

    // a finished run leaves no resume point: the run after starts from page 1
    let before = server.requests().len();
    area.run(&toml, REST).expect("a third run");
    assert_eq!(
        pages_asked(&server, before).first().map(String::as_str),
        Some("1")
    );
}

#[test]
fn nothing_is_kept_where_part_of_a_resource_would_lose_or_double_rows() {
    let fail_at = Arc::new(AtomicI64::new(5));
    let server = events(fail_at.clone());
    // replace: part of the rows would replace the whole table
    let area = Area::new();
    let replace = pipeline(
        &server,
        "name = \"events\"\nwrite_disposition = \"replace\"\nendpoint = { path = \"events\", data_selector = \"data\" }",
    );
    area.run(&replace, REST).expect_err("page 5 fails");
    assert_eq!(
        area.count("select count(*) from information_schema.tables where table_schema = 'ev' and table_name = 'events'"),
        0
    );
    // rows newest first: the cursor's last value after page 4 says nothing of page 5
    let area = Area::new();
    let desc = pipeline(
        &server,
        "name = \"events\"\nendpoint = { path = \"events\", data_selector = \"data\", params = { order = \"desc\" }, incremental = { cursor_path = \"id\", initial_value = 0 } }",
    );
    area.run(&desc, REST).expect_err("page 5 fails");
    assert_eq!(
        area.count("select count(*) from information_schema.tables where table_schema = 'ev' and table_name = 'events'"),
        0
    );
    fail_at.store(0, Ordering::SeqCst);
    let before = server.requests().len();
    area.run(&desc, REST).expect("the next run");
    assert_eq!(
        pages_asked(&server, before).first().map(String::as_str),
        Some("1")
    );
    assert_eq!(area.count("select count(*) from ev.events"), 24);
}

/// A resumed run whose next page is ignored by a response action ends there, and leaves no
/// resume point: the run after it starts from page 1 again.
#[test]
fn a_resumed_run_ending_on_an_ignored_page_leaves_no_resume_point() {
    let (fail_at, gone_from) = (Arc::new(AtomicI64::new(5)), Arc::new(AtomicI64::new(0)));
    let server = events_until(fail_at.clone(), gone_from.clone());
    let area = Area::new();
    let toml = pipeline(
        &server,
        "name = \"events\"\nendpoint = { path = \"events\", data_selector = \"data\", response_actions = [{ status_code = 404, action = \"ignore\" }] }",
    );
    area.run(&toml, REST).expect_err("page 5 fails");
    assert_eq!(area.count("select count(*) from ev.events"), 12);
    fail_at.store(0, Ordering::SeqCst);
    gone_from.store(5, Ordering::SeqCst);
    let before = server.requests().len();
    area.run(&toml, REST).expect("ends on the ignored page");
    assert_eq!(pages_asked(&server, before), vec!["5"]);
    gone_from.store(0, Ordering::SeqCst);
    let before = server.requests().len();
    area.run(&toml, REST).expect("a fresh run");
    assert_eq!(
        pages_asked(&server, before).first().map(String::as_str),
        Some("1")
    );
}
