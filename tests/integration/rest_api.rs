//! The bundled `rest_api` connector against real HTTP servers on 127.0.0.1 (`api_server.rs`):
//! every paginator, every auth scheme, parent/child, incremental, response actions, processing
//! steps, retries, bad bodies, the allow-list, config errors — each through a real pipeline
//! into DuckDB.

use serde_json::{Value, json};

use crate::api_server::{ApiRequest, ApiResponse, ApiServer};
use crate::support::Area;

const REST: (&str, &[u8]) = ("rest_api", sluice_bundled::REST_API.bytes);

/// Items `from..to` (1-based ids) of a 5-item collection.
fn items(from: i64, to: i64) -> Value {
    Value::Array(
        (from..to.min(6))
            .map(|i| json!({"id": i, "name": format!("item {i}")}))
            .collect(),
    )
}

fn num(req: &ApiRequest, name: &str, default: i64) -> i64 {
    req.param(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A pipeline file for the rest_api connector against `server`, `config` being the TOML of
/// `[config]` below the client.
fn pipeline(name: &str, server: &ApiServer, config: &str) -> String {
    format!(
        "name = \"{name}\"\ndataset = \"{name}\"\n[connector]\nname = \"rest_api\"\n[grants]\nallow_hosts = [\"{base}\"]\n[limits]\nhttp_retry_budget_secs = 20\n[config.client]\nbase_url = \"{base}/api/\"\n{config}",
        base = server.url()
    )
}

fn paging_server() -> ApiServer {
    ApiServer::start(|req| {
        let base = format!("http://{}", req.header("host").unwrap_or_default());
        match req.path.as_str() {
            "/api/json_link" => {
                let p = num(req, "p", 1);
                let next = if p < 3 {
                    json!(format!("json_link?p={}", p + 1))
                } else {
                    Value::Null
                };
                ApiResponse::json(&json!({"data": items(2 * p - 1, 2 * p + 1), "next": next}))
            }
            "/api/header_link" | "/api/auto" => {
                let p = num(req, "page", 1);
                let mut r = ApiResponse::json(&items(2 * p - 1, 2 * p + 1));
                if p < 3 {
                    r = r.header(
                        "Link",
                        &format!(
                            "<{base}{}?page={}>; rel=\"next\", <{base}{}?page=3>; rel=\"last\"",
                            req.path,
                            p + 1,
                            req.path
                        ),
                    );
                }
                r
            }
            "/api/offset" => {
                let (o, l) = (num(req, "offset", -1), num(req, "limit", -1));
                ApiResponse::json(&json!({"items": items(o + 1, o + l + 1), "total": 5}))
            }
            "/api/page" => {
                let p = num(req, "page", -1);
                ApiResponse::json(
                    &json!({"results": items(2 * p - 1, 2 * p + 1), "total_pages": 3}),
                )
            }
            "/api/cursor" => {
                let c = req
                    .param("cursor")
                    .map_or(1, |c| c.trim_start_matches('c').parse().unwrap_or(1));
                let next = if c < 5 {
                    json!(format!("c{}", c + 2))
                } else {
                    Value::Null
                };
                ApiResponse::json(&json!({"entries": items(c, c + 2), "cursors": {"next": next}}))
            }
            "/api/cursor_header" => {
                let c = num(req, "_", 0);
                let c = req
                    .header("x-cursor")
                    .map_or(c + 1, |h| h.parse().unwrap_or(1));
                let mut r = ApiResponse::json(&items(c, c + 2));
                if c < 5 {
                    r = r.header("X-Next-Cursor", &(c + 2).to_string());
                }
                r
            }
            "/api/cursor_body" => {
                let body = req.json();
                let c = body["page"]["after"].as_i64().unwrap_or(0);
                ApiResponse::json(&json!({
                    "records": items(c + 1, c + 3),
                    "has_more": c + 2 < 5,
                    "next": c + 2,
                }))
            }
            "/api/single" => {
                ApiResponse::json(&json!({"data": items(1, 6), "next": "cursor-to-ignore"}))
            }
            _ => ApiResponse::raw(404, "{}"),
        }
    })
}

#[test]
fn every_paginator_reads_all_pages_and_stops() {
    let server = paging_server();
    let area = Area::new();
    let config = r#"
[[config.resources]]
name = "json_link"
endpoint = { path = "json_link", params = { since = "2024" }, paginator = "json_link" }
[[config.resources]]
name = "header_link"
endpoint = { path = "header_link", paginator = "header_link" }
[[config.resources]]
name = "offset"
endpoint = { path = "offset", paginator = { type = "offset", limit = 2 } }
[[config.resources]]
name = "page_number"
endpoint = { path = "page", paginator = { type = "page_number", base_page = 1, total_path = "total_pages" } }
[[config.resources]]
name = "cursor"
endpoint = { path = "cursor", paginator = "cursor" }
[[config.resources]]
name = "cursor_header"
endpoint = { path = "cursor_header", paginator = { type = "cursor", cursor_header = "X-Next-Cursor", cursor_request_header = "X-Cursor" } }
[[config.resources]]
name = "cursor_body"
endpoint = { path = "cursor_body", method = "POST", json = { query = "all" }, data_selector = "records", paginator = { type = "cursor", cursor_path = "next", cursor_body_path = "page.after", has_more_path = "has_more" } }
[[config.resources]]
name = "single"
endpoint = { path = "single", paginator = "single_page" }
[[config.resources]]
name = "auto"
endpoint = "auto"
"#;
    let (result, logs) = area.run_logged(&pipeline("pages", &server, config), &[], REST);
    let s = result.expect("all paginators load");
    for t in [
        "json_link",
        "header_link",
        "offset",
        "page_number",
        "cursor",
        "cursor_header",
        "cursor_body",
        "single",
        "auto",
    ] {
        assert_eq!(s.tables.get(t), Some(&5), "table {t}: {:?}", s.tables);
        assert_eq!(
            area.count(&format!("select count(distinct id) from pages.{t}")),
            5,
            "{t}"
        );
    }
    // json_link: relative link followed, the original query dropped on later pages (dlt)
    let jl = server.to("/api/json_link");
    assert_eq!(jl.len(), 3);
    assert_eq!(jl[0].param("since"), Some("2024"));
    assert_eq!(jl[1].param("since"), None);
    assert_eq!(jl[2].param("p"), Some("3"));
    assert_eq!(server.to("/api/header_link").len(), 3);
    // offset: 0, 2, 4 and stop at total 5
    let offsets: Vec<_> = server
        .to("/api/offset")
        .iter()
        .map(|r| (num(r, "offset", -1), num(r, "limit", -1)))
        .collect();
    assert_eq!(offsets, vec![(0, 2), (2, 2), (4, 2)]);
    let pages: Vec<_> = server
        .to("/api/page")
        .iter()
        .map(|r| num(r, "page", -1))
        .collect();
    assert_eq!(pages, vec![1, 2, 3]);
    let cursors: Vec<_> = server
        .to("/api/cursor")
        .iter()
        .map(|r| r.param("cursor").map(str::to_owned))
        .collect();
    assert_eq!(cursors, vec![None, Some("c3".into()), Some("c5".into())]);
    let hdr: Vec<_> = server
        .to("/api/cursor_header")
        .iter()
        .map(|r| r.header("x-cursor").map(str::to_owned))
        .collect();
    assert_eq!(hdr, vec![None, Some("3".into()), Some("5".into())]);
    // cursor in the JSON body, next to the configured body; has_more ends it
    let bodies: Vec<Value> = server
        .to("/api/cursor_body")
        .iter()
        .map(ApiRequest::json)
        .collect();
    assert_eq!(bodies.len(), 3);
    assert_eq!(bodies[0], json!({"query": "all"}));
    assert_eq!(bodies[2], json!({"query": "all", "page": {"after": 4}}));
    assert!(
        server
            .to("/api/cursor_body")
            .iter()
            .all(|r| r.method == "POST")
    );
    assert_eq!(server.to("/api/single").len(), 1);
    // auto: header_link chosen and said so
    assert_eq!(server.to("/api/auto").len(), 3);
    assert!(
        logs.iter().any(|(level, m)| level == "warn"
            && m.contains("resource `auto`")
            && m.contains("header_link")),
        "{logs:?}"
    );
}

const BEARER: &str = "tok-bearer-1234567";
const KEY_HEADER: &str = "key-in-header-4567";
const KEY_QUERY: &str = "key-in-query-78901";
const BASIC_PW: &str = "pw-basic-00000000";
const OAUTH_SECRET: &str = "oauth-secret-99999";
const ACCESS_TOKEN: &str = "access-token-abcdef";

fn auth_server() -> ApiServer {
    ApiServer::start(|req| {
        let ok = match req.path.as_str() {
            "/oauth/token" => {
                let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                let has = |k: &str, v: &str| form.iter().any(|(a, b)| a == k && b == v);
                return if req.method == "POST"
                    && has("grant_type", "client_credentials")
                    && has("client_id", "cid")
                    && has("client_secret", OAUTH_SECRET)
                    && has("scope", "read")
                {
                    ApiResponse::json(&json!({"access_token": ACCESS_TOKEN, "expires_in": 3600}))
                } else {
                    ApiResponse::raw(401, r#"{"error": "invalid_client"}"#)
                };
            }
            "/api/bearer" => req.header("authorization") == Some(&format!("Bearer {BEARER}")),
            "/api/key_header" => req.header("x-api-key") == Some(KEY_HEADER),
            "/api/key_query" => req.param("api_key") == Some(KEY_QUERY),
            "/api/basic" => {
                // base64("bob:pw-basic-00000000")
                req.header("authorization") == Some("Basic Ym9iOnB3LWJhc2ljLTAwMDAwMDAw")
            }
            "/api/oauth" => req.header("authorization") == Some(&format!("Bearer {ACCESS_TOKEN}")),
            _ => false,
        };
        if !ok {
            return ApiResponse::raw(401, r#"{"message": "Bad credentials"}"#);
        }
        // two pages each, so the OAuth2 token is reused
        let p = num(req, "page", 1);
        let mut r = ApiResponse::json(&items(2 * p - 1, 2 * p + 1));
        if p < 2 {
            r = r.header("Link", &format!("<{}?page=2>; rel=\"next\"", req.path));
        }
        r
    })
}

fn auth_pipeline(server: &ApiServer, extra_resource: &str) -> String {
    let base = server.url();
    let config = format!(
        r#"paginator = "header_link"
[[config.resources]]
name = "bearer"
endpoint = {{ path = "bearer", auth = "bearer" }}
[[config.resources]]
name = "key_header"
endpoint = {{ path = "key_header", auth = "key_header" }}
[[config.resources]]
name = "key_query"
endpoint = {{ path = "key_query", auth = "key_query" }}
[[config.resources]]
name = "basic"
endpoint = {{ path = "basic", auth = {{ secret = "basic" }} }}
[[config.resources]]
name = "oauth"
endpoint = {{ path = "oauth", auth = ["oauth"] }}
{extra_resource}
[secrets.bearer]
value = "{BEARER}"
host = "{base}"
scheme = "bearer"
[secrets.key_header]
value = "{KEY_HEADER}"
host = "{base}"
header = "X-Api-Key"
[secrets.key_query]
value = "{KEY_QUERY}"
host = "{base}"
query = "api_key"
[secrets.basic]
value = "{BASIC_PW}"
host = "{base}"
scheme = "http_basic"
username = "bob"
[secrets.oauth]
value = "{OAUTH_SECRET}"
host = "{base}"
scheme = "oauth2_client_credentials"
token_url = "{base}/oauth/token"
client_id = "cid"
token_request = {{ scope = "read" }}
"#
    );
    pipeline("auth", server, &config)
}

fn assert_no_secret(what: &str, text: &str) {
    for s in [
        BEARER,
        KEY_HEADER,
        KEY_QUERY,
        BASIC_PW,
        OAUTH_SECRET,
        ACCESS_TOKEN,
        "Ym9iOnB3LWJhc2ljLTAwMDAwMDAw",
    ] {
        assert!(!text.contains(s), "a secret reached {what}: {text}");
    }
}

#[test]
fn every_auth_scheme_is_applied_by_the_host_and_never_shown() {
    let server = auth_server();
    let area = Area::new();
    let (result, logs) = area.run_logged(&auth_pipeline(&server, ""), &[], REST);
    let s = result.expect("every scheme authenticates");
    for t in ["bearer", "key_header", "key_query", "basic", "oauth"] {
        assert_eq!(s.tables.get(t), Some(&4), "{t}: {:?}", s.tables);
    }
    // one token exchange serves both pages of the OAuth2 resource
    assert_eq!(server.to("/oauth/token").len(), 1);
    assert_eq!(server.to("/api/oauth").len(), 2);
    assert_no_secret(
        "the summary",
        &serde_json::to_string(&s).expect("summary json"),
    );
    assert_no_secret("the logs", &format!("{logs:?}"));
    let trace = std::fs::read_to_string(area.path().join("pipelines/auth/trace.json"))
        .expect("trace written");
    assert_no_secret("the trace", &trace);
    let db = std::fs::read(area.db()).expect("db");
    assert_no_secret("the database", &String::from_utf8_lossy(&db));

    // a resource without the secret is refused by the API: an auth error naming the
    // resource and the status, still without any secret in it
    let extra = "[[config.resources]]\nname = \"anonymous\"\nendpoint = \"bearer\"";
    let err = area
        .run(&auth_pipeline(&server, extra), REST)
        .expect_err("401 without auth");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("resource `anonymous`") && msg.contains("401"),
        "{msg}"
    );
    assert_no_secret("the error", &msg);
}

#[test]
fn parent_child_placeholders_include_from_parent_actions_and_steps() {
    let server = ApiServer::start(|req| {
        let parts: Vec<&str> = req.path.trim_start_matches("/api/").split('/').collect();
        match parts.as_slice() {
            ["posts"] => ApiResponse::json(&json!([
                {"id": 1, "title": "one", "updatedAt": "2024-05-01T00:00:00Z"},
                {"id": 2, "title": "two", "updatedAt": "2024-05-02T00:00:00Z"},
                {"id": 3, "title": "three", "updatedAt": "2024-05-03T00:00:00Z"},
            ])),
            ["posts", "2", "comments"] => {
                ApiResponse::raw(404, r#"{"message": "post 2 has no comments"}"#)
            }
            ["posts", id, "comments"] => {
                let id: i64 = id.parse().unwrap_or(0);
                ApiResponse::json(&json!([
                    {"id": id * 10 + 1, "text": "first", "spam": false, "user": {"login": "ann"}},
                    {"id": id * 10 + 2, "text": "buy now", "spam": true, "user": {"login": "bot"}},
                    {"id": id * 10 + 3, "text": "third", "user": {"login": "bob"}},
                ]))
            }
            ["posts", id] => ApiResponse::json(
                &json!({"id": id.parse::<i64>().unwrap_or(0), "body": format!("post {id} body")}),
            ),
            _ => ApiResponse::raw(404, "{}"),
        }
    });
    let area = Area::new();
    let config = r#"paginator = "single_page"
[[config.resources]]
name = "posts"
endpoint = "posts"
primary_key = "id"
[[config.resources]]
name = "comments"
endpoint = { path = "posts/{resources.posts.id}/comments", response_actions = [{ status_code = 404, action = "ignore" }] }
include_from_parent = ["updatedAt", "title"]
processing_steps = [
  { filter = "not (spam == true)" },
  { map = { author = "user.login", loud = "text == 'third'" } },
  { drop = ["user"] },
  { rename = { text = "body" } },
]
[[config.resources]]
name = "post_details"
endpoint = "posts/{resources.posts.id}"
"#;
    let s = area
        .run(&pipeline("pc", &server, config), REST)
        .expect("loads");
    assert_eq!(s.tables["posts"], 3);
    // posts 1 and 3 have comments (2 of 3 kept each); post 2's 404 is ignored
    assert_eq!(s.tables["comments"], 4);
    assert_eq!(s.tables["post_details"], 3);
    let conn = area.conn();
    let mut stmt = conn
        .prepare("select id, body, author, loud, _posts_updated_at::varchar, _posts_title from pc.comments order by id")
        .expect("columns exist");
    let rows: Vec<(i64, String, String, bool, String, String)> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].0, 11);
    assert_eq!(rows[0].1, "first");
    assert_eq!(rows[0].2, "ann");
    assert!(!rows[0].3);
    assert!(rows[1].3, "map evaluated the comparison");
    assert!(rows[0].4.starts_with("2024-05-01"), "{}", rows[0].4);
    assert_eq!(rows[3].5, "three");
    // the dropped field made no columns
    let user_cols = area.count(
        "select count(*) from information_schema.columns where table_schema = 'pc' and table_name = 'comments' and column_name like 'user%'",
    );
    assert_eq!(user_cols, 0);
    assert_eq!(
        area.count("select count(*) from pc.post_details where body like 'post % body'"),
        3
    );
    // one request per parent item; the single-entity path used `$` and one page
    assert_eq!(server.requests().len(), 1 + 3 + 3);
}

#[test]
fn a_second_incremental_run_asks_from_the_last_value_and_merges() {
    use std::sync::{Arc, Mutex};
    let data = Arc::new(Mutex::new(vec![
        json!({"id": 1, "title": "a", "updated_at": "2024-01-01T00:00:00Z"}),
        json!({"id": 2, "title": "b", "updated_at": "2024-01-02T00:00:00Z"}),
        json!({"id": 3, "title": "c", "updated_at": "2024-01-03T00:00:00Z"}),
    ]));
    let d = data.clone();
    let server = ApiServer::start(move |req| {
        let since = req.param("since").unwrap_or("").to_owned();
        let rows: Vec<Value> = d
            .lock()
            .map(|v| {
                v.iter()
                    .filter(|r| r["updated_at"].as_str().unwrap_or("") >= since.as_str())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        ApiResponse::json(&Value::Array(rows))
    });
    let area = Area::new();
    let config = r#"paginator = "single_page"
[[config.resources]]
name = "issues"
primary_key = "id"
write_disposition = "merge"
endpoint = { path = "issues", params = { since = "{incremental.start_value}", sort = "updated" }, incremental = { cursor_path = "updated_at", initial_value = "2024-01-01T00:00:00Z" } }
"#;
    let toml = pipeline("inc", &server, config);
    let s1 = area.run(&toml, REST).expect("first run");
    assert_eq!(s1.tables["issues"], 3);
    if let Ok(mut v) = data.lock() {
        v[1] = json!({"id": 2, "title": "b2", "updated_at": "2024-02-01T00:00:00Z"});
        v.push(json!({"id": 4, "title": "d", "updated_at": "2024-02-02T00:00:00Z"}));
    }
    let s2 = area.run(&toml, REST).expect("second run");
    let sent: Vec<String> = server
        .to("/api/issues")
        .iter()
        .map(|r| r.param("since").unwrap_or("-").to_owned())
        .collect();
    assert_eq!(sent, vec!["2024-01-01T00:00:00Z", "2024-01-03T00:00:00Z"]);
    // the boundary row (id 3) was seen and is deduplicated by the host
    assert_eq!(s2.tables["issues"], 2, "{:?}", s2.tables);
    assert_eq!(area.count("select count(*) from inc.issues"), 4);
    assert_eq!(
        area.count("select count(*) from inc.issues where id = 2 and title = 'b2'"),
        1
    );
}

#[test]
fn retries_on_429_with_both_retry_after_forms_and_503_storms_fail_cleanly() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let n = std::sync::Arc::new(AtomicUsize::new(0));
    let m = n.clone();
    let server = ApiServer::start(move |req| match req.path.as_str() {
        "/api/flaky" => match m.fetch_add(1, Ordering::SeqCst) {
            0 => ApiResponse::raw(429, "{}").header("Retry-After", "1"),
            1 => {
                let at = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
                ApiResponse::raw(503, "{}").header("Retry-After", &http_date(at))
            }
            2 => ApiResponse::raw(503, "{}"),
            _ => ApiResponse::json(&items(1, 6)),
        },
        "/api/storm" => ApiResponse::raw(503, r#"{"message": "down for maintenance"}"#),
        _ => ApiResponse::raw(404, "{}"),
    });
    let area = Area::new();
    let flaky = "paginator = \"single_page\"\n[[config.resources]]\nname = \"flaky\"\nendpoint = \"flaky\"\n";
    let started = std::time::Instant::now();
    let s = area
        .run(&pipeline("retry", &server, flaky), REST)
        .expect("retried to success");
    assert_eq!(s.tables["flaky"], 5);
    assert_eq!(server.to("/api/flaky").len(), 4);
    assert_eq!(s.http["flaky"].retries, 3);
    // 1 s (seconds form) + ≥1 s (date form, second precision) + backoff
    assert!(started.elapsed() >= std::time::Duration::from_millis(1900));

    let storm = "paginator = \"single_page\"\n[[config.resources]]\nname = \"storm\"\nendpoint = \"storm\"\n";
    let toml = pipeline("storm", &server, storm)
        .replace("http_retry_budget_secs = 20", "http_retry_budget_secs = 3");
    let err = area.run(&toml, REST).expect_err("503 storm fails");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("resource `storm`") && msg.contains("503") && msg.contains("maintenance"),
        "{msg}"
    );
    let tries = server.to("/api/storm").len();
    assert!(
        (2..=4).contains(&tries),
        "{tries} attempts within a 3 s budget"
    );
}

/// An IMF-fixdate for `Retry-After`.
fn http_date(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after epoch")
        .as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil from days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{wd}, {d:02} {mon} {y} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[test]
fn a_malformed_body_names_resource_and_page_and_keeps_earlier_loads() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let broken = std::sync::Arc::new(AtomicBool::new(false));
    let b = broken.clone();
    let server = ApiServer::start(move |req| {
        let p = num(req, "page", 1);
        if b.load(Ordering::SeqCst) && p == 2 {
            return ApiResponse::raw(200, r#"{"data": [{"id": 3}, {"id": "#);
        }
        let mut r = ApiResponse::json(&json!({"data": items(2 * p - 1, 2 * p + 1)}));
        if p < 3 {
            r = r.header(
                "Link",
                &format!("<{}?page={}>; rel=\"next\"", req.path, p + 1),
            );
        }
        r
    });
    let area = Area::new();
    let config = "paginator = \"header_link\"\n[[config.resources]]\nname = \"things\"\nendpoint = \"things\"\nprimary_key = \"id\"\nwrite_disposition = \"merge\"\n";
    let toml = pipeline("bad", &server, config);
    area.run(&toml, REST).expect("first run loads");
    assert_eq!(area.count("select count(*) from bad.things"), 5);
    broken.store(true, Ordering::SeqCst);
    let err = area.run(&toml, REST).expect_err("malformed body");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("resource `things`, page 2") && msg.contains("not valid JSON"),
        "{msg}"
    );
    assert_eq!(
        area.count("select count(*) from bad.things"),
        5,
        "earlier load intact"
    );
}

#[test]
fn hosts_off_the_allow_list_are_refused_directly_and_through_links() {
    let server = ApiServer::start(|req| match req.path.as_str() {
        "/api/jump" => ApiResponse::json(&json!({
            "data": items(1, 3),
            "next": "http://127.0.0.2:9/steal?token=x",
        })),
        _ => ApiResponse::json(&items(1, 3)),
    });
    let area = Area::new();
    // the base URL itself is not granted
    let config = "[[config.resources]]\nname = \"direct\"\nendpoint = \"items\"\n";
    let toml = pipeline("deny", &server, config).replace(
        &format!("allow_hosts = [\"{}\"]", server.url()),
        "allow_hosts = [\"http://127.0.0.1:9\"]",
    );
    let err = area.run(&toml, REST).expect_err("not granted");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("not on the pipeline's allow-list") && msg.contains("resource `direct`"),
        "{msg}"
    );
    assert!(server.requests().is_empty(), "nothing left the host");
    // a next link to another host is checked like any request
    let config = "[[config.resources]]\nname = \"jump\"\nendpoint = { path = \"jump\", paginator = \"json_link\" }\n";
    let err = area
        .run(&pipeline("deny2", &server, config), REST)
        .expect_err("link denied");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("127.0.0.2") && msg.contains("allow-list"),
        "{msg}"
    );
}

#[test]
fn config_errors_name_the_key_path() {
    let server = ApiServer::start(|_| ApiResponse::json(&json!([])));
    let area = Area::new();
    let cases = [
        (
            "[[config.resources]]\nname = \"a\"\n[[config.resources]]\nname = \"b\"\nendpoint = { path = \"b\", paginatr = \"offset\" }\n",
            &["resources[1].endpoint", "paginatr"][..],
        ),
        (
            "[[config.resources]]\nname = \"a\"\nendpoint = { paginator = { type = \"offset\" } }\n",
            &["resources[0].endpoint.paginator", "limit"],
        ),
        (
            "auth = { type = \"bearer\", token = \"abc\" }\n[[config.resources]]\nname = \"a\"\n",
            &["client.auth", "[secrets."],
        ),
        (
            "[[config.resources]]\nname = \"a\"\nendpoint = \"a/{resources.nope.id}\"\n",
            &["resources[0].endpoint", "`nope`"],
        ),
        (
            "[[config.resources]]\nname = \"a\"\nprocessing_steps = [{ filter = \"id ==\" }]\n",
            &["resources[0].processing_steps[0].filter", "ends too early"],
        ),
        (
            "[[config.resources]]\nname = \"a\"\nendpoint = { params = { since = \"{incremental.start_value}\" } }\n",
            &["resources[0].endpoint", "incremental"],
        ),
    ];
    for (config, wants) in cases {
        let err = area
            .run(&pipeline("cfg", &server, config), REST)
            .expect_err(config);
        let msg = format!("{err:#}");
        for w in wants {
            assert!(msg.contains(w), "`{w}` missing from: {msg}");
        }
    }
    assert!(server.requests().is_empty());
}

#[test]
fn an_optional_secret_without_a_value_sends_nothing() {
    let server = ApiServer::start(|_| ApiResponse::json(&items(1, 3)));
    let area = Area::new();
    let config = format!(
        "auth = \"token\"\npaginator = \"single_page\"\n[[config.resources]]\nname = \"open\"\n[secrets.token]\nenv = \"SLUICE_TEST_UNSET_OPTIONAL_TOKEN\"\noptional = true\nhost = \"{}\"\nscheme = \"bearer\"\n",
        server.url()
    );
    let s = area
        .run(&pipeline("opt", &server, &config), REST)
        .expect("runs without the token");
    assert_eq!(s.tables["open"], 2);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].header("authorization"), None);
}

