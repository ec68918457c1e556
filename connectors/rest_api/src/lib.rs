//! `rest_api`: dlt's declarative REST API source (reference §8) as a wasm component.
//!
//! The pipeline file's `[config]` describes the API — client (base URL, headers, auth by
//! secret name, paginator), `resource_defaults`, resources with endpoints, data selectors,
//! parent/child placeholders, incremental cursors, response actions and processing steps — and
//! this connector turns it into requests through the host's `http` interface. The host does
//! the rest: allow-list, secrets, retries, rate limits, the incremental window and state.
//! `config.rs` reads and checks the configuration, `paginate.rs` pages, `jsonpath.rs` selects,
//! `expr.rs` filters and maps.
//!
//! A dependent resource requests for several parent records at once: each record is a
//! [`Lane`] of pages, the lanes' next requests go out together through `http::fetch_all`
//! (the host bounds them per host), and pages are handed over lane by lane, page by page —
//! the order a sequential run gives.

mod config;
mod expr;
mod jsonpath;
mod paginate;
mod resume;

use std::collections::VecDeque;

use serde_json::Value;
use sluice_sdk::{
    ColumnHint, Error, ErrorKind, Incremental, LastValueFunc, MergeStrategy, OnCursorMissing, Open,
    Page, Resource, ResourceSpec, Source, SourceSpec, Window, WriteDisposition, error, http, log,
};

use config::{Config, Step, placeholders};
use jsonpath::JsonPath;
use paginate::{Paginator, Request, as_text};

const CONFIG_SCHEMA: &str = include_str!("config.schema.json");

struct RestApi;

fn config_error(msg: String) -> Error {
    error(ErrorKind::Config, msg)
}

impl Source for RestApi {
    fn spec(config: &Value) -> Result<SourceSpec, Error> {
        // no config at all: describe the connector (its config schema), offer no resources
        if config.as_object().is_some_and(serde_json::Map::is_empty) {
            let mut spec = SourceSpec::new("rest_api", env!("CARGO_PKG_VERSION"));
            spec.description = Some(
                "declarative REST API source (dlt's rest_api); configure `client` and `resources`"
                    .into(),
            );
            spec.config_schema = CONFIG_SCHEMA.into();
            return Ok(spec);
        }
        let cfg = Config::parse(config).map_err(config_error)?;
        let mut spec = SourceSpec::new(&cfg.name, env!("CARGO_PKG_VERSION"));
        spec.description = Some("declarative REST API source (dlt's rest_api)".into());
        spec.config_schema = CONFIG_SCHEMA.into();
        for r in &cfg.resources {
            let mut rs = ResourceSpec::new(&r.name);
            rs.table_name.clone_from(&r.table_name);
            rs.description.clone_from(&r.description);
            rs.write_disposition = match r.write_disposition.as_str() {
                "replace" => WriteDisposition::Replace,
                "merge" => WriteDisposition::Merge,
                "skip" => WriteDisposition::Skip,
                _ => WriteDisposition::Append,
            };
            rs.merge_strategy = r.merge_strategy.as_deref().map(|s| match s {
                "upsert" => MergeStrategy::Upsert,
                "scd2" => MergeStrategy::Scd2,
                "insert-only" => MergeStrategy::InsertOnly,
                _ => MergeStrategy::DeleteInsert,
            });
            rs.primary_key.clone_from(&r.primary_key);
            rs.merge_key.clone_from(&r.merge_key);
            rs.columns = r
                .columns
                .iter()
                .map(|(name, c)| ColumnHint {
                    name: name.clone(),
                    data_type: c.data_type.clone(),
                    nullable: c.nullable,
                    primary_key: c.primary_key,
                    merge_key: c.merge_key,
                    unique: c.unique,
                    dedup_sort: c.dedup_sort.clone(),
                    hard_delete: c.hard_delete,
                    precision: c.precision,
                    scale: c.scale,
                    timezone: c.timezone,
                })
                .collect();
            rs.max_nesting = r.max_table_nesting;
            rs.parent.clone_from(&r.parent);
            rs.selected = r.selected;
            rs.incremental = r.endpoint.incremental.as_ref().map(|i| Incremental {
                cursor_path: i.cursor_path.clone(),
                initial_value: i.initial_value.as_ref().map(Value::to_string),
                end_value: i.end_value.as_ref().map(Value::to_string),
                last_value_func: if i.last_value_func == "min" {
                    LastValueFunc::Min
                } else {
                    LastValueFunc::Max
                },
                lag: i.lag,
                on_cursor_missing: match i.on_cursor_missing.as_str() {
                    "keep" => OnCursorMissing::Keep,
                    "drop" => OnCursorMissing::Drop,
                    _ => OnCursorMissing::Raise,
                },
            });
            spec = spec.resource(rs);
        }
        Ok(spec)
    }

