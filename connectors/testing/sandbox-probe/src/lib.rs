//! Test component: tries what the sandbox must refuse. Config `{"try": …, "url": …,
//! "repeat": N}` with `try` one of `file`, `env`, `http`, `loop`, `next_loop`, `memory`, `spec_loop`,
//! `stack`, `panic`, `socket`, `nesting`, `bad_utf8`, `bad_json`, `bad_arrow`, `big_state`, `log_flood`,
//! `tiny_pages`, `echo_log`, `big_page`, `claimed_page`, `forged_handle`, `stale_handle`,
//! `forged_extraction`, `dropped_extraction`, `ansi`, `close_loop`, `http_body`; each attempt
//! that is refused ends the
//! extraction with an error carrying the host's reason, an attempt that succeeds yields a
//! record saying so (which tests reject).
//!
//! `declare` makes `spec` declare something hostile (`dotdot`, `abs`, `empty`, `slash`,
//! `long`, `many`, `cycle`, `table_dotdot`, `column_ansi`, `cursor_nul`, `bad_schema`,
//! `orphan`); `child` adds a dependent resource `child` of `probe` that tries `big_page` or
//! `big_state`. `http` takes `method`, `headers` ([[name, value], …]) and `secrets`.
//!
//! The handle attempts misuse handles: they call WASI with a handle the host never issued or has
//! already dropped, or return from `open` an extraction handle that does not exist. They
//! need `unsafe` and the raw bindings, so this probe exports its `source` by hand rather
//! than through `sluice_sdk::export!`.

use sluice_sdk::bindings::exports::sluice::connector::source as wit;
use sluice_sdk::serde_json::{Value, json};
use sluice_sdk::{
    Error, ErrorKind, Open, Page, Pages, Resource, ResourceSpec, Source, SourceSpec, Window, error,
    http,
};
use wasi::io::poll::Pollable;

struct Probe;

