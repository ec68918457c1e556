//! A loopback API built from an OpenAPI document's own schemas and examples, for the
//! generated pipelines to run against: every GET operation answers; a list operation is a
//! collection of N records (ids 1–N, `name`s `name-1`…) paged by the parameters the
//! document gives it (`offset`/`limit`, `page`) with `next` links, totals and counts filled
//! in; an operation ending in a path parameter answers the record with that id. Everything
//! else in a body is an instance of its schema (an `example` where the document has one).
//! Independent of the generator: it reads the document itself.

use serde_json::{Map, Value, json};

use crate::api_server::{ApiRequest, ApiResponse, ApiServer};

/// Page size when the request names none.
const DEFAULT_LIMIT: i64 = 2;

/// The document as JSON (YAML keys of any type as text), read by the generator's parser (its
/// one shared part: what the mock serves is decided here, not by the generator's detection).
pub fn load(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).expect("spec");
    sluice_openapi::document_json(&text).expect("yaml or json")
}

/// Start the API for `doc`, each collection holding `records` records.
pub fn serve(doc: Value, records: i64) -> ApiServer {
    ApiServer::start(move |req| answer(&doc, req, records))
}

fn answer(doc: &Value, req: &ApiRequest, records: i64) -> ApiResponse {
    let Some((template, op, args)) = route(doc, &req.path) else {
        return ApiResponse::raw(
            404,
            format!(r#"{{"message": "no operation for {}"}}"#, req.path),
        );
    };
    let Some(schema) = body_schema(doc, op) else {
        return ApiResponse::raw(500, "{}");
    };
    let base = format!("http://{}", req.header("host").unwrap_or_default());
    let id = args.last().and_then(|a| a.parse::<i64>().ok());
    let ends_in_param = template
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .is_some_and(|s| s.contains('{'));
    let body = if ends_in_param {
        let mut b = instance(doc, &schema, 0, id.unwrap_or(1));
        stamp(&mut b, id.unwrap_or(1), &args);
        b
    } else {
        page(doc, &schema, req, &base, records)
    };
    ApiResponse::json(&body)
}

/// The operation whose path template matches `path`, and the path's parameter values.
fn route<'d>(doc: &'d Value, path: &str) -> Option<(&'d str, &'d Value, Vec<String>)> {
    let want: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    doc["paths"].as_object()?.iter().find_map(|(t, item)| {
        let segs: Vec<&str> = t.split('/').filter(|s| !s.is_empty()).collect();
        if segs.len() != want.len() {
            return None;
        }
        let mut args = Vec::new();
        for (s, w) in segs.iter().zip(&want) {
            match s.find('{') {
                Some(open) => {
                    let close = s.find('}')?;
                    let (pre, post) = (&s[..open], &s[close + 1..]);
                    let v = w.strip_prefix(pre)?.strip_suffix(post)?;
                    args.push(v.to_owned());
                }
                None if s != w => return None,
                None => {}
            }
        }
        Some((t.as_str(), item.get("get")?, args))
    })
}

fn deref<'d>(doc: &'d Value, mut v: &'d Value) -> &'d Value {
    for _ in 0..32 {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => match doc.pointer(r.trim_start_matches('#')) {
                Some(t) => v = t,
                None => return v,
            },
            None => return v,
        }
    }
    v
}

fn body_schema(doc: &Value, op: &Value) -> Option<Value> {
    let responses = op.get("responses")?.as_object()?;
    let resp = responses.get("200").or_else(|| {
        responses
            .iter()
            .find(|(k, _)| k.starts_with('2'))
            .map(|(_, v)| v)
    })?;
    let resp = deref(doc, resp);
    let content = resp.get("content")?.as_object()?;
    content.values().find_map(|m| m.get("schema")).cloned()
}

/// The properties of an object schema (`allOf` members merged).
fn properties(doc: &Value, schema: &Value) -> Map<String, Value> {
    let s = deref(doc, schema);
    let mut out = s
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for m in s
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.extend(properties(doc, m));
    }
    out
}