    fn open(open: Open) -> Result<Box<dyn Resource>, Error> {
        let cfg = Config::parse(&open.config).map_err(config_error)?;
        let index = cfg
            .resources
            .iter()
            .position(|r| r.name == open.resource)
            .ok_or_else(|| config_error(format!("config has no resource `{}`", open.resource)))?;
        let root = open.parent_records.is_none();
        let items: VecDeque<Option<Value>> = match open.parent_records {
            Some(records) => records
                .into_iter()
                .flat_map(|r| each_element(r, &cfg.resources[index]))
                .map(Some)
                .collect(),
            None => VecDeque::from([None]),
        };
        let fan_out = if cfg.resources[index].parallelized {
            FAN_OUT
        } else {
            1
        };
        // a root resource that pages checkpoints where it is, to resume after a failed run
        let paginator = cfg.resources[index]
            .endpoint
            .paginator
            .clone()
            .or_else(|| cfg.client.paginator.clone());
        let resumable = root && paginator.as_ref().is_some_and(Paginator::pages);
        let mut ext = Extraction {
            resume: resumable.then(|| resume::fingerprint(&open.config)),
            cfg,
            index,
            window: open.window,
            items,
            lanes: VecDeque::new(),
            fan_out,
            selector: None,
            pages: 0,
        };
        if let (Some(fp), Some(cfg)) = (&ext.resume, paginator)
            && let Some((req, position)) = resume::from_state(open.state.as_ref(), fp)
        {
            log::info(&format!(
                "resource `{}`: the previous run stopped after committing some pages; going on from {} {}",
                open.resource,
                req.method,
                req.full_url()
            ));
            ext.items.clear();
            ext.lanes.push_back(Lane {
                paging: Some(Paging {
                    req,
                    paginator: Paginator::resume(cfg, position),
                    parent: None,
                }),
                ready: VecDeque::new(),
                failed: None,
                done: false,
            });
        }
        Ok(Box::new(ext))
    }
}

/// The parent records a placeholder stands for: `record` itself, or — when a field the
/// placeholders name holds a list (Hacker News' `kids`) — one copy per element with that
/// field set to the element, so the resource makes one request per element.
/// A record missing one of them (or holding null there) stands for no request when the
/// resource says to skip it.
fn each_element(record: Value, resource: &config::Resource) -> Vec<Value> {
    let fields = &resource.parent_fields;
    let missing = |f: &String| record.get(f).is_none_or(Value::is_null);
    if resource.skip_missing_parent_fields && record.is_object() && fields.iter().any(missing) {
        return Vec::new();
    }
    let list = fields.iter().find_map(|f| match record.get(f) {
        Some(Value::Array(items)) => Some((f.clone(), items.clone())),
        _ => None,
    });
    match list {
        Some((field, items)) => items
            .into_iter()
            .map(|item| {
                let mut copy = record.clone();
                copy[field.as_str()] = item;
                copy
            })
            .collect(),
        None => vec![record],
    }
}

