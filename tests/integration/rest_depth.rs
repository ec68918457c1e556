//! Dependent resources at any depth (issues → comments → reactions), a dependent resource
//! with its own incremental cursor, and each resource's requests counted as its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::api_server::{ApiRequest, ApiResponse, ApiServer};
use crate::support::Area;

const REST: (&str, &[u8]) = ("rest_api", sluice_bundled::REST_API.bytes);

/// Four issues; each has two comments on day 1 and one more on day 2; each comment has as
/// many reactions as its number within the issue. Comments honour `since`.
fn tracker(day: Arc<AtomicU64>) -> ApiServer {
    ApiServer::start(move |req| answer(req, day.load(Ordering::SeqCst)))
}

fn comments_of(issue: i64, day: u64) -> Vec<Value> {
    let mut out: Vec<Value> = (1..=2)
        .map(|k| json!({"id": issue * 10 + k, "updated_at": format!("2024-01-0{k}T00:00:00Z"), "body": format!("c{k}")}))
        .collect();
    if day >= 2 {
        out.push(json!({"id": issue * 10 + 3, "updated_at": "2024-02-01T00:00:00Z", "body": "c3"}));
    }
    out
}

fn answer(req: &ApiRequest, day: u64) -> ApiResponse {
    let parts: Vec<&str> = req.path.trim_start_matches("/api/").split('/').collect();
    match parts.as_slice() {
        ["issues"] => ApiResponse::json(&json!(
            (1..=4).map(|n| json!({"number": n})).collect::<Vec<_>>()
        )),
        ["issues", n, "comments"] => {
            let n: i64 = n.parse().unwrap_or(0);
            let since = req.param("since").unwrap_or_default().to_owned();
            let kept: Vec<Value> = comments_of(n, day)
                .into_iter()
                .filter(|c| c["updated_at"].as_str().unwrap_or_default() >= since.as_str())
                .collect();
            ApiResponse::json(&Value::Array(kept))
        }
        ["comments", id, "reactions"] => {
            let id: i64 = id.parse().unwrap_or(0);
            let reactions: Vec<Value> = (1..=id % 10)
                .map(|r| json!({"id": id * 10 + r, "content": "+1"}))
                .collect();
            ApiResponse::json(&Value::Array(reactions))
        }
        _ => ApiResponse::raw(404, "{}"),
    }
}

fn pipeline(server: &ApiServer) -> String {
    format!(
        r#"name = "depth"
dataset = "depth"
[connector]
name = "rest_api"
[grants]
allow_hosts = ["{base}"]
[config.client]
base_url = "{base}/api/"
paginator = "single_page"
[[config.resources]]
name = "issues"
primary_key = "number"
write_disposition = "merge"
endpoint = "issues"
[[config.resources]]
name = "comments"
primary_key = "id"
write_disposition = "merge"
include_from_parent = ["number"]
endpoint = {{ path = "issues/{{resources.issues.number}}/comments", params = {{ since = "{{incremental.start_value}}" }}, incremental = {{ cursor_path = "updated_at", initial_value = "2024-01-01T00:00:00Z" }} }}
[[config.resources]]
name = "reactions"
primary_key = "id"
write_disposition = "merge"
include_from_parent = ["id"]
endpoint = "comments/{{resources.comments.id}}/reactions"
"#,
        base = server.url()
    )
}

#[test]
fn grandchildren_load_and_a_child_resumes_from_its_own_cursor() {
    let day = Arc::new(AtomicU64::new(1));
    let server = tracker(day.clone());
    let area = Area::new();
    let s = area.run(&pipeline(&server), REST).expect("day 1");
    assert_eq!(s.tables["issues"], 4);
    assert_eq!(s.tables["comments"], 8);
    // comment k of an issue has k reactions
    assert_eq!(s.tables["reactions"], 4 * (1 + 2));
    assert_eq!(
        area.count("select count(*) from depth.reactions where _comments_id is null"),
        0
    );
    // each resource counts its own requests: 1 list, 4 comment lists, 8 reaction lists
    let requests = |name: &str| s.http.get(name).map_or(0, |h| h.requests);
    assert_eq!(
        (
            requests("issues"),
            requests("comments"),
            requests("reactions")
        ),
        (1, 4, 8)
    );
    let first_since: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/comments"))
        .filter_map(|r| r.param("since").map(str::to_owned))
        .collect();
    assert_eq!(first_since, vec!["2024-01-01T00:00:00Z"; 4]);

    day.store(2, Ordering::SeqCst);
    let before = server.requests().len();
    let s = area.run(&pipeline(&server), REST).expect("day 2");
    // the comments cursor resumes from day 1's newest comment: the two at the boundary
    // come back and are dropped, the new one per issue loads, with its reactions
    let since: Vec<String> = server.requests()[before..]
        .iter()
        .filter(|r| r.path.ends_with("/comments"))
        .filter_map(|r| r.param("since").map(str::to_owned))
        .collect();
    assert_eq!(since, vec!["2024-01-02T00:00:00Z"; 4]);
    assert_eq!(s.tables.get("comments"), Some(&4));
    assert_eq!(s.tables.get("reactions"), Some(&(4 * 3)));
    assert_eq!(area.count("select count(*) from depth.comments"), 12);
    assert_eq!(area.count("select count(*) from depth.reactions"), 4 * 6);
}