impl Source for Probe {
    fn spec(config: &Value) -> Result<SourceSpec, Error> {
        if config["try"] == "spec_loop" {
            let mut n = 0u64;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        if let Some(d) = config["declare"].as_str() {
            return Ok(declare(d));
        }
        let mut spec =
            SourceSpec::new("sandbox_probe", "0.1.0").resource(ResourceSpec::new("probe"));
        if config["child"].is_string() {
            let mut child = ResourceSpec::new("child");
            child.parent = Some("probe".into());
            spec = spec.resource(child);
        }
        Ok(spec)
    }

    fn open(open: Open) -> Result<Box<dyn Resource>, Error> {
        if open.resource == "child" {
            return child(&open);
        }
        let attempt = open.config["try"].as_str().unwrap_or("none");
        let outcome = match attempt {
            "file" => match std::fs::read("/etc/passwd") {
                Ok(b) => json!({"escaped": "file", "bytes": b.len()}),
                Err(e) => {
                    return Err(error(
                        ErrorKind::Internal,
                        format!("open /etc/passwd refused: {e}"),
                    ));
                }
            },
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                if vars.is_empty() {
                    return Err(error(ErrorKind::Internal, "environment is empty"));
                }
                json!({"escaped": "env", "vars": vars})
            }
            "ansi" => {
                sluice_sdk::log::warn("ok\x1b[2J\x1b[31m\rerror: fake line\nsecond\u{202e}");
                return Err(error(
                    ErrorKind::Data,
                    "bad\x1b]0;pwned\x07\r\nerror: the run succeeded",
                ));
            }
            "close_loop" => return Ok(Box::new(CloseLoop)),
            "http_body" => {
                let url = open.config["url"].as_str().unwrap_or("http://example.com/");
                let mut req = http::get(url);
                req.secrets = vec!["token".into()];
                let r = http::fetch(&req)
                    .map_err(|e| error(ErrorKind::External, format!("http failed: {e:?}")))?;
                let headers: Vec<String> =
                    r.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                json!({"body": String::from_utf8_lossy(&r.body), "headers": headers})
            }
            "http" => {
                let url = open.config["url"].as_str().unwrap_or("http://example.com/");
                let mut req = http::get(url);
                if let Some(m) = open.config["method"].as_str() {
                    req.method = m.into();
                }
                req.timeout_ms = open.config["timeout_ms"].as_u64().map(|t| t as u32);
                req.headers = open.config["headers"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|h| {
                                Some((h[0].as_str()?.to_owned(), h[1].as_str()?.to_owned()))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                // secrets by name: the host fills them in; the probe never sees a value
                req.secrets = open.config["secrets"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                // `repeat`: that many requests, one record each (rate limits, retries)
                let repeat = open.config["repeat"].as_u64().unwrap_or(1);
                let mut statuses = Vec::new();
                for _ in 0..repeat {
                    match http::fetch(&req) {
                        Ok(r) => statuses.push(r.status),
                        Err(http::HttpError::Denied(why)) => {
                            return Err(error(ErrorKind::Auth, format!("http refused: {why}")));
                        }
                        Err(other) => {
                            return Err(error(
                                ErrorKind::External,
                                format!("http failed: {other:?}"),
                            ));
                        }
                    }
                }
                let last = statuses.last().copied().unwrap_or(0);
                json!({"escaped": "http", "status": last, "statuses": statuses})
            }
            // `count` copies of a GET of `url` through one `fetch-all`: how many came back,
            // too large or denied (and why)
            "fetch_all" => {
                let url = open.config["url"].as_str().unwrap_or("http://example.com/");
                let count = open.config["count"].as_u64().unwrap_or(1) as usize;
                let reqs = vec![http::get(url); count];
                let (mut ok, mut too_large, mut denied) = (0u64, 0u64, Vec::new());
                for answer in http::fetch_all(&reqs) {
                    match answer {
                        Ok(_) => ok += 1,
                        Err(http::HttpError::TooLarge(_)) => too_large += 1,
                        Err(http::HttpError::Denied(why)) => denied.push(why),
                        Err(other) => {
                            return Err(error(
                                ErrorKind::External,
                                format!("http failed: {other:?}"),
                            ));
                        }
                    }
                }
                json!({"escaped": "fetch_all", "ok": ok, "too_large": too_large, "denied": denied})
            }
            "loop" => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "next_loop" => return Ok(Box::new(Endless)),
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "stack" => json!({"depth": recurse(std::hint::black_box(1))}),
            "panic" => panic!("the probe panics on purpose"),
            "socket" => {
                let addr = open.config["addr"].as_str().unwrap_or("127.0.0.1:9");
                match std::net::TcpStream::connect(addr) {
                    Ok(_) => json!({"escaped": "socket"}),
                    Err(e) => {
                        return Err(error(ErrorKind::Internal, format!("socket refused: {e}")));
                    }
                }
            }
            "nesting" => {
                let depth = 100_000;
                let mut page = String::with_capacity(depth * 7 + 8);
                page.push('[');
                for _ in 0..depth {
                    page.push_str("{\"a\":");
                }
                page.push('1');
                for _ in 0..depth {
                    page.push('}');
                }
                page.push(']');
                return Ok(Box::new(Pages::from(vec![Page {
                    records: page.into_bytes(),
                    format: sluice_sdk::RecordsFormat::JsonArray,
                    checkpoint: None,
                }])));
            }
            "bad_utf8" => {
                return Ok(Box::new(Pages::from(vec![Page::ndjson(
                    b"{\"id\": 1}\n{\"id\": \"\xff\xfe\"}\n".to_vec(),
                )])));
            }
            "bad_arrow" => {
                // an IPC continuation marker, a length, then no flatbuffer message
                return Ok(Box::new(Pages::from(vec![Page::arrow_ipc(
                    b"\xff\xff\xff\xff\x10\x00\x00\x00not a flatbuffer message".to_vec(),
                )])));
            }
            "bad_json" => {
                return Ok(Box::new(Pages::from(vec![Page::ndjson(
                    b"{\"id\": 1}\n{\"id\": 2,\n".to_vec(),
                )])));
            }
            "big_state" => {
                let blob = "x".repeat(100 << 20);
                return Ok(Box::new(Pages::from(vec![
                    Page::json(&json!([{"id": 1}])).with_checkpoint(&json!({ "blob": blob })),
                ])));
            }
            "log_flood" => {
                for i in 0..1_000_000u32 {
                    sluice_sdk::log::info(&format!("flood line {i}"));
                }
                json!({"ok": true})
            }
            "big_page" => {
                // a real page of `mb` MiB of records
                let mb = open.config["mb"].as_u64().unwrap_or(3) as usize;
                let mut page = Vec::with_capacity((mb << 20) + 64);
                let mut i = 0u64;
                while page.len() < mb << 20 {
                    page.extend_from_slice(format!("{{\"id\": {i}}}\n").as_bytes());
                    i += 1;
                }
                return Ok(Box::new(Pages::from(vec![Page::ndjson(page)])));
            }
            "claimed_page" => return Ok(Box::new(ClaimedPage)),
            "forged_handle" => {
                // a pollable the host never handed out
                let p = unsafe { Pollable::from_handle(std::hint::black_box(0x7654_3210)) };
                p.block();
                json!({"escaped": "forged_handle"})
            }
            "stale_handle" => {
                // a pollable used after it was dropped
                let p = wasi::clocks::monotonic_clock::subscribe_duration(0);
                let h = p.handle();
                drop(p);
                let stale = unsafe { Pollable::from_handle(h) };
                stale.block();
                json!({"escaped": "stale_handle"})
            }
            "tiny_pages" => {
                let n = open.config["pages"].as_u64().unwrap_or(10_000);
                return Ok(Box::new(TinyPages { next: 0, n }));
            }
            "echo_log" => {
                // the server echoes the request's Authorization header; the probe tries to
                // leak it through a log line and an error
                let url = open.config["url"].as_str().unwrap_or("http://example.com/");
                let mut req = http::get(url);
                req.secrets = vec!["token".into()];
                let body = match http::fetch(&req) {
                    Ok(r) => String::from_utf8_lossy(&r.body).into_owned(),
                    Err(e) => format!("{e:?}"),
                };
                sluice_sdk::log::warn(&format!("leaking: {body}"));
                return Err(error(ErrorKind::Data, format!("leaking: {body}")));
            }
            _ => json!({"ok": true}),
        };
        Ok(Box::new(Pages::from(vec![Page::json(&json!([outcome]))])))
    }
}

/// A hostile declaration, by name.
fn declare(what: &str) -> SourceSpec {
    let spec = SourceSpec::new("sandbox_probe", "0.1.0");
    let named = |n: &str| spec.clone().resource(ResourceSpec::new(n));
    match what {
        "dotdot" => named("../../x"),
        "abs" => named("/abs/x"),
        "empty" => named(""),
        "slash" => named("a/b"),
        "long" => named(&"n".repeat(10 * 1024)),
        "many" => {
            let mut s = spec;
            s.resources = (0..100_000)
                .map(|i| ResourceSpec::new(&format!("r{i}")))
                .collect();
            s
        }
        "cycle" => {
            let mut a = ResourceSpec::new("a");
            a.parent = Some("b".into());
            let mut b = ResourceSpec::new("b");
            b.parent = Some("a".into());
            spec.resource(a).resource(b)
        }
        "orphan" => {
            let mut a = ResourceSpec::new("a");
            a.parent = Some("nobody".into());
            spec.resource(a)
        }
        "table_dotdot" => {
            let mut r = ResourceSpec::new("probe");
            r.table_name = Some("../../etc".into());
            spec.resource(r)
        }
        "column_ansi" => {
            let mut r = ResourceSpec::new("probe");
            r.columns.push(sluice_sdk::ColumnHint {
                name: "id\x1b[31m".into(),
                data_type: None,
                nullable: None,
                primary_key: false,
                merge_key: false,
                unique: false,
                dedup_sort: None,
                hard_delete: false,
                precision: None,
                scale: None,
                timezone: None,
            });
            spec.resource(r)
        }
        "cursor_nul" => {
            let mut r = ResourceSpec::new("probe");
            r.incremental = Some(sluice_sdk::Incremental {
                cursor_path: "id\0".into(),
                initial_value: None,
                end_value: None,
                last_value_func: sluice_sdk::LastValueFunc::Max,
                lag: None,
                on_cursor_missing: sluice_sdk::OnCursorMissing::Raise,
            });
            spec.resource(r)
        }
        "bad_schema" => {
            let mut s = named("probe");
            s.config_schema = "{not json".into();
            s
        }
        _ => named("probe"),
    }
}

/// The dependent resource `child`: the attempt in `config.child`.
fn child(open: &Open) -> Result<Box<dyn Resource>, Error> {
    let page = match open.config["child"].as_str().unwrap_or("none") {
        "big_page" => {
            let mut page = Vec::with_capacity(3 << 20);
            let mut i = 0u64;
            while page.len() < 3 << 20 {
                page.extend_from_slice(format!("{{\"id\": {i}}}\n").as_bytes());
                i += 1;
            }
            Page::ndjson(page)
        }
        "big_state" => {
            Page::json(&json!([{"id": 1}])).with_checkpoint(&json!({ "blob": "x".repeat(2 << 20) }))
        }
        _ => Page::json(&json!([{"id": 1}])),
    };
    Ok(Box::new(Pages::from(vec![page])))
}

/// An extraction whose destructor never returns: `close` must be held to the call deadline.
struct CloseLoop;

impl Resource for CloseLoop {
    fn next_page(&mut self) -> Result<Option<Page>, Error> {
        Ok(None)
    }
}

impl Drop for CloseLoop {
    fn drop(&mut self) {
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

/// Recursion without end: the wasm stack overflows.
#[allow(unconditional_recursion)]
fn recurse(n: u64) -> u64 {
    let mut frame = [n; 64];
    frame[std::hint::black_box(3)] = recurse(std::hint::black_box(n + 1));
    std::hint::black_box(frame).iter().sum()
}

/// A page claiming 2 GiB of records at a pointer into a 16-byte buffer: the length a
/// hostile guest writes into the canonical ABI's (pointer, length) pair. 2 GiB is the most a
/// Rust `Vec` may claim on wasm32; the host's bounds check is the same for any length.
struct ClaimedPage;

impl Resource for ClaimedPage {
    fn next_page(&mut self) -> Result<Option<Page>, Error> {
        const CLAIM: usize = 0x7fff_fff0;
        let real = Box::leak(vec![b'['; 16].into_boxed_slice());
        // SAFETY: not sound as Rust (the allocation is 16 bytes); the Vec is only lowered by
        // the bindings, which copy (pointer, length) into the return area, and the host
        // refuses it before the guest runs again.
        let records = unsafe {
            Vec::from_raw_parts(
                real.as_mut_ptr(),
                std::hint::black_box(CLAIM),
                std::hint::black_box(CLAIM),
            )
        };
        Ok(Some(Page {
            records,
            format: sluice_sdk::RecordsFormat::JsonArray,
            checkpoint: None,
        }))
    }
}

/// A resource whose first `next` never returns.
struct Endless;

impl Resource for Endless {
    fn next_page(&mut self) -> Result<Option<Page>, Error> {
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

/// `n` pages of one record each.
struct TinyPages {
    next: u64,
    n: u64,
}

impl Resource for TinyPages {
    fn next_page(&mut self) -> Result<Option<Page>, Error> {
        if self.next == self.n {
            return Ok(None);
        }
        self.next += 1;
        Ok(Some(Page::ndjson(
            format!("{{\"id\": {}}}\n", self.next).into_bytes(),
        )))
    }
}

/// The `source` export: the SDK's, except for the two attempts that return a bad handle.
struct Export;

impl wit::Guest for Export {
    type Extraction = sluice_sdk::Extraction;

    fn spec(config: String) -> Result<SourceSpec, Error> {
        sluice_sdk::__spec::<Probe>(config)
    }

    fn open(
        resource: String,
        config: String,
        state: Option<String>,
        window: Option<Window>,
        parent_records: Option<Vec<u8>>,
    ) -> Result<wit::Extraction, Error> {
        let attempt = sluice_sdk::serde_json::from_str::<Value>(&config)
            .ok()
            .and_then(|c| c["try"].as_str().map(str::to_owned));
        match attempt.as_deref() {
            // a handle this instance never created
            Some("forged_extraction") => {
                Ok(unsafe { wit::Extraction::from_handle(std::hint::black_box(0x0bad_cafe)) })
            }
            // a real extraction, dropped, then handed to the host anyway
            Some("dropped_extraction") => {
                let real = sluice_sdk::__open::<Probe>(resource, config, state, window, None)?;
                let h = real.take_handle();
                drop(unsafe { wit::Extraction::from_handle(h) });
                Ok(unsafe { wit::Extraction::from_handle(h) })
            }
            _ => sluice_sdk::__open::<Probe>(resource, config, state, window, parent_records),
        }
    }
}

sluice_sdk::bindings::__export_bindings!(Export with_types_in sluice_sdk::bindings);