#[test]
fn inspect_describes_the_connector_without_config_and_runs_refuse_an_empty_one() {
    let area = Area::new();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let cache = area.path().join("cache");
    let i = rt
        .block_on(sluice_pipeline::inspect("rest_api", REST.1, &cache, "{}"))
        .expect("inspect");
    assert!(i.spec_error.is_none());
    assert!(i.resources.is_empty());
    assert!(
        i.config_schema["properties"]["resources"].is_object(),
        "{}",
        i.config_schema
    );
    // a config the connector refuses: the inspection still shows digest and imports
    let i = rt
        .block_on(sluice_pipeline::inspect(
            "rest_api",
            REST.1,
            &cache,
            r#"{"client": 1}"#,
        ))
        .expect("inspect");
    assert!(
        i.spec_error
            .as_deref()
            .is_some_and(|e| e.contains("client")),
        "{:?}",
        i.spec_error
    );
    assert_eq!(i.digest.len(), 64);
    assert!(
        i.imports
            .iter()
            .any(|x| x.contains("sluice:connector/http")),
        "{:?}",
        i.imports
    );
    let err = area
        .run("name = \"empty\"\n[connector]\nname = \"rest_api\"\n", REST)
        .expect_err("nothing to run");
    assert!(err.to_string().contains("offers no resources"), "{err}");
}

/// Pages of one resource go over kept-alive connections, not one connection each.
#[test]
fn pages_reuse_one_connection() {
    let server = ApiServer::start(|req| {
        let p = num(req, "page", 1);
        let next = if p < 20 {
            json!(format!("many?page={}", p + 1))
        } else {
            Value::Null
        };
        ApiResponse::json(&json!({"data": [{"id": p}], "next": next}))
    });
    let area = Area::new();
    let config = "[[config.resources]]\nname = \"many\"\nendpoint = { path = \"many\", paginator = \"json_link\" }\n";
    let s = area
        .run_logged(&pipeline("ka", &server, config), &[], REST)
        .0
        .expect("20 pages");
    assert_eq!(s.tables["many"], 20);
    assert_eq!(server.requests().len(), 20);
    // hyper hands a finished connection back to its pool on a task of its own, so a request
    // sent at once may still open a second one; never one per request
    let connections = server.connections();
    assert!(
        connections <= 3,
        "{connections} connections for 20 requests"
    );
}
