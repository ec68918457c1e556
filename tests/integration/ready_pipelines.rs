//! The ready pipelines in `pipelines/` (GitHub, PokéAPI, Freshdesk, Hacker News) run as shipped, pointed at a loopback
//! server replaying recorded responses with `--set client.base_url=…` — the same overrides a
//! user passes to aim them at another server.

use std::path::PathBuf;

use crate::api_server::replay;
use crate::support::Area;

const REST: (&str, &[u8]) = ("rest_api", sluice_bundled::REST_API.bytes);

fn shipped(rel: &str) -> PathBuf {
    crate::support::manifest_dir()
        .join("../pipelines")
        .join(rel)
}

fn text(rel: &str) -> String {
    std::fs::read_to_string(shipped(rel)).expect("shipped pipeline file")
}

#[test]
fn github_issues_and_comments_load_then_merge_incrementally() {
    const TOKEN: &str = "ghp_recorded0000000000000000000000000";
    let area = Area::new();
    let toml = text("github/github.toml");
    let sets = |base: &str| {
        vec![
            format!("client.base_url={base}/repos/dlt-hub/dlt/"),
            format!("grants.allow_hosts=[\"{base}\"]"),
            format!(
                "secrets.github_token={{ value = \"{TOKEN}\", host = \"{base}\", scheme = \"bearer\" }}"
            ),
        ]
    };
    let day1 = replay(&shipped("github/recorded"), "run-1.json");
    let (r1, logs) = area.run_logged(&toml, &sets(&day1.url()), REST);
    let s1 = r1.expect("first run");
    assert_eq!(s1.tables.get("issues"), Some(&6), "{:?}", s1.tables);
    assert_eq!(s1.tables.get("issue_comments"), Some(&7));
    assert_eq!(s1.tables.get("issues__labels"), Some(&6));
    let reqs = day1.requests();
    // 2 pages of issues (header_link), then the comments of each of the 6 issues
    assert_eq!(
        reqs.len(),
        2 + 6,
        "{:?}",
        reqs.iter().map(|r| r.target()).collect::<Vec<_>>()
    );
    assert!(
        reqs.iter()
            .all(|r| r.header("authorization") == Some(&format!("Bearer {TOKEN}")))
    );
    assert!(
        reqs.iter()
            .all(|r| r.header("accept") == Some("application/vnd.github+json"))
    );
    assert_eq!(reqs[0].param("since"), Some("2024-01-01T00:00:00Z"));
    assert_eq!(reqs[0].param("per_page"), Some("100"));
    // each resource's own requests: the issue pages, then the comments of each issue
    assert_eq!(s1.http["issues"].requests, 2, "{:?}", s1.http);
    assert_eq!(s1.http["issue_comments"].requests, 6, "{:?}", s1.http);
    assert_eq!(s1.http_requests, 8);
    assert!(s1.http["issue_comments"].bytes > 0);
    assert!(!serde_json::to_string(&s1).expect("json").contains(TOKEN));
    assert!(!format!("{logs:?}").contains(TOKEN));
    assert_eq!(
        area.count("select count(*) from github_data.issue_comments where _issues_number = 1204"),
        3
    );

    // a day later: 1204 got a comment, 1207 is new; only they are asked for comments
    let day2 = replay(&shipped("github/recorded"), "run-2.json");
    let s2 = area
        .run_logged(&toml, &sets(&day2.url()), REST)
        .0
        .expect("second run");
    let reqs = day2.requests();
    assert_eq!(reqs[0].param("since"), Some("2024-03-05T10:00:00Z"));
    let comment_paths: Vec<&str> = reqs[1..].iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        comment_paths,
        vec![
            "/repos/dlt-hub/dlt/issues/1204/comments",
            "/repos/dlt-hub/dlt/issues/1207/comments"
        ]
    );
    assert_eq!(
        s2.tables.get("issues"),
        Some(&2),
        "boundary issue 1206 deduplicated"
    );
    assert_eq!(area.count("select count(*) from github_data.issues"), 7);
    assert_eq!(
        area.count("select comments from github_data.issues where number = 1204"),
        4
    );
    assert_eq!(
        area.count("select count(*) from github_data.issue_comments"),
        9
    );
    assert_eq!(
        area.count("select count(*) from github_data.issue_comments where _issues_number = 1204"),
        4
    );
}

#[test]
fn pokeapi_lists_details_and_berries() {
    let area = Area::new();
    let server = replay(&shipped("pokeapi/recorded"), "run-1.json");
    let base = server.url();
    let sets = vec![
        format!("client.base_url={base}/api/v2/"),
        format!("grants.allow_hosts=[\"{base}\"]"),
    ];
    let (r, _) = area.run_logged(&text("pokeapi/pokeapi.toml"), &sets, REST);
    let s = r.expect("pokeapi loads");
    assert_eq!(s.tables.get("pokemon"), Some(&5), "{:?}", s.tables);
    assert_eq!(s.tables.get("pokemon__abilities"), Some(&11));
    assert_eq!(s.tables.get("pokemon__types"), Some(&7));
    assert_eq!(s.tables.get("pokemon__stats"), Some(&30));
    assert_eq!(s.tables.get("berry"), Some(&4));
    // the list feeds the details but is not loaded
    assert!(!s.tables.contains_key("pokemon_list"));
    assert_eq!(
        area.count("select count(*) from information_schema.tables where table_schema = 'pokeapi_data' and table_name = 'pokemon_list'"),
        0
    );
    assert_eq!(
        area.count("select weight from pokeapi_data.pokemon where name = 'pikachu'"),
        60
    );
    // json_link followed the recorded `next` once; one detail request per pokemon
    assert_eq!(server.to("/api/v2/pokemon").len(), 2);
    assert_eq!(server.requests().len(), 2 + 5 + 1);
}

