//! Test component: tries what the sandbox must refuse. Config `{"try":
//! "file"|"env"|"http"|"loop"|"memory",
//! "url": …, "repeat": N}`; each attempt that is refused ends the extraction with an error carrying the
//! host's reason, an attempt that succeeds yields a record saying so (which tests reject).

use sluice_sdk::serde_json::{Value, json};
use sluice_sdk::{
    Error, ErrorKind, Open, Page, Pages, Resource, ResourceSpec, Source, SourceSpec, error, http,
};

struct Probe;

impl Source for Probe {
    fn spec(_config: &Value) -> Result<SourceSpec, Error> {
        Ok(SourceSpec::new("sandbox_probe", "0.1.0").resource(ResourceSpec::new("probe")))
    }

    fn open(open: Open) -> Result<Box<dyn Resource>, Error> {
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
            "http" => {
                let url = open.config["url"].as_str().unwrap_or("http://example.com/");
                let mut req = http::get(url);
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
            "loop" => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            _ => json!({"ok": true}),
        };
        Ok(Box::new(Pages::from(vec![Page::json(&json!([outcome]))])))
    }
}

sluice_sdk::export!(Probe);
