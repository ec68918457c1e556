//! `synthetic`: deterministic GitHub-events-like records for demos and benchmarks, no network.
//!
//! Config: `rows` (default 10000), `seed` (default 42), `page_size` (default 1000). Each record
//! has nested objects (`actor`, `repo`, `payload`), a list of objects (`payload.commits`), a
//! list of scalars (`payload.labels`), ISO timestamps and nulls. The same config always yields
//! the same records. `seq` is the record's position (0, 1, 2, …), a natural incremental
//! cursor: given an incremental window, the connector starts at its `start-value` instead of
//! 0, the way an API connector turns the window into a `since` parameter. `commit_stats` (not
//! selected by default) depends on `events`: it receives each page of events and yields one
//! record per event.

use sluice_sdk::serde_json::{Value, json};
use sluice_sdk::{Error, ErrorKind, Open, Page, Resource, ResourceSpec, Source, SourceSpec};

struct Synthetic;

const CONFIG_SCHEMA: &str = r#"{"type":"object","properties":{"rows":{"type":"integer","minimum":0},"seed":{"type":"integer"},"page_size":{"type":"integer","minimum":1}}}"#;

impl Source for Synthetic {
    fn spec(_config: &Value) -> Result<SourceSpec, Error> {
        let mut spec = SourceSpec::new("synthetic", env!("CARGO_PKG_VERSION"));
        spec.description = Some("deterministic GitHub-events-like records".into());
        spec.config_schema = CONFIG_SCHEMA.into();
        let mut events = ResourceSpec::new("events");
        events.primary_key = vec!["id".into()];
        // a dependent resource (dlt's transformer): one record per event, from its parent's page
        let mut stats = ResourceSpec::new("commit_stats");
        stats.parent = Some("events".into());
        stats.selected = false;
        Ok(spec.resource(events).resource(stats))
    }

    fn open(open: Open) -> Result<Box<dyn Resource>, Error> {
        if open.resource == "commit_stats" {
            let parents = open.parent_records.unwrap_or_default();
            let stats: Vec<Value> = parents
                .iter()
                .map(|e| {
                    json!({
                        "event_id": e["id"],
                        "commits": e["payload"]["commits"].as_array().map_or(0, Vec::len),
                    })
                })
                .collect();
            return Ok(Box::new(sluice_sdk::Pages::from(vec![Page::json(
                &Value::Array(stats),
            )])));
        }
        if open.resource != "events" {
            return Err(sluice_sdk::error(
                ErrorKind::Config,
                format!("unknown resource `{}`", open.resource),
            ));
        }
        let get = |k: &str, d: u64| open.config.get(k).and_then(Value::as_u64).unwrap_or(d);
        // resume at the window's start: rows before it are already loaded
        let start = open
            .window
            .as_ref()
            .and_then(|w| w.start_value.as_deref())
            .and_then(|s| s.parse::<f64>().ok())
            .map_or(0, |s| s.max(0.0) as u64);
        Ok(Box::new(Events {
            next: start,
            rows: get("rows", 10_000),
            page_size: get("page_size", 1000).max(1),
            seed: get("seed", 42),
        }))
    }
}

struct Events {
    next: u64,
    rows: u64,
    page_size: u64,
    seed: u64,
}

/// splitmix64: a tiny deterministic generator.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const TYPES: [&str; 5] = [
    "PushEvent",
    "IssuesEvent",
    "WatchEvent",
    "ForkEvent",
    "PullRequestEvent",
];
const LABELS: [&str; 6] = [
    "bug",
    "docs",
    "good first issue",
    "perf",
    "security",
    "wontfix",
];

fn record(seed: u64, i: u64) -> Value {
    let r = mix(seed ^ mix(i));
    let kind = TYPES[(r % 5) as usize];
    let ts = 1_700_000_000 + i * 37 + (r % 30);
    let (day, secs) = (ts / 86_400, ts % 86_400);
    let created = format!(
        "2023-11-{:02}T{:02}:{:02}:{:02}Z",
        14 + (day - 19_675).min(15),
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    let commits: Vec<Value> = (0..(r >> 8) % 4)
        .map(|c| {
            json!({
                "sha": format!("{:016x}{:016x}", mix(r ^ c), mix(r + c)),
                "author": {"name": format!("dev{}", (r >> 16) % 100), "email": format!("dev{}@example.com", (r >> 16) % 100)},
                "message": format!("change {c} of event {i}"),
                "distinct": c % 2 == 0,
            })
        })
        .collect();
    let labels: Vec<Value> = (0..(r >> 12) % 3)
        .map(|l| json!(LABELS[((r >> (20 + l)) % 6) as usize]))
        .collect();
    json!({
        "id": format!("{}", 30_000_000_000u64 + i),
        "seq": i,
        "type": kind,
        "actor": {"id": (r >> 24) % 100_000, "login": format!("user{}", (r >> 24) % 100_000), "avatar_url": null},
        "repo": {"id": (r >> 32) % 50_000, "name": format!("org{}/repo{}", (r >> 40) % 100, (r >> 32) % 500)},
        "payload": {
            "action": if kind == "IssuesEvent" { json!("opened") } else { Value::Null },
            "size": commits.len(),
            "commits": commits,
            "labels": labels,
        },
        "public": !r.is_multiple_of(10),
        "score": ((r % 10_000) as f64) / 100.0,
        "created_at": created,
    })
}

impl Resource for Events {
    fn next_page(&mut self) -> Result<Option<Page>, Error> {
        if self.next >= self.rows {
            return Ok(None);
        }
        let end = (self.next + self.page_size).min(self.rows);
        let mut buf = Vec::with_capacity(((end - self.next) * 600) as usize);
        for i in self.next..end {
            sluice_sdk::serde_json::to_writer(&mut buf, &record(self.seed, i))
                .map_err(|e| sluice_sdk::error(ErrorKind::Internal, e.to_string()))?;
            buf.push(b'\n');
        }
        self.next = end;
        Ok(Some(
            Page::ndjson(buf).with_checkpoint(&json!({"emitted": end})),
        ))
    }
}

sluice_sdk::export!(Synthetic);
