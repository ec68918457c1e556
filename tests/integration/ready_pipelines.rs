//! The ready pipelines in `pipelines/` (GitHub, PokéAPI) run as shipped, pointed at a loopback
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
