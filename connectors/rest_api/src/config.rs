//! The connector's configuration, read once and checked whole: every error names the key path
//! of the offending entry (`resources[1].endpoint.paginator.limit`).
//!
//! The shape is dlt's `rest_api_source` dict (reference §8.1) written in the pipeline file's
//! `[config]`, with one deliberate difference: credentials are never written here. `auth`
//! names secrets of the pipeline (`[secrets.NAME]`, whose `scheme` says bearer, api_key,
//! http_basic or oauth2_client_credentials), and the host puts them into requests, so neither
//! this connector nor anything it logs ever holds a credential.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::expr::Expr;
use crate::jsonpath::JsonPath;
use crate::paginate::PaginatorConfig;

/// The whole configuration.
#[derive(Debug)]
pub struct Config {
    /// the source name (schema name and state key); `rest_api` by default
    pub name: String,
    pub client: Client,
    pub resources: Vec<Resource>,
}

/// What every request shares.
#[derive(Debug)]
pub struct Client {
    pub base_url: url::Url,
    pub headers: Vec<(String, String)>,
    /// pipeline secrets the host injects into every request
    pub secrets: Vec<String>,
    pub paginator: Option<PaginatorConfig>,
}

/// One resource: an endpoint, how to page through it, what to keep from each response.
#[derive(Debug)]
pub struct Resource {
    pub name: String,
    pub table_name: Option<String>,
    pub description: Option<String>,
    pub primary_key: Vec<String>,
    pub merge_key: Vec<String>,
    /// append, replace, merge, skip
    pub write_disposition: String,
    /// delete-insert, upsert, scd2, insert-only
    pub merge_strategy: Option<String>,
    pub columns: Vec<(String, Column)>,
    pub max_table_nesting: Option<u32>,
    pub selected: bool,
    pub endpoint: Endpoint,
    /// the resource whose records this one is requested for (`{resources.<parent>.<field>}`)
    pub parent: Option<String>,
    /// parent fields copied into each record as `_<parent>_<field>`: (field, its path)
    pub include_from_parent: Vec<(String, JsonPath)>,
    pub steps: Vec<Step>,
    /// a dependent resource sends the requests of several parent records at once (dlt's
    /// `parallelized`; on unless set false)
    pub parallelized: bool,
    /// the parent record's fields the endpoint's placeholders name (`number` of
    /// `{resources.issues.number}`)
    pub parent_fields: Vec<String>,
    /// a parent record without one of those fields (or with null) makes no request rather
    /// than failing the run (`on_parent_field_missing = "skip"`; Hacker News items without
    /// `kids`)
    pub skip_missing_parent_fields: bool,
}

/// The request a resource makes, with placeholders still in it.
#[derive(Debug)]
pub struct Endpoint {
    pub path: String,
    pub method: String,
    pub params: Vec<(String, Value)>,
    pub json: Option<Value>,
    pub headers: Vec<(String, String)>,
    pub paginator: Option<PaginatorConfig>,
    /// `None`: detected from the first response
    pub data_selector: Option<JsonPath>,
    pub response_actions: Vec<ResponseAction>,
    pub incremental: Option<Incremental>,
    pub secrets: Vec<String>,
}

/// What to do with a response that matches.
#[derive(Debug)]
pub struct ResponseAction {
    pub status_code: Option<u16>,
    pub content: Option<String>,
    /// `ignore`: end this request's pagination without data and without error
    pub action: String,
}

/// The incremental cursor, kept by the host; the connector only puts the window into requests.
#[derive(Debug)]
pub struct Incremental {
    pub cursor_path: String,
    pub initial_value: Option<Value>,
    pub end_value: Option<Value>,
    pub start_param: Option<String>,
    pub end_param: Option<String>,
    pub last_value_func: String,
    pub lag: Option<f64>,
    pub on_cursor_missing: String,
}

/// Column hints, as dlt writes them.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub data_type: Option<String>,
    pub nullable: Option<bool>,
    #[serde(default)]
    pub primary_key: bool,
    #[serde(default)]
    pub merge_key: bool,
    #[serde(default)]
    pub unique: bool,
    pub dedup_sort: Option<String>,
    #[serde(default)]
    pub hard_delete: bool,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
    pub timezone: Option<bool>,
}

