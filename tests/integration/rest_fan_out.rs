//! REST requests at network speed: a dependent resource's requests fan out (`http.fetch-all`)
//! within `limits.http_per_host`, and load exactly what a sequential run loads — rows,
//! `_dlt_list_idx`, the order pages arrive in, the requests made, the state; a `Retry-After` holds every
//! request to its host; a hostile `fetch-all` (too many requests, answers past the instance's
//! memory) is refused.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api_server::{ApiRequest, ApiResponse, ApiServer};
use crate::support::{Area, canon};

const REST: (&str, &[u8]) = ("rest_api", sluice_bundled::REST_API.bytes);

/// Requests the server is answering at once, and the most it ever answered at once.
#[derive(Default)]
struct InFlight {
    now: AtomicI64,
    most: AtomicI64,
}

impl InFlight {
    fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(n, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }

    fn most(&self) -> i64 {
        self.most.load(Ordering::SeqCst)
    }
}

fn num(req: &ApiRequest, name: &str) -> i64 {
    req.param(name).and_then(|v| v.parse().ok()).unwrap_or(1)
}

/// 60 posts in 3 pages; each post's comments in one page (two pages for every fifth post,
/// by `Link` header), a 404 for post 7; every answer after `latency`.
fn blog(latency: Duration, flight: Arc<InFlight>) -> ApiServer {
    ApiServer::start(move |req| {
        flight.enter();
        std::thread::sleep(latency);
        let answer = blog_answer(req);
        flight.leave();
        answer
    })
}

