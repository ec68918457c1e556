//! Paginators (dlt's, reference §8.3): how the next request follows from the last response,
//! and when to stop. `auto` looks at the first response and says what it chose.

use serde::Deserialize;
use serde_json::Value;

use crate::config::typed;
use crate::jsonpath::JsonPath;

/// Where a value goes in the next request.
#[derive(Clone, Debug)]
pub enum Target {
    Query(String),
    Body(JsonPath),
    Header(String),
}

/// Where the cursor comes from.
#[derive(Clone, Debug)]
pub enum CursorSource {
    Body(JsonPath),
    Header(String),
}

/// The stop rules shared by offset and page-number paginators.
#[derive(Clone, Debug)]
pub struct Stops {
    /// the total (items for offset, pages for page_number); `explicit` when the config named
    /// it, so its absence is an error rather than a reason to rely on empty pages
    pub total_path: Option<(JsonPath, bool)>,
    pub maximum: Option<i64>,
    pub stop_after_empty_page: bool,
    pub has_more_path: Option<JsonPath>,
}

#[derive(Clone, Debug)]
pub enum PaginatorConfig {
    SinglePage,
    JsonLink {
        next_url_path: JsonPath,
    },
    HeaderLink {
        links_next_key: String,
    },
    Offset {
        limit: i64,
        offset: i64,
        offset_to: Target,
        limit_to: Target,
        stops: Stops,
    },
    PageNumber {
        page: i64,
        base_page: i64,
        page_to: Target,
        stops: Stops,
    },
    Cursor {
        from: CursorSource,
        to: Target,
        stop_after_empty_page: bool,
        has_more_path: Option<JsonPath>,
    },
    Auto,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLinkRaw {
    #[serde(rename = "type")]
    _t: String,
    next_url_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderLinkRaw {
    #[serde(rename = "type")]
    _t: String,
    links_next_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OffsetRaw {
    #[serde(rename = "type")]
    _t: String,
    limit: i64,
    #[serde(default)]
    offset: i64,
    offset_param: Option<String>,
    limit_param: Option<String>,
    offset_body_path: Option<String>,
    limit_body_path: Option<String>,
    total_path: Option<Value>,
    maximum_offset: Option<i64>,
    stop_after_empty_page: Option<bool>,
    has_more_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageRaw {
    #[serde(rename = "type")]
    _t: String,
    #[serde(default)]
    base_page: i64,
    page: Option<i64>,
    page_param: Option<String>,
    page_body_path: Option<String>,
    total_path: Option<Value>,
    maximum_page: Option<i64>,
    stop_after_empty_page: Option<bool>,
    has_more_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorRaw {
    #[serde(rename = "type")]
    _t: String,
    cursor_path: Option<String>,
    /// read the cursor from this response header instead of the body
    cursor_header: Option<String>,
    /// dlt's `header_cursor` name for the header
    cursor_key: Option<String>,
    cursor_param: Option<String>,
    cursor_body_path: Option<String>,
    /// send the cursor in this request header
    cursor_request_header: Option<String>,
    stop_after_empty_page: Option<bool>,
    has_more_path: Option<String>,
}

fn path(at: &str, key: &str, p: &str) -> Result<JsonPath, String> {
    JsonPath::parse(p).map_err(|e| format!("config `{at}.{key}`: {e}"))
}

fn stops(
    at: &str,
    total_path: Option<Value>,
    maximum: Option<i64>,
    stop_after_empty_page: Option<bool>,
    has_more_path: Option<String>,
) -> Result<Stops, String> {
    let total_path = match total_path {
        None => Some((JsonPath::parse("total")?, false)),
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::Bool(false)) | Some(Value::Null) => None,
        Some(Value::String(s)) => Some((path(at, "total_path", &s)?, true)),
        Some(_) => {
            return Err(format!(
                "config `{at}.total_path`: a JSONPath, or \"\" for none"
            ));
        }
    };
    Ok(Stops {
        total_path,
        maximum,
        stop_after_empty_page: stop_after_empty_page.unwrap_or(true),
        has_more_path: has_more_path
            .map(|p| path(at, "has_more_path", &p))
            .transpose()?,
    })
}

fn target(
    at: &str,
    param: Option<String>,
    body: Option<String>,
    header: Option<String>,
    default: &str,
) -> Result<Target, String> {
    match (param, body, header) {
        (p, None, None) => Ok(Target::Query(p.unwrap_or_else(|| default.into()))),
        (None, Some(b), None) => Ok(Target::Body(path(at, "body_path", &b)?)),
        (None, None, Some(h)) => Ok(Target::Header(h)),
        _ => Err(format!(
            "config `{at}`: send the value in one place: a query parameter, a body path or a header"
        )),
    }
}

impl PaginatorConfig {
    /// Read a paginator: a type name, or a table with `type` and that type's options.
    pub fn parse(at: &str, v: &Value) -> Result<PaginatorConfig, String> {
        let (kind, table) = match v {
            Value::String(s) => (s.clone(), serde_json::json!({ "type": s })),
            Value::Object(m) => match m.get("type").and_then(Value::as_str) {
                Some(t) => (t.to_owned(), v.clone()),
                None => {
                    return Err(format!(
                        "config `{at}.type`: missing (json_link, header_link, offset, page_number, cursor, header_cursor, single_page, auto)"
                    ));
                }
            },
            _ => {
                return Err(format!(
                    "config `{at}`: a paginator type or a table with `type`"
                ));
            }
        };
        Ok(match kind.as_str() {
            "single_page" => PaginatorConfig::SinglePage,
            "auto" => PaginatorConfig::Auto,
            "json_link" | "json_response" => {
                let r: JsonLinkRaw = typed(at, table)?;
                PaginatorConfig::JsonLink {
                    next_url_path: path(
                        at,
                        "next_url_path",
                        r.next_url_path.as_deref().unwrap_or("next"),
                    )?,
                }
            }
            "header_link" => {
                let r: HeaderLinkRaw = typed(at, table)?;
                PaginatorConfig::HeaderLink {
                    links_next_key: r.links_next_key.unwrap_or_else(|| "next".into()),
                }
            }
            "offset" => {
                let r: OffsetRaw = typed(at, table)?;
                if r.limit <= 0 {
                    return Err(format!("config `{at}.limit`: must be positive"));
                }
                let s = stops(
                    at,
                    r.total_path,
                    r.maximum_offset,
                    r.stop_after_empty_page,
                    r.has_more_path,
                )?;
                PaginatorConfig::Offset {
                    limit: r.limit,
                    offset: r.offset,
                    offset_to: target(at, r.offset_param, r.offset_body_path, None, "offset")?,
                    limit_to: target(at, r.limit_param, r.limit_body_path, None, "limit")?,
                    stops: s,
                }
            }
            "page_number" => {
                let r: PageRaw = typed(at, table)?;
                let s = stops(
                    at,
                    r.total_path,
                    r.maximum_page,
                    r.stop_after_empty_page,
                    r.has_more_path,
                )?;
                PaginatorConfig::PageNumber {
                    page: r.page.unwrap_or(r.base_page),
                    base_page: r.base_page,
                    page_to: target(at, r.page_param, r.page_body_path, None, "page")?,
                    stops: s,
                }
            }
            "cursor" | "header_cursor" => {
                let r: CursorRaw = typed(at, table)?;
                let header = r.cursor_header.or(r.cursor_key);
                let from = match (r.cursor_path, header) {
                    (Some(_), Some(_)) => {
                        return Err(format!(
                            "config `{at}`: read the cursor from `cursor_path` (body) or `cursor_header`, not both"
                        ));
                    }
                    (None, Some(h)) => CursorSource::Header(h),
                    (None, None) if kind == "header_cursor" => CursorSource::Header("next".into()),
                    (p, None) => CursorSource::Body(path(
                        at,
                        "cursor_path",
                        p.as_deref().unwrap_or("cursors.next"),
                    )?),
                };
                PaginatorConfig::Cursor {
                    from,
                    to: target(
                        at,
                        r.cursor_param,
                        r.cursor_body_path,
                        r.cursor_request_header,
                        "cursor",
                    )?,
                    stop_after_empty_page: r.stop_after_empty_page.unwrap_or(false),
                    has_more_path: r
                        .has_more_path
                        .map(|p| path(at, "has_more_path", &p))
                        .transpose()?,
                }
            }
            other => {
                return Err(format!(
                    "config `{at}.type`: unknown paginator `{other}` (json_link, header_link, offset, page_number, cursor, header_cursor, single_page, auto)"
                ));
            }
        })
    }
}

/// A JSON value as it goes into a URL or header: text as is, anything else as JSON.
pub fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A request being built: pagination and placeholders change it between calls.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub url: url::Url,
    pub params: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub json: Option<Value>,
}

impl Request {
    fn put(&mut self, to: &Target, value: Value) -> Result<(), String> {
        match to {
            Target::Query(name) => {
                self.params.retain(|(k, _)| k != name);
                self.params.push((name.clone(), as_text(&value)));
            }
            Target::Header(name) => {
                self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
                self.headers.push((name.clone(), as_text(&value)));
            }
            Target::Body(p) => {
                let body = self
                    .json
                    .get_or_insert_with(|| Value::Object(Default::default()));
                p.set(body, value)?;
            }
        }
        Ok(())
    }

    /// The full URL with its parameters.
    pub fn full_url(&self) -> url::Url {
        let mut u = self.url.clone();
        if !self.params.is_empty() {
            let mut q = u.query_pairs_mut();
            for (k, v) in &self.params {
                q.append_pair(k, v);
            }
        }
        u
    }

    /// Follow a link: relative ones resolve against the URL just requested; the original
    /// query parameters are dropped (the link carries what the server wants, as in dlt).
    fn follow(&mut self, link: &str) -> Result<(), String> {
        let current = self.full_url();
        self.url = current
            .join(link)
            .map_err(|e| format!("next link `{link}` is not a URL: {e}"))?;
        self.params.clear();
        Ok(())
    }
}

/// The `rel` link of an RFC 8288 `Link` header.
pub fn link_rel(header: &str, rel: &str) -> Option<String> {
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let close = rest[open..].find('>')? + open;
        let target = &rest[open + 1..close];
        let after = &rest[close + 1..];
        let end = after.find('<').unwrap_or(after.len());
        let params = &after[..end];
        for p in params.split(';') {
            let p = p.trim().trim_end_matches(',').trim();
            if let Some(v) = p.strip_prefix("rel=").or_else(|| p.strip_prefix("rel =")) {
                let v = v.trim().trim_matches('"');
                if v.split_whitespace().any(|r| r.eq_ignore_ascii_case(rel)) {
                    return Some(target.to_owned());
                }
            }
        }
        rest = &after[end..];
    }
    None
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A paginator in motion.
#[derive(Debug)]
pub struct Paginator {
    cfg: PaginatorConfig,
    /// the offset or page of the request just sent
    current: i64,
}

/// What the paginator decided after a response.
#[derive(Debug, Default)]
pub struct Decision {
    /// the request was changed to fetch the next page
    pub more: bool,
    /// auto-detection: what was chosen (to log as a warning)
    pub detected: Option<String>,
}

fn truthy_or_missing(v: Option<&Value>) -> bool {
    match v {
        None => true,
        Some(v) => crate::expr::truthy(v),
    }
}

impl Paginator {
    pub fn new(cfg: Option<PaginatorConfig>) -> Paginator {
        let cfg = cfg.unwrap_or(PaginatorConfig::Auto);
        let current = match &cfg {
            PaginatorConfig::Offset { offset, .. } => *offset,
            PaginatorConfig::PageNumber { page, .. } => *page,
            _ => 0,
        };
        Paginator { cfg, current }
    }

    /// A paginator picking up at `position` (the offset or page of the request it resumes
    /// with).
    pub fn resume(cfg: PaginatorConfig, position: i64) -> Paginator {
        Paginator {
            cfg,
            current: position,
        }
    }

    /// The offset or page of the request just prepared.
    pub fn position(&self) -> i64 {
        self.current
    }

    /// Whether pages can follow one another (a resume point means something).
    pub fn pages(cfg: &PaginatorConfig) -> bool {
        !matches!(cfg, PaginatorConfig::SinglePage | PaginatorConfig::Auto)
    }

    /// Put the first page's parameters into the request.
    pub fn init(&mut self, req: &mut Request) -> Result<(), String> {
        match &self.cfg {
            PaginatorConfig::Offset {
                limit,
                offset_to,
                limit_to,
                ..
            } => {
                req.put(offset_to, Value::from(self.current))?;
                req.put(limit_to, Value::from(*limit))?;
            }
            PaginatorConfig::PageNumber { page_to, .. } => {
                req.put(page_to, Value::from(self.current))?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Decide from the response whether there is a next page, and prepare its request.
    pub fn next(
        &mut self,
        req: &mut Request,
        headers: &[(String, String)],
        body: &Value,
        records: usize,
    ) -> Result<Decision, String> {
        let mut d = Decision::default();
        if let PaginatorConfig::Auto = self.cfg {
            let (cfg, why) = detect(headers, body, records);
            d.detected = Some(why);
            self.cfg = cfg;
            // the first request went without paging parameters: it was the first page
            self.current = match &self.cfg {
                PaginatorConfig::PageNumber { base_page, .. } => *base_page,
                _ => 0,
            };
        }
        d.more = match &self.cfg {
            PaginatorConfig::SinglePage | PaginatorConfig::Auto => false,
            PaginatorConfig::JsonLink { next_url_path } => {
                match next_url_path.first(body).and_then(Value::as_str) {
                    Some(link) if !link.is_empty() => {
                        req.follow(link)?;
                        true
                    }
                    _ => false,
                }
            }
            PaginatorConfig::HeaderLink { links_next_key } => {
                match header(headers, "link").and_then(|h| link_rel(h, links_next_key)) {
                    Some(link) => {
                        req.follow(&link)?;
                        true
                    }
                    None => false,
                }
            }
            PaginatorConfig::Offset {
                limit,
                offset_to,
                stops,
                ..
            } => {
                let (limit, offset_to, stops) = (*limit, offset_to.clone(), stops.clone());
                if range_stops(&stops, body, records, self.current + limit, 0)? {
                    false
                } else {
                    self.current += limit;
                    req.put(&offset_to, Value::from(self.current))?;
                    true
                }
            }
            PaginatorConfig::PageNumber {
                base_page,
                page_to,
                stops,
                ..
            } => {
                let (base, page_to, stops) = (*base_page, page_to.clone(), stops.clone());
                if range_stops(&stops, body, records, self.current + 1, base)? {
                    false
                } else {
                    self.current += 1;
                    req.put(&page_to, Value::from(self.current))?;
                    true
                }
            }
            PaginatorConfig::Cursor {
                from,
                to,
                stop_after_empty_page,
                has_more_path,
            } => {
                let cursor = match from {
                    CursorSource::Body(p) => p.first(body).cloned(),
                    CursorSource::Header(h) => header(headers, h).map(|v| Value::String(v.into())),
                };
                let has_more =
                    truthy_or_missing(has_more_path.as_ref().and_then(|p| p.first(body)));
                match cursor {
                    Some(c)
                        if crate::expr::truthy(&c)
                            && has_more
                            && !(*stop_after_empty_page && records == 0) =>
                    {
                        let to = to.clone();
                        req.put(&to, c)?;
                        true
                    }
                    _ => false,
                }
            }
        };
        Ok(d)
    }
}

/// Whether a range paginator stops, `next` being the offset/page it would request.
fn range_stops(
    s: &Stops,
    body: &Value,
    records: usize,
    next: i64,
    base: i64,
) -> Result<bool, String> {
    if s.stop_after_empty_page && records == 0 {
        return Ok(true);
    }
    if let Some(p) = &s.has_more_path
        && !truthy_or_missing(p.first(body))
    {
        return Ok(true);
    }
    if let Some((p, explicit)) = &s.total_path {
        match p.first(body) {
            Some(t) => {
                let total = t
                    .as_i64()
                    .or_else(|| t.as_str().and_then(|s| s.trim().parse().ok()))
                    .ok_or_else(|| format!("total at `{}` is not a number: {t}", p.as_str()))?;
                if next >= total + base {
                    return Ok(true);
                }
            }
            None if *explicit => {
                return Err(format!(
                    "the response has no total at `{}` (set `total_path = \"\"` to rely on empty pages)",
                    p.as_str()
                ));
            }
            None => {}
        }
    }
    if let Some(max) = s.maximum
        && next >= max
    {
        return Ok(true);
    }
    Ok(false)
}

/// dlt's detection order (reference §8.3), on the first response.
fn detect(headers: &[(String, String)], body: &Value, records: usize) -> (PaginatorConfig, String) {
    if header(headers, "link")
        .and_then(|h| link_rel(h, "next"))
        .is_some()
    {
        return (
            PaginatorConfig::HeaderLink {
                links_next_key: "next".into(),
            },
            "header_link (the response has a `Link: <…>; rel=\"next\"` header)".into(),
        );
    }
    if let Value::Object(m) = body {
        for (k, v) in m {
            if !k.eq_ignore_ascii_case("next") {
                continue;
            }
            let (path, link) = match v {
                Value::String(s) => (k.clone(), Some(s.as_str())),
                Value::Object(inner) => {
                    match ["href", "url"]
                        .iter()
                        .find_map(|f| inner.get(*f).and_then(Value::as_str).map(|s| (*f, s)))
                    {
                        Some((f, s)) => (format!("{k}.{f}"), Some(s)),
                        None => (k.clone(), None),
                    }
                }
                _ => (k.clone(), None),
            };
            if let Some(l) = link
                && (l.starts_with("http") || l.starts_with('/'))
                && let Ok(p) = JsonPath::parse(&path)
            {
                return (
                    PaginatorConfig::JsonLink { next_url_path: p },
                    format!("json_link (next_url_path = \"{path}\")"),
                );
            }
        }
        for (k, v) in m {
            if ["total_pages", "pages", "totalpages"].contains(&k.to_ascii_lowercase().as_str())
                && v.is_i64()
                && let Ok(p) = JsonPath::parse(k)
            {
                return (
                    PaginatorConfig::PageNumber {
                        page: 1,
                        base_page: 1,
                        page_to: Target::Query("page".into()),
                        stops: Stops {
                            total_path: Some((p, true)),
                            maximum: None,
                            stop_after_empty_page: true,
                            has_more_path: None,
                        },
                    },
                    format!("page_number (total_path = \"{k}\", pages from 1 in `page`)"),
                );
            }
        }
        if let Some(k) = m.keys().find(|k| k.eq_ignore_ascii_case("next"))
            && let Ok(p) = JsonPath::parse(k)
        {
            return (
                PaginatorConfig::Cursor {
                    from: CursorSource::Body(p),
                    to: Target::Query("cursor".into()),
                    stop_after_empty_page: false,
                    has_more_path: None,
                },
                format!("cursor (cursor_path = \"{k}\", sent as `cursor`)"),
            );
        }
    }
    let why = if records > 0 {
        "single_page (no paging hints found in the first response; set `paginator` if the API pages)"
    } else {
        "single_page"
    };
    (PaginatorConfig::SinglePage, why.into())
}