/// An instance of `schema` for record `n`: examples where given, lists of one, depth-capped.
fn instance(doc: &Value, schema: &Value, depth: usize, n: i64) -> Value {
    let s = deref(doc, schema);
    if let Some(ex) = s.get("example") {
        return ex.clone();
    }
    let kind = s
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or(if s.get("items").is_some() {
            "array"
        } else {
            "object"
        });
    match kind {
        "array" if depth < 3 => json!([instance(
            doc,
            s.get("items").unwrap_or(&Value::Null),
            depth + 1,
            n
        )]),
        "array" => json!([]),
        "object" if depth < 4 => Value::Object(
            properties(doc, s)
                .iter()
                .map(|(k, v)| (k.clone(), instance(doc, v, depth + 1, n)))
                .collect(),
        ),
        "object" => json!({}),
        "integer" => json!(n),
        "number" => json!(n as f64 + 0.5),
        "boolean" => json!(n % 2 == 0),
        _ => match s.get("format").and_then(Value::as_str) {
            Some("date-time") => json!(format!("2024-01-0{}T00:00:00Z", n.clamp(1, 9))),
            Some("date") => json!(format!("2024-01-0{}", n.clamp(1, 9))),
            _ => json!(format!("text-{n}")),
        },
    }
}

/// Record `id` of a collection: its `id` and `name` fields set to match.
fn stamp(record: &mut Value, id: i64, args: &[String]) {
    if let Value::Object(m) = record {
        if m.contains_key("id") {
            m.insert("id".into(), json!(id));
        }
        if m.contains_key("name") {
            let name = args.last().filter(|a| a.parse::<i64>().is_err()).cloned();
            m.insert(
                "name".into(),
                json!(name.unwrap_or_else(|| format!("name-{id}"))),
            );
        }
    }
}

fn num(req: &ApiRequest, names: &[&str]) -> Option<i64> {
    names
        .iter()
        .find_map(|n| req.param(n))
        .and_then(|v| v.parse().ok())
}

/// One page of a list operation's collection, paged by offset/limit or page number.
fn page(doc: &Value, schema: &Value, req: &ApiRequest, base: &str, records: i64) -> Value {
    let limit = num(req, &["limit", "per_page", "page_size"])
        .unwrap_or(DEFAULT_LIMIT)
        .max(1);
    let offset = match (num(req, &["offset"]), num(req, &["page"])) {
        (Some(o), _) => o,
        (None, Some(p)) => (p - 1) * limit,
        (None, None) => 0,
    };
    let ids: Vec<i64> = (offset + 1..=(offset + limit).min(records)).collect();
    let more = offset + limit < records;
    let next = more.then(|| format!("{base}{}?offset={}&limit={limit}", req.path, offset + limit));
    fill(
        doc,
        schema,
        &Paged {
            ids: &ids,
            next: next.as_deref(),
            records,
        },
        0,
    )
}

/// What one page holds: its records' ids, the next page's URL, the collection's size.
struct Paged<'a> {
    ids: &'a [i64],
    next: Option<&'a str>,
    records: i64,
}

/// `schema`'s instance with its list holding the page's records and its paging fields set.
fn fill(doc: &Value, schema: &Value, pg: &Paged<'_>, depth: usize) -> Value {
    let s = deref(doc, schema);
    if s.get("type").and_then(Value::as_str) == Some("array") || s.get("items").is_some() {
        let item = s.get("items").unwrap_or(&Value::Null);
        return Value::Array(
            pg.ids
                .iter()
                .map(|id| {
                    let mut r = instance(doc, item, 1, *id);
                    stamp(&mut r, *id, &[]);
                    r
                })
                .collect(),
        );
    }
    let mut out = Map::new();
    for (k, v) in properties(doc, s) {
        let lk = k.to_ascii_lowercase();
        let vs = deref(doc, &v);
        let is_list =
            vs.get("type").and_then(Value::as_str) == Some("array") || vs.get("items").is_some();
        let value = if is_list {
            fill(doc, &v, pg, depth + 1)
        } else if lk == "next" {
            pg.next.map_or(Value::Null, |n| json!(n))
        } else if lk == "previous" {
            Value::Null
        } else if matches!(lk.as_str(), "count" | "total" | "total_count") {
            json!(pg.records)
        } else if depth < 2
            && properties(doc, vs).values().any(|p| {
                let p = deref(doc, p);
                p.get("type").and_then(Value::as_str) == Some("array") || p.get("items").is_some()
            })
        {
            fill(doc, &v, pg, depth + 1)
        } else {
            instance(doc, &v, depth + 1, 1)
        };
        out.insert(k, value);
    }
    Value::Object(out)
}