/// A response's headers and JSON body.
type Answer = (Vec<(String, String)>, Value);

/// Parent records a dependent resource requests for at once (each one's pages still in
/// order); the host bounds how many of them are in flight to one host.
const FAN_OUT: usize = 32;

/// Answered pages a lane behind the first may hold before it waits for its turn.
const AHEAD: usize = 2;

/// The requests for one parent item (or the one root request), page by page.
struct Paging {
    req: Request,
    paginator: Paginator,
    parent: Option<Value>,
}

/// One parent item's requests (or the root's) with the pages already answered: lanes are
/// requested side by side and handed over in order, so the pages come out as a sequential
/// run gives them.
struct Lane {
    paging: Option<Paging>,
    /// records of answered pages not handed over yet, in page order, each with the
    /// checkpoint to commit with it (resumable root resources)
    ready: VecDeque<(Vec<Value>, Option<Value>)>,
    /// the error the lane ended with, raised once the pages before it are handed over
    failed: Option<Error>,
    /// no more requests: the paginator stopped, a response action ignored the answer, or it
    /// failed
    done: bool,
}

impl Lane {
    fn wants_request(&self, first: bool) -> bool {
        !self.done && (first || self.ready.len() < AHEAD)
    }

    fn fail(&mut self, e: Error) {
        self.failed = Some(e);
        self.done = true;
    }
}

struct Extraction {
    cfg: Config,
    index: usize,
    window: Option<Window>,
    /// parent records still to request for (one `None` for a root resource)
    items: VecDeque<Option<Value>>,
    /// the items being requested, in order
    lanes: VecDeque<Lane>,
    /// most lanes open at once
    fan_out: usize,
    /// the configuration's fingerprint, for a root resource whose pages checkpoint a resume
    /// point
    resume: Option<String>,
    /// the data selector, detected on the first response when not configured
    selector: Option<JsonPath>,
    pages: u64,
}

fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Extraction {
    fn resource(&self) -> &config::Resource {
        &self.cfg.resources[self.index]
    }

    /// The value of an `{incremental.…}` placeholder, if the window has one.
    fn incremental_value(&self, which: &str) -> Option<String> {
        let inc = self.resource().endpoint.incremental.as_ref()?;
        let from_window = |v: Option<&String>| {
            v.map(|text| serde_json::from_str::<Value>(text).map_or(text.clone(), |j| as_text(&j)))
        };
        let w = self.window.as_ref();
        match which {
            "start_value" => from_window(w.and_then(|w| w.start_value.as_ref()))
                .or_else(|| inc.initial_value.as_ref().map(as_text)),
            "end_value" => from_window(w.and_then(|w| w.end_value.as_ref()))
                .or_else(|| inc.end_value.as_ref().map(as_text)),
            "last_value" => from_window(w.and_then(|w| w.last_value.as_ref())),
            "initial_value" => inc.initial_value.as_ref().map(as_text),
            _ => None,
        }
    }

    /// `text` with its placeholders filled. `None` when the text is exactly one incremental
    /// placeholder without a value (the parameter is left out).
    fn render(
        &self,
        text: &str,
        parent: Option<&Value>,
        encode: bool,
    ) -> Result<Option<String>, Error> {
        let mut out = text.to_owned();
        for ph in placeholders(text) {
            let value = if let Some(rest) = ph.strip_prefix("resources.") {
                let (pname, field) = rest.split_once('.').unwrap_or((rest, ""));
                let record = parent.ok_or_else(|| {
                    config_error(format!(
                        "resource `{}`: `{{{ph}}}` needs a record of `{pname}`",
                        self.resource().name
                    ))
                })?;
                let path = JsonPath::parse(field).map_err(config_error)?;
                // a scalar record (a list of ids) is its own `value`, as its table stores it
                let whole = (!record.is_object() && field == "value").then_some(record);
                let v = whole.or_else(|| path.first(record)).ok_or_else(|| {
                    error(
                        ErrorKind::Data,
                        format!(
                            "resource `{}`: the `{pname}` record has no field `{field}` for `{{{ph}}}`: {}",
                            self.resource().name,
                            excerpt(&record.to_string())
                        ),
                    )
                })?;
                as_text(v)
            } else {
                let which = ph.strip_prefix("incremental.").unwrap_or(ph);
                match self.incremental_value(which) {
                    Some(v) => v,
                    None if text.trim() == format!("{{{ph}}}") => return Ok(None),
                    None => {
                        return Err(config_error(format!(
                            "resource `{}`: `{{{ph}}}` has no value on this run (give `initial_value`)",
                            self.resource().name
                        )));
                    }
                }
            };
            let value = if encode {
                encode_segment(&value)
            } else {
                value
            };
            out = out.replacen(&format!("{{{ph}}}"), &value, 1);
        }
        Ok(Some(out))
    }

    fn render_json(&self, v: &Value, parent: Option<&Value>) -> Result<Option<Value>, Error> {
        Ok(match v {
            Value::String(s) => self.render(s, parent, false)?.map(Value::String),
            Value::Array(a) => {
                let mut out = Vec::new();
                for x in a {
                    out.extend(self.render_json(x, parent)?);
                }
                Some(Value::Array(out))
            }
            Value::Object(m) => {
                let mut out = serde_json::Map::new();
                for (k, x) in m {
                    if let Some(r) = self.render_json(x, parent)? {
                        out.insert(k.clone(), r);
                    }
                }
                Some(Value::Object(out))
            }
            other => Some(other.clone()),
        })
    }

    /// The first request for one parent item (or the root).
    fn first_request(&self, parent: Option<&Value>) -> Result<Request, Error> {
        let r = self.resource();
        let ep = &r.endpoint;
        let path = self
            .render(&ep.path, parent, true)?
            .ok_or_else(|| config_error(format!("resource `{}`: the path has no value", r.name)))?;
        let url = match url::Url::parse(&path) {
            Ok(abs) if abs.has_host() => abs,
            _ => {
                let mut base = self.cfg.client.base_url.clone();
                if !base.path().ends_with('/') {
                    base.set_path(&format!("{}/", base.path()));
                }
                base.join(path.trim_start_matches('/')).map_err(|e| {
                    config_error(format!("resource `{}`: path `{path}`: {e}", r.name))
                })?
            }
        };
        let mut params = Vec::new();
        for (k, v) in &ep.params {
            match self.render_json(v, parent)? {
                Some(Value::Array(items)) => {
                    params.extend(items.iter().map(|i| (k.clone(), as_text(i))));
                }
                Some(v) => params.push((k.clone(), as_text(&v))),
                None => {}
            }
        }
        if let Some(inc) = &ep.incremental {
            for (param, which) in [
                (&inc.start_param, "start_value"),
                (&inc.end_param, "end_value"),
            ] {
                if let (Some(p), Some(v)) = (param, self.incremental_value(which)) {
                    params.retain(|(k, _)| k != p);
                    params.push((p.clone(), v));
                }
            }
        }
        let mut headers: Vec<(String, String)> = self.cfg.client.headers.clone();
        for (k, v) in &ep.headers {
            if let Some(v) = self.render(v, parent, false)? {
                headers.retain(|(h, _)| !h.eq_ignore_ascii_case(k));
                headers.push((k.clone(), v));
            }
        }
        if !headers
            .iter()
            .any(|(h, _)| h.eq_ignore_ascii_case("user-agent"))
        {
            headers.push((
                "User-Agent".into(),
                concat!("sluice-rest-api/", env!("CARGO_PKG_VERSION")).into(),
            ));
        }
        let json = ep
            .json
            .as_ref()
            .map(|j| self.render_json(j, parent))
            .transpose()?
            .flatten();
        Ok(Request {
            method: ep.method.clone(),
            url,
            params,
            headers,
            json,
        })
    }

    fn fail(&self, kind: ErrorKind, what: String) -> Error {
        error(
            kind,
            format!(
                "resource `{}`, page {}: {what}",
                self.resource().name,
                self.pages
            ),
        )
    }

    /// The host request for `req`, with the client's and endpoint's secrets named.
    fn http_request(&self, req: &Request) -> Result<http::Request, Error> {
        let r = self.resource();
        let mut headers = req.headers.clone();
        let body = match &req.json {
            Some(j) => {
                headers.push(("Content-Type".into(), "application/json".into()));
                Some(
                    serde_json::to_vec(j)
                        .map_err(|e| self.fail(ErrorKind::Internal, e.to_string()))?,
                )
            }
            None => None,
        };
        let mut secrets = self.cfg.client.secrets.clone();
        secrets.extend(r.endpoint.secrets.iter().cloned());
        Ok(http::Request {
            method: req.method.clone(),
            url: req.full_url().to_string(),
            headers,
            body,
            timeout_ms: None,
            secrets,
        })
    }

    /// What the host answered to `shown` (`METHOD url`): `None` when a response action says
    /// to ignore it.
    fn answer(
        &self,
        shown: &str,
        resp: Result<http::Response, http::HttpError>,
    ) -> Result<Option<Answer>, Error> {
        let r = self.resource();
        let resp = resp.map_err(|e| {
            use http::HttpError as H;
            match e {
                H::Denied(why) => self.fail(ErrorKind::Config, format!("{shown} was refused by the pipeline's policy: {why}")),
                H::Timeout => Error { retryable: true, ..self.fail(ErrorKind::External, format!("{shown} timed out")) },
                H::TooLarge(n) => self.fail(ErrorKind::External, format!("{shown}: the response exceeds the size cap ({n} bytes)")),
                H::RateLimited(ms) => Error { retryable: true, ..self.fail(ErrorKind::External, format!("{shown} is still rate-limited after retries (server asked to wait {} ms)", ms.unwrap_or(0))) },
                H::Transport(why) => Error { retryable: true, ..self.fail(ErrorKind::External, format!("{shown} failed: {why}")) },
            }
        })?;
        let text = String::from_utf8_lossy(&resp.body);
        for a in &r.endpoint.response_actions {
            let status_ok = a.status_code.is_none_or(|s| s == resp.status);
            let content_ok = a.content.as_deref().is_none_or(|c| text.contains(c));
            if status_ok && content_ok && a.action == "ignore" {
                log::info(&format!(
                    "resource `{}`: {shown} answered {}; ignored by a response action",
                    r.name, resp.status
                ));
                return Ok(None);
            }
        }
        if resp.status >= 400 {
            let kind = if matches!(resp.status, 401 | 403) {
                ErrorKind::Auth
            } else {
                ErrorKind::External
            };
            return Err(Error {
                retryable: resp.status == 429 || resp.status >= 500,
                ..self.fail(
                    kind,
                    format!("{shown} answered {}: {}", resp.status, excerpt(&text)),
                )
            });
        }
        if resp.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Some((resp.headers, Value::Null)));
        }
        let doc: Value = serde_json::from_slice(&resp.body).map_err(|e| {
            self.fail(
                ErrorKind::Data,
                format!(
                    "the response to {shown} is not valid JSON ({e}): {}",
                    excerpt(&text)
                ),
            )
        })?;
        Ok(Some((resp.headers, doc)))
    }

    /// A lane for the next parent item (or the root): its first request and paginator, or
    /// the error building them gave.
    fn lane(&self, parent: Option<Value>) -> Lane {
        let paging = self.first_request(parent.as_ref()).and_then(|mut req| {
            let mut paginator = Paginator::new(
                self.resource()
                    .endpoint
                    .paginator
                    .clone()
                    .or_else(|| self.cfg.client.paginator.clone()),
            );
            paginator
                .init(&mut req)
                .map_err(|e| self.fail(ErrorKind::Config, e))?;
            Ok(Paging {
                req,
                paginator,
                parent,
            })
        });
        match paging {
            Ok(p) => Lane {
                paging: Some(p),
                ready: VecDeque::new(),
                failed: None,
                done: false,
            },
            Err(e) => Lane {
                paging: None,
                ready: VecDeque::new(),
                failed: Some(e),
                done: true,
            },
        }
    }

    /// Send the next request of every lane that wants one, at once, and take the answers
    /// in lane order.
    fn round(&mut self) {
        let mut lanes = std::mem::take(&mut self.lanes);
        let mut asked = Vec::new();
        let mut reqs = Vec::new();
        for (i, lane) in lanes.iter_mut().enumerate() {
            let Some(paging) = lane.paging.as_ref().filter(|_| lane.wants_request(i == 0)) else {
                continue;
            };
            match self.http_request(&paging.req) {
                Ok(r) => {
                    asked.push(i);
                    reqs.push(r);
                }
                Err(e) => lane.fail(e),
            }
        }
        let answers = match reqs.len() {
            0 => Vec::new(),
            1 => vec![http::fetch(&reqs[0])],
            _ => http::fetch_all(&reqs),
        };
        for (i, answer) in asked.into_iter().zip(answers) {
            self.take(&mut lanes[i], answer);
        }
        self.lanes = lanes;
    }

    /// One answer into its lane: the page's records, the paginator's next request.
    fn take(&mut self, lane: &mut Lane, answer: Result<http::Response, http::HttpError>) {
        let Some(mut paging) = lane.paging.take() else {
            return;
        };
        self.pages += 1;
        let shown = format!("{} {}", paging.req.method, paging.req.full_url());
        let (headers, doc) = match self.answer(&shown, answer) {
            Ok(Some(a)) => a,
            Ok(None) => {
                // ignored by a response action: the pages end here, and so does any resume
                // point an earlier page left
                if self.resume.is_some() {
                    lane.ready
                        .push_back((Vec::new(), Some(serde_json::json!({}))));
                }
                lane.done = true;
                return;
            }
            Err(e) => return lane.fail(e),
        };
        let records = self.select(&doc);
        let decision = match paging
            .paginator
            .next(&mut paging.req, &headers, &doc, records.len())
        {
            Ok(d) => d,
            Err(e) => return lane.fail(self.fail(ErrorKind::External, e)),
        };
        if let Some(why) = decision.detected {
            log::warn(&format!(
                "resource `{}`: paginator not set; detected {why}. Set `paginator` to make this explicit.",
                self.resource().name
            ));
        }
        let checkpoint = self.resume.as_deref().map(|fp| {
            if decision.more {
                resume::checkpoint(fp, &paging.req, paging.paginator.position())
            } else {
                serde_json::json!({})
            }
        });
        lane.ready
            .push_back((self.process(records, paging.parent.as_ref()), checkpoint));
        if decision.more {
            lane.paging = Some(paging);
        } else {
            lane.done = true;
        }
    }

    /// The records of a response, by the configured or detected data selector.
    fn select(&mut self, doc: &Value) -> Vec<Value> {
        let selector = match (&self.resource().endpoint.data_selector, &self.selector) {
            (Some(s), _) | (None, Some(s)) => s.clone(),
            (None, None) => {
                let s = detect_selector(doc);
                log::info(&format!(
                    "resource `{}`: data_selector not set; records are at `{}`",
                    self.resource().name,
                    s.as_str()
                ));
                self.selector = Some(s.clone());
                s
            }
        };
        let found = selector.find(doc);
        if selector.is_multi() {
            return found.into_iter().cloned().collect();
        }
        match found.first() {
            Some(Value::Array(items)) => items.clone(),
            Some(Value::Null) | None => Vec::new(),
            Some(other) => vec![(*other).clone()],
        }
    }

    fn process(&self, mut records: Vec<Value>, parent: Option<&Value>) -> Vec<Value> {
        let r = self.resource();
        if let (Some(p), Some(pname)) = (parent, &r.parent) {
            for rec in records.iter_mut() {
                if let Value::Object(m) = rec {
                    for (field, path) in &r.include_from_parent {
                        let v = path.first(p).cloned().unwrap_or(Value::Null);
                        m.insert(format!("_{pname}_{field}"), v);
                    }
                }
            }
        }
        for step in &r.steps {
            match step {
                Step::Filter(e) => records.retain(|rec| e.holds(rec)),
                Step::Map(fields) => {
                    for rec in records.iter_mut() {
                        let values: Vec<Value> = fields.iter().map(|(_, e)| e.eval(rec)).collect();
                        for ((path, _), v) in fields.iter().zip(values) {
                            let _ = path.set(rec, v);
                        }
                    }
                }
                Step::Drop(names) => {
                    for rec in records.iter_mut() {
                        if let Value::Object(m) = rec {
                            for n in names {
                                m.shift_remove(n);
                            }
                        }
                    }
                }
                Step::Rename(pairs) => {
                    for rec in records.iter_mut() {
                        if let Value::Object(m) = rec {
                            for (from, to) in pairs {
                                if let Some(v) = m.shift_remove(from) {
                                    m.insert(to.clone(), v);
                                }
                            }
                        }
                    }
                }
            }
        }
        records
    }
}