/// Freshdesk: the API key goes as the basic-auth user name with password `X`; three pages of
/// tickets by `Link` header; contacts answer 429 with `Retry-After: 1` once, and the run waits
/// and goes on; a day later only what changed is asked for and merged.
#[test]
fn freshdesk_loads_waits_out_its_rate_limit_and_merges_incrementally() {
    const KEY: &str = "fdRecordedApiKey0000";
    let area = Area::new();
    let toml = text("freshdesk/freshdesk.toml");
    let sets = |base: &str| {
        vec![
            format!("client.base_url={base}/api/v2/"),
            format!("grants.allow_hosts=[\"{base}\"]"),
            format!(
                "secrets.freshdesk_api_key={{ value = \"{KEY}\", host = \"{base}\", scheme = \"http_basic\", password = \"X\" }}"
            ),
        ]
    };
    let day1 = replay(&shipped("freshdesk/recorded"), "run-1.json");
    let started = std::time::Instant::now();
    let (r1, logs) = area.run_logged(&toml, &sets(&day1.url()), REST);
    let s1 = r1.expect("first run");
    assert_eq!(s1.tables.get("tickets"), Some(&5), "{:?}", s1.tables);
    assert_eq!(s1.tables.get("contacts"), Some(&3));
    assert_eq!(s1.tables.get("agents"), Some(&2));
    assert_eq!(s1.tables.get("companies"), Some(&1));
    let reqs = day1.requests();
    // the key is the user name, `X` the password, on every request:
    // base64("fdRecordedApiKey0000:X")
    let basic = "Basic ZmRSZWNvcmRlZEFwaUtleTAwMDA6WA==";
    assert!(
        reqs.iter()
            .all(|r| r.header("authorization") == Some(basic))
    );
    assert_eq!(day1.to("/api/v2/tickets").len(), 3);
    // the 429 was retried after its Retry-After
    assert_eq!(day1.to("/api/v2/contacts").len(), 2);
    assert_eq!(s1.http["contacts"].retries, 1, "{:?}", s1.http);
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert!(!format!("{logs:?}").contains(KEY));
    assert!(!serde_json::to_string(&s1).expect("json").contains(KEY));
    assert_eq!(
        area.count("select count(*) from freshdesk_data.agents where contact__name = 'Ana Agent'"),
        1
    );

    let day2 = replay(&shipped("freshdesk/recorded"), "run-2.json");
    let s2 = area
        .run_logged(&toml, &sets(&day2.url()), REST)
        .0
        .expect("second run");
    let since = |path: &str, param: &str| {
        day2.to(path)
            .first()
            .and_then(|r| r.param(param).map(str::to_owned))
    };
    assert_eq!(
        since("/api/v2/tickets", "updated_since").as_deref(),
        Some("2024-02-03T15:00:00Z")
    );
    assert_eq!(
        since("/api/v2/contacts", "_updated_since").as_deref(),
        Some("2024-01-22T08:00:00Z")
    );
    // ticket 5 changed, 6 is new; the boundary contact came back unchanged and was dropped
    assert_eq!(s2.tables.get("tickets"), Some(&2), "{:?}", s2.tables);
    assert_eq!(s2.tables.get("contacts"), None);
    assert_eq!(area.count("select count(*) from freshdesk_data.tickets"), 6);
    assert_eq!(
        area.count("select status from freshdesk_data.tickets where id = 5"),
        4
    );
}

/// Hacker News: top story ids (numbers) → the stories → their comments through `kids` →
/// the replies to those; a deleted comment loads as it is; new and best stories are off.
#[test]
fn hackernews_walks_stories_comments_and_replies_through_kids() {
    let area = Area::new();
    let server = replay(&shipped("hackernews/recorded"), "run-1.json");
    let base = server.url();
    let sets = vec![
        format!("client.base_url={base}/v0/"),
        format!("grants.allow_hosts=[\"{base}\"]"),
    ];
    let (r, _) = area.run_logged(&text("hackernews/hackernews.toml"), &sets, REST);
    let s = r.expect("hacker news loads");
    assert_eq!(s.tables.get("top_stories"), Some(&3), "{:?}", s.tables);
    assert_eq!(s.tables.get("comments"), Some(&3));
    assert_eq!(s.tables.get("replies"), Some(&1));
    assert!(!s.tables.contains_key("top_story_ids"));
    assert!(!s.tables.contains_key("new_stories"));
    // one request per id: the list, 3 stories, 3 comments, 1 reply; nothing for new/best
    assert_eq!(server.to("/v0/topstories.json").len(), 1);
    assert!(server.to("/v0/newstories.json").is_empty());
    assert_eq!(server.requests().len(), 1 + 3 + 3 + 1);
    assert_eq!(
        area.count("select count(*) from hackernews_data.comments where _top_stories_id = 101"),
        2
    );
    assert_eq!(
        area.count("select count(*) from hackernews_data.comments where deleted"),
        1
    );
    assert_eq!(
        area.count("select _comments_id from hackernews_data.replies where id = 301"),
        201
    );
    assert_eq!(
        area.count("select count(*) from hackernews_data.top_stories__kids"),
        3
    );
}