fn blog_answer(req: &ApiRequest) -> ApiResponse {
    let base = format!("http://{}", req.header("host").unwrap_or_default());
    let parts: Vec<&str> = req.path.trim_start_matches("/api/").split('/').collect();
    match parts.as_slice() {
        ["posts"] => {
            let page = num(req, "page");
            let posts: Vec<Value> = (20 * (page - 1) + 1..=20 * page)
                .map(|id| json!({"id": id, "title": format!("post {id}"), "tags": ["x", format!("t{}", id % 3)]}))
                .collect();
            ApiResponse::json(&json!({"data": posts, "total_pages": 3}))
        }
        ["posts", "7", "comments"] => ApiResponse::raw(404, r#"{"message": "gone"}"#),
        ["posts", id, "comments"] => {
            let id: i64 = id.parse().unwrap_or(0);
            let page = num(req, "page");
            let comments: Vec<Value> = (0..3)
                .map(|k| {
                    let cid = id * 100 + page * 10 + k;
                    json!({"id": cid, "body": format!("comment {cid}"), "reactions": (0..k).map(|r| format!("r{r}")).collect::<Vec<_>>()})
                })
                .collect();
            let mut r = ApiResponse::json(&Value::Array(comments));
            if id % 5 == 0 && page == 1 {
                r = r.header(
                    "Link",
                    &format!("<{base}/api/posts/{id}/comments?page=2>; rel=\"next\""),
                );
            }
            r
        }
        _ => ApiResponse::raw(404, "{}"),
    }
}

/// The blog pipeline: posts, and comments per post; `limits` and `comments` are more TOML.
fn blog_pipeline(server: &ApiServer, limits: &str, comments: &str) -> String {
    format!(
        r#"name = "blog"
dataset = "blog"
[connector]
name = "rest_api"
[grants]
allow_hosts = ["{base}"]
[limits]
{limits}
[config.client]
base_url = "{base}/api/"
[[config.resources]]
name = "posts"
primary_key = "id"
endpoint = {{ path = "posts", data_selector = "data", paginator = {{ type = "page_number", page_param = "page", base_page = 1, total_path = "total_pages" }} }}
[[config.resources]]
name = "comments"
primary_key = "id"
include_from_parent = ["id"]
endpoint = {{ path = "posts/{{resources.posts.id}}/comments", paginator = {{ type = "header_link" }}, response_actions = [{{ status_code = 404, action = "ignore" }}], incremental = {{ cursor_path = "id", initial_value = 0 }} }}
{comments}
"#,
        base = server.url()
    )
}

/// What a run of the blog pipeline made: the dataset, the comments in the order they were
/// written, the requests sent (sorted), and the most requests in flight at once.
struct Outcome {
    dataset: Value,
    comment_order: Vec<i64>,
    requests: Vec<String>,
    most_in_flight: i64,
    comment_requests: u64,
    /// the resources' committed state (the comments' cursor among it)
    state: Value,
}

fn run_blog(limits: &str, comments: &str) -> Outcome {
    let flight = Arc::new(InFlight::default());
    let server = blog(Duration::from_millis(15), flight.clone());
    let area = Area::new();
    let s = area
        .run(&blog_pipeline(&server, limits, comments), REST)
        .expect("runs");
    let conn = area.conn();
    let mut stmt = conn
        .prepare("select id from blog.comments order by rowid")
        .expect("prepare");
    let comment_order = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    let mut requests: Vec<String> = server.requests().iter().map(ApiRequest::target).collect();
    requests.sort();
    let state_file = area.path().join("pipelines/blog/state.json");
    let state: Value =
        serde_json::from_slice(&std::fs::read(&state_file).expect("state")).expect("json");
    Outcome {
        dataset: canon(&conn, "blog"),
        comment_order,
        requests,
        most_in_flight: flight.most(),
        comment_requests: s.http.get("comments").map_or(0, |h| h.requests),
        state: state
            .pointer("/sources/rest_api/resources")
            .cloned()
            .unwrap_or(Value::Null),
    }
}

#[test]
fn fan_out_loads_what_a_sequential_run_loads() {
    let one_at_a_time = run_blog("http_per_host = 1", "");
    let fanned = run_blog("", "");
    assert_eq!(one_at_a_time.most_in_flight, 1);
    assert!(
        fanned.most_in_flight > 4 && fanned.most_in_flight <= 32,
        "the default fans out up to 32 requests per host: {}",
        fanned.most_in_flight
    );
    // 3 pages of posts, 60 comment pages and 12 second pages
    assert_eq!(fanned.requests.len(), 3 + 60 + 12);
    assert_eq!(fanned.requests, one_at_a_time.requests);
    assert_eq!(fanned.dataset, one_at_a_time.dataset);
    // the same state: the comments' cursor reached the same last value
    assert_eq!(fanned.state, one_at_a_time.state);
    assert_eq!(
        fanned.state.pointer("/comments/incremental/id/last_value"),
        Some(&json!(6022)),
        "{}",
        fanned.state
    );
    // pages are handed over in the sequential order: post by post, page by page
    assert_eq!(fanned.comment_order, one_at_a_time.comment_order);
    let mut sorted = fanned.comment_order.clone();
    sorted.sort_unstable();
    assert_eq!(fanned.comment_order, sorted, "post 1's comments come first");
    assert_eq!(fanned.dataset["comments"]["count"], json!(59 * 3 + 12 * 3));
    assert_eq!(
        fanned.dataset["comments__reactions"]["count"],
        json!(71 * 3)
    );
    // each resource's requests are its own, fanned out or not
    assert_eq!(fanned.comment_requests, 72);
    assert_eq!(one_at_a_time.comment_requests, 72);
}

#[test]
fn the_per_host_limit_and_parallelized_false_bound_the_fan_out() {
    let four = run_blog("http_per_host = 4", "");
    assert!(
        (2..=4).contains(&four.most_in_flight),
        "{}",
        four.most_in_flight
    );
    let sequential = run_blog("", "parallelized = false");
    assert_eq!(sequential.most_in_flight, 1);
    assert_eq!(four.dataset, sequential.dataset);
    assert_eq!(four.comment_order, sequential.comment_order);
}

/// Post 5's comments answer 429 with `Retry-After: 1` once: no request reaches the server
/// while the host is held, from any lane.
#[test]
fn retry_after_holds_every_request_to_the_host() {
    let arrivals: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let refused: Arc<Mutex<Option<Instant>>> = Arc::default();
    let (a, r) = (arrivals.clone(), refused.clone());
    let server = ApiServer::start(move |req| {
        let now = Instant::now();
        a.lock().expect("lock").push((now, req.target()));
        std::thread::sleep(Duration::from_millis(10));
        let mut first = r.lock().expect("lock");
        if req.path == "/api/posts/5/comments" && first.is_none() {
            *first = Some(Instant::now());
            return ApiResponse::raw(429, "{}").header("Retry-After", "1");
        }
        drop(first);
        blog_answer(req)
    });
    let area = Area::new();
    area.run(&blog_pipeline(&server, "http_per_host = 4", ""), REST)
        .expect("runs after the wait");
    assert_eq!(
        area.count("select count(*) from blog.comments"),
        59 * 3 + 12 * 3
    );
    let at = refused.lock().expect("lock").expect("the 429 was sent");
    let arrivals = arrivals.lock().expect("lock").clone();
    let held: Vec<&String> = arrivals
        .iter()
        .filter(|(t, _)| {
            *t > at + Duration::from_millis(150) && *t < at + Duration::from_millis(900)
        })
        .map(|(_, target)| target)
        .collect();
    assert!(held.is_empty(), "requests during the hold: {held:?}");
    assert!(
        arrivals
            .iter()
            .any(|(t, _)| *t >= at + Duration::from_millis(900)),
        "the run went on after the hold"
    );
}

fn probe_fetch_all(area: &Area, server: &ApiServer, count: usize, limits: &str) -> Value {
    let toml = format!(
        "name = \"fa\"\ndataset = \"fa\"\n[connector]\nname = \"probe\"\n[config]\ntry = \"fetch_all\"\nurl = \"{}/big\"\ncount = {count}\n[grants]\nallow_hosts = [\"{}\"]\n[limits]\n{limits}\n",
        server.url(),
        server.url()
    );
    area.run(&toml, ("sandbox_probe", sluice_bundled::SANDBOX_PROBE))
        .expect("the probe runs");
    let conn = area.conn();
    let (ok, too_large): (i64, i64) = conn
        .query_row("select ok, too_large from fa.probe", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("the probe's record");
    json!({"ok": ok, "too_large": too_large})
}

#[test]
fn a_hostile_fetch_all_is_bounded() {
    let body = vec![b'x'; 4 << 20];
    let server = ApiServer::start(move |_| ApiResponse::raw(200, body.clone()));
    // more than 64 requests in one call: each denied, none sent
    let area = Area::new();
    let toml = format!(
        "name = \"fa\"\ndataset = \"fa\"\n[connector]\nname = \"probe\"\n[config]\ntry = \"fetch_all\"\nurl = \"{}/big\"\ncount = 65\n[grants]\nallow_hosts = [\"{}\"]\n",
        server.url(),
        server.url()
    );
    area.run(&toml, ("sandbox_probe", sluice_bundled::SANDBOX_PROBE))
        .expect("the probe runs");
    let denied: Vec<String> = {
        let conn = area.conn();
        let mut stmt = conn
            .prepare("select value from fa.probe__denied")
            .expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .map(|r| r.expect("row"))
            .collect()
    };
    assert_eq!(denied.len(), 65);
    assert!(denied[0].contains("at most 64"), "{}", denied[0]);
    assert!(server.requests().is_empty());
    // 40 answers of 4 MiB for an instance of 128 MiB: together they may take half of it
    let area = Area::new();
    let got = probe_fetch_all(&area, &server, 40, "memory_mb = 128");
    let (ok, too_large) = (got["ok"].as_i64(), got["too_large"].as_i64());
    assert_eq!(ok.zip(too_large).map(|(a, b)| a + b), Some(40), "{got}");
    assert!(
        ok.is_some_and(|n| (1..=16).contains(&n)) && too_large.is_some_and(|n| n >= 24),
        "{got}"
    );
}