/// One processing step, applied to each record in order.
#[derive(Debug)]
pub enum Step {
    /// keep records for which the expression holds
    Filter(Expr),
    /// set fields to expression values
    Map(Vec<(JsonPath, Expr)>),
    /// remove fields
    Drop(Vec<String>),
    /// rename top-level fields
    Rename(Vec<(String, String)>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: Option<String>,
    client: RawClient,
    #[serde(default)]
    resource_defaults: Map<String, Value>,
    resources: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    base_url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    auth: Option<Value>,
    paginator: Option<Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Keys {
    One(String),
    Many(Vec<String>),
}

impl Keys {
    fn into_vec(self) -> Vec<String> {
        match self {
            Keys::One(k) => vec![k],
            Keys::Many(k) => k,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResource {
    name: String,
    endpoint: Option<Value>,
    table_name: Option<String>,
    description: Option<String>,
    primary_key: Option<Keys>,
    merge_key: Option<Keys>,
    write_disposition: Option<Value>,
    #[serde(default)]
    columns: BTreeMap<String, Column>,
    max_table_nesting: Option<u32>,
    selected: Option<bool>,
    #[serde(default)]
    include_from_parent: Vec<String>,
    #[serde(default)]
    processing_steps: Vec<Value>,
    parallelized: Option<bool>,
    on_parent_field_missing: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    path: Option<String>,
    method: Option<String>,
    #[serde(default)]
    params: Map<String, Value>,
    json: Option<Value>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    paginator: Option<Value>,
    data_selector: Option<String>,
    #[serde(default)]
    response_actions: Vec<RawAction>,
    incremental: Option<RawIncremental>,
    auth: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    status_code: Option<u16>,
    content: Option<String>,
    action: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIncremental {
    cursor_path: String,
    initial_value: Option<Value>,
    end_value: Option<Value>,
    start_param: Option<String>,
    end_param: Option<String>,
    last_value_func: Option<String>,
    lag: Option<f64>,
    on_cursor_missing: Option<String>,
}

/// Deserialize `value` as `T`, naming the key path below `at` on failure.
pub(crate) fn typed<T: serde::de::DeserializeOwned>(at: &str, value: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (at.is_empty(), inner == ".") {
            (true, _) => inner,
            (false, true) => at.to_owned(),
            (false, false) if inner.starts_with('[') => format!("{at}{inner}"),
            (false, false) => format!("{at}.{inner}"),
        };
        format!("config `{path}`: {}", e.into_inner())
    })
}

/// `defaults` with `over` laid on top; objects merge key by key (dlt's resource_defaults).
fn deep_merge(defaults: &Value, over: &Value) -> Value {
    match (defaults, over) {
        (Value::Object(d), Value::Object(o)) => {
            let mut out = d.clone();
            for (k, v) in o {
                let merged = match out.get(k) {
                    Some(dv) => deep_merge(dv, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        _ => over.clone(),
    }
}

fn secrets(at: &str, auth: Option<Value>) -> Result<Vec<String>, String> {
    let bad = || {
        format!(
            "config `{at}`: name the pipeline secret(s) to send (`auth = \"github_token\"` with `[secrets.github_token]` holding the value and its `scheme`); credentials are never written into connector config"
        )
    };
    match auth {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s]),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        Some(Value::Object(m)) if m.len() == 1 && m.get("secret").is_some_and(Value::is_string) => {
            Ok(vec![m["secret"].as_str().unwrap_or_default().to_owned()])
        }
        Some(_) => Err(bad()),
    }
}

fn steps(at: &str, raw: Vec<Value>) -> Result<Vec<Step>, String> {
    let mut out = Vec::new();
    for (i, v) in raw.into_iter().enumerate() {
        let at = format!("{at}[{i}]");
        let Value::Object(m) = v else {
            return Err(format!(
                "config `{at}`: a step is a table with one of `filter`, `map`, `drop`, `rename`"
            ));
        };
        if m.len() != 1 {
            return Err(format!(
                "config `{at}`: a step has exactly one of `filter`, `map`, `drop`, `rename`"
            ));
        }
        let Some((kind, body)) = m.into_iter().next() else {
            continue;
        };
        let at = format!("{at}.{kind}");
        let expr = |s: &str, at: &str| Expr::parse(s).map_err(|e| format!("config `{at}`: {e}"));
        out.push(match (kind.as_str(), body) {
            ("filter", Value::String(s)) => Step::Filter(expr(&s, &at)?),
            ("map", Value::Object(fields)) => {
                let mut set = Vec::new();
                for (field, e) in fields {
                    let fat = format!("{at}.{field}");
                    let Value::String(s) = e else {
                        return Err(format!("config `{fat}`: an expression is text"));
                    };
                    let path = JsonPath::parse(&field).map_err(|e| format!("config `{fat}`: {e}"))?;
                    set.push((path, expr(&s, &fat)?));
                }
                Step::Map(set)
            }
            ("drop", body) => Step::Drop(typed(&at, body)?),
            ("rename", body) => {
                let m: BTreeMap<String, String> = typed(&at, body)?;
                Step::Rename(m.into_iter().collect())
            }
            ("filter" | "map", _) => {
                return Err(format!(
                    "config `{at}`: `filter` takes an expression, `map` a table of field = expression"
                ));
            }
            (other, _) => {
                return Err(format!(
                    "config `{at}`: unknown step `{other}` (filter, map, drop, rename)"
                ));
            }
        });
    }
    Ok(out)
}

fn disposition(at: &str, v: Option<Value>) -> Result<(String, Option<String>), String> {
    let check = |d: &str| {
        if ["append", "replace", "merge", "skip"].contains(&d) {
            Ok(d.to_owned())
        } else {
            Err(format!(
                "config `{at}`: unknown write disposition `{d}` (append, replace, merge, skip)"
            ))
        }
    };
    match v {
        None => Ok(("append".into(), None)),
        Some(Value::String(d)) => Ok((check(&d)?, None)),
        Some(Value::Object(m)) => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Wd {
                disposition: String,
                strategy: Option<String>,
            }
            let wd: Wd = typed(at, Value::Object(m))?;
            if let Some(s) = &wd.strategy
                && !["delete-insert", "upsert", "scd2", "insert-only"].contains(&s.as_str())
            {
                return Err(format!(
                    "config `{at}.strategy`: unknown merge strategy `{s}` (delete-insert, upsert, scd2, insert-only)"
                ));
            }
            Ok((check(&wd.disposition)?, wd.strategy))
        }
        Some(_) => Err(format!(
            "config `{at}`: a disposition name or {{ disposition = …, strategy = … }}"
        )),
    }
}

/// Every `{…}` placeholder in `text`.
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push(&rest[open + 1..open + close]);
        rest = &rest[open + close + 1..];
    }
    out
}

fn strings_in<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| strings_in(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings_in(x, out)),
        _ => {}
    }
}

impl Config {
    /// Read and check the configuration.
    pub fn parse(config: &Value) -> Result<Config, String> {
        let raw: RawConfig = typed("", config.clone())?;
        let base_url = url::Url::parse(&raw.client.base_url)
            .map_err(|e| format!("config `client.base_url`: `{}`: {e}", raw.client.base_url))?;
        let client = Client {
            base_url,
            headers: raw.client.headers.into_iter().collect(),
            secrets: secrets("client.auth", raw.client.auth)?,
            paginator: raw
                .client
                .paginator
                .map(|p| PaginatorConfig::parse("client.paginator", &p))
                .transpose()?,
        };
        if raw.resources.is_empty() {
            return Err("config `resources`: at least one resource".into());
        }
        let defaults = Value::Object(raw.resource_defaults);
        let mut resources = Vec::new();
        for (i, r) in raw.resources.into_iter().enumerate() {
            let at = format!("resources[{i}]");
            let r = match r {
                Value::String(name) => serde_json::json!({ "name": name }),
                other => other,
            };
            let merged = deep_merge(&defaults, &r);
            resources.push(Resource::parse(&at, merged)?);
        }
        let mut seen = std::collections::HashSet::new();
        for (i, r) in resources.iter().enumerate() {
            if !seen.insert(r.name.as_str()) {
                return Err(format!(
                    "config `resources[{i}].name`: resource `{}` is defined twice",
                    r.name
                ));
            }
        }
        for (i, r) in resources.iter().enumerate() {
            if let Some(p) = &r.parent {
                if !resources.iter().any(|x| &x.name == p) {
                    return Err(format!(
                        "config `resources[{i}].endpoint`: `{{resources.{p}.…}}` names no resource called `{p}`"
                    ));
                }
                if let Some(cycle) = parent_cycle(&resources, i) {
                    return Err(format!(
                        "config `resources[{i}].endpoint`: parents form a cycle: {cycle}"
                    ));
                }
            } else if !r.include_from_parent.is_empty() {
                return Err(format!(
                    "config `resources[{i}].include_from_parent`: the resource has no parent (no `{{resources.<parent>.<field>}}` placeholder)"
                ));
            }
        }
        Ok(Config {
            name: raw.name.unwrap_or_else(|| "rest_api".into()),
            client,
            resources,
        })
    }
}

/// The cycle the chain of parents from `resources[start]` runs into, as `a → b → a`.
fn parent_cycle(resources: &[Resource], start: usize) -> Option<String> {
    let mut chain = vec![resources[start].name.as_str()];
    let mut at = &resources[start];
    while let Some(p) = &at.parent {
        let next = resources.iter().find(|r| &r.name == p)?;
        let seen = chain.contains(&next.name.as_str());
        chain.push(&next.name);
        if seen {
            return Some(chain.join(" → "));
        }
        at = next;
    }
    None
}

impl Resource {
    fn parse(at: &str, merged: Value) -> Result<Resource, String> {
        let raw: RawResource = typed(at, merged)?;
        let eat = format!("{at}.endpoint");
        let endpoint = match raw.endpoint {
            None => serde_json::json!({}),
            Some(Value::String(path)) => serde_json::json!({ "path": path }),
            Some(other) => other,
        };
        let ep: RawEndpoint = typed(&eat, endpoint)?;
        let path = ep.path.unwrap_or_else(|| raw.name.clone());
        let method = ep
            .method
            .unwrap_or_else(|| "GET".into())
            .to_ascii_uppercase();
        if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(&method.as_str()) {
            return Err(format!("config `{eat}.method`: unknown method `{method}`"));
        }
        let incremental = ep
            .incremental
            .map(|inc| {
                let iat = format!("{eat}.incremental");
                let func = inc.last_value_func.unwrap_or_else(|| "max".into());
                if !["max", "min"].contains(&func.as_str()) {
                    return Err(format!(
                        "config `{iat}.last_value_func`: `{func}` (max or min)"
                    ));
                }
                let missing = match inc.on_cursor_missing.as_deref().unwrap_or("raise") {
                    "raise" => "raise",
                    "include" | "keep" => "keep",
                    "exclude" | "drop" => "drop",
                    other => {
                        return Err(format!(
                            "config `{iat}.on_cursor_missing`: `{other}` (raise, include, exclude)"
                        ));
                    }
                };
                Ok(Incremental {
                    cursor_path: inc.cursor_path,
                    initial_value: inc.initial_value,
                    end_value: inc.end_value,
                    start_param: inc.start_param,
                    end_param: inc.end_param,
                    last_value_func: func,
                    lag: inc.lag,
                    on_cursor_missing: missing.into(),
                })
            })
            .transpose()?;
        // every placeholder is known; `resources.X.field` ones name one parent
        let mut texts: Vec<&str> = vec![&path];
        for (_, v) in &ep.params {
            strings_in(v, &mut texts);
        }
        if let Some(j) = &ep.json {
            strings_in(j, &mut texts);
        }
        texts.extend(ep.headers.values().map(String::as_str));
        let mut parent: Option<String> = None;
        let mut parent_fields: Vec<String> = Vec::new();
        for t in &texts {
            for ph in placeholders(t) {
                let parts: Vec<&str> = ph.splitn(3, '.').collect();
                match parts.as_slice() {
                    ["resources", p, field] if !field.is_empty() => {
                        if parent.as_deref().is_some_and(|q| q != *p) {
                            return Err(format!(
                                "config `{eat}`: placeholders name two parents, `{}` and `{p}`",
                                parent.unwrap_or_default()
                            ));
                        }
                        parent = Some((*p).to_owned());
                        if !parent_fields.iter().any(|f| f == field) {
                            parent_fields.push((*field).to_owned());
                        }
                    }
                    [
                        "incremental",
                        "start_value" | "end_value" | "last_value" | "initial_value",
                    ] => {
                        if incremental.is_none() {
                            return Err(format!(
                                "config `{eat}`: `{{{ph}}}` needs `endpoint.incremental`"
                            ));
                        }
                    }
                    _ => {
                        return Err(format!(
                            "config `{eat}`: unknown placeholder `{{{ph}}}` (`{{resources.<parent>.<field>}}` or `{{incremental.start_value|end_value|last_value|initial_value}}`)"
                        ));
                    }
                }
            }
        }
        // a path ending in a placeholder reads one entity (dlt): the whole response, one page
        let single_entity = path.trim_end_matches('/').ends_with('}');
        let data_selector = match ep.data_selector {
            Some(s) => Some(
                JsonPath::parse(&s).map_err(|e| format!("config `{eat}.data_selector`: {e}"))?,
            ),
            None if single_entity => JsonPath::parse("$").ok(),
            None => None,
        };
        let paginator = match ep.paginator {
            Some(p) => Some(PaginatorConfig::parse(&format!("{eat}.paginator"), &p)?),
            None if single_entity => Some(PaginatorConfig::SinglePage),
            None => None,
        };
        let mut actions = Vec::new();
        for (j, a) in ep.response_actions.into_iter().enumerate() {
            if a.action != "ignore" {
                return Err(format!(
                    "config `{eat}.response_actions[{j}].action`: unknown action `{}` (ignore)",
                    a.action
                ));
            }
            if a.status_code.is_none() && a.content.is_none() {
                return Err(format!(
                    "config `{eat}.response_actions[{j}]`: give `status_code`, `content` or both"
                ));
            }
            actions.push(ResponseAction {
                status_code: a.status_code,
                content: a.content,
                action: a.action,
            });
        }
        let (write_disposition, merge_strategy) =
            disposition(&format!("{at}.write_disposition"), raw.write_disposition)?;
        for (name, c) in &raw.columns {
            if let Some(t) = &c.data_type
                && ![
                    "text",
                    "double",
                    "bool",
                    "timestamp",
                    "bigint",
                    "binary",
                    "json",
                    "decimal",
                    "wei",
                    "date",
                    "time",
                ]
                .contains(&t.as_str())
            {
                return Err(format!(
                    "config `{at}.columns.{name}.data_type`: unknown data type `{t}`"
                ));
            }
        }
        Ok(Resource {
            table_name: raw.table_name,
            description: raw.description,
            primary_key: raw.primary_key.map(Keys::into_vec).unwrap_or_default(),
            merge_key: raw.merge_key.map(Keys::into_vec).unwrap_or_default(),
            write_disposition,
            merge_strategy,
            columns: raw.columns.into_iter().collect(),
            max_table_nesting: raw.max_table_nesting,
            selected: raw.selected.unwrap_or(true),
            endpoint: Endpoint {
                path,
                method,
                params: ep.params.into_iter().collect(),
                json: ep.json,
                headers: ep.headers.into_iter().collect(),
                paginator,
                data_selector,
                response_actions: actions,
                incremental,
                secrets: secrets(&format!("{eat}.auth"), ep.auth)?,
            },
            parent,
            include_from_parent: raw
                .include_from_parent
                .into_iter()
                .enumerate()
                .map(|(j, f)| {
                    JsonPath::parse(&f)
                        .map(|p| (f, p))
                        .map_err(|e| format!("config `{at}.include_from_parent[{j}]`: {e}"))
                })
                .collect::<Result<_, _>>()?,
            steps: steps(&format!("{at}.processing_steps"), raw.processing_steps)?,
            parallelized: raw.parallelized.unwrap_or(true),
            skip_missing_parent_fields: match raw.on_parent_field_missing.as_deref() {
                None | Some("raise") => false,
                Some("skip") => true,
                Some(other) => {
                    return Err(format!(
                        "config `{at}.on_parent_field_missing`: `{other}` is not `raise` or `skip`"
                    ));
                }
            },
            parent_fields,
            name: raw.name,
        })
    }
}