/// dlt's data selector detection (reference §8.3).
fn detect_selector(doc: &Value) -> JsonPath {
    const KEYS: [&str; 11] = [
        "data", "items", "results", "entries", "records", "rows", "entities", "payload", "content",
        "objects", "values",
    ];
    let root = JsonPath::root;
    let Value::Object(m) = doc else {
        return root();
    };
    let mut lists: Vec<(usize, String, bool)> = Vec::new();
    for (k, v) in m {
        match v {
            Value::Array(_) => lists.push((
                1,
                k.clone(),
                KEYS.contains(&k.to_ascii_lowercase().as_str()),
            )),
            Value::Object(inner) => {
                for (k2, v2) in inner {
                    if v2.is_array() {
                        lists.push((
                            2,
                            format!("{k}.{k2}"),
                            KEYS.contains(&k2.to_ascii_lowercase().as_str()),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    let pick = lists
        .iter()
        .find(|(_, _, named)| *named)
        .or_else(|| lists.iter().min_by_key(|(depth, _, _)| *depth));
    match pick {
        Some((_, path, _)) => JsonPath::parse(path).unwrap_or_else(|_| root()),
        None => root(),
    }
}

fn excerpt(text: &str) -> String {
    let t = text.trim();
    if t.len() <= 300 {
        return t.to_owned();
    }
    let mut end = 300;
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &t[..end], t.len())
}

impl Resource for Extraction {
    fn next_page(&mut self) -> Result<Option<Page>, Error> {
        loop {
            if let Some(first) = self.lanes.front_mut() {
                if let Some((records, checkpoint)) = first.ready.pop_front() {
                    if records.is_empty() && checkpoint.is_none() {
                        continue;
                    }
                    let page = Page::json(&Value::Array(records));
                    return Ok(Some(match checkpoint {
                        Some(cp) => page.with_checkpoint(&cp),
                        None => page,
                    }));
                }
                if let Some(e) = first.failed.take() {
                    return Err(e);
                }
                if first.done {
                    self.lanes.pop_front();
                    continue;
                }
            }
            while self.lanes.len() < self.fan_out {
                let Some(parent) = self.items.pop_front() else {
                    break;
                };
                let lane = self.lane(parent);
                self.lanes.push_back(lane);
            }
            if self.lanes.is_empty() {
                return Ok(None);
            }
            self.round();
        }
    }
}

sluice_sdk::export!(RestApi);
