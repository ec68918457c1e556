//! The GET operations of a document: path, parameters (path-level and operation-level, with
//! `$ref`s followed) and what a successful answer holds — a list of records at a data
//! selector, one record, or nothing readable.

use serde_json::Value;

use crate::SpecError;
use crate::doc::{Doc, Version, escape};
use crate::schema::{self, Prop};

/// Where a parameter goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum In {
    Query,
    Path,
    Header,
    Cookie,
    /// Swagger 2's `body` and `formData`, which a GET does not send
    Body,
}

impl In {
    /// The place as the document names it (`query`, `header`, …).
    pub fn name(self) -> &'static str {
        match self {
            In::Query => "query",
            In::Path => "path",
            In::Header => "header",
            In::Cookie => "cookie",
            In::Body => "body",
        }
    }
}

/// One parameter of an operation.
#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    pub at: In,
    pub required: bool,
    /// its schema (Swagger 2 keeps type and default on the parameter itself)
    pub schema: Value,
}

impl Param {
    /// The value to send when the parameter is required: its default, example or first
    /// enum value.
    pub fn fill(&self) -> Option<Value> {
        let s = &self.schema;
        s.get("default")
            .or_else(|| s.get("example"))
            .or_else(|| s.get("enum").and_then(|e| e.get(0)))
            .cloned()
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        self.schema.get(key).and_then(Value::as_i64)
    }
}

/// What a successful answer holds.
#[derive(Clone, Debug)]
pub enum Answer {
    /// records in a list at `selector` (`$`: the body is the list); `body` is the body's
    /// properties (paging fields), `item` the records'; `container` the body property that
    /// holds the list when it is one level down (`data` of `data.results`)
    List {
        selector: String,
        body: Vec<Prop>,
        container: Option<String>,
        item: Vec<Prop>,
        /// the list holds scalars (ids), not objects
        scalars: bool,
    },
    /// one record
    Entity { props: Vec<Prop> },
    /// no JSON schema to read
    Unknown(String),
}

/// A GET operation.
#[derive(Clone, Debug)]
pub struct Operation {
    pub path: String,
    /// JSON pointer of the operation (`/paths/~1pets/get`)
    pub ptr: String,
    pub operation_id: Option<String>,
    pub params: Vec<Param>,
    pub answer: Answer,
    /// response header names of the successful answer (lowercase)
    pub headers: Vec<String>,
}

/// dlt's data selector names, most likely first (its `detect_selector`).
pub const LIST_KEYS: [&str; 11] = [
    "data", "items", "results", "entries", "records", "rows", "entities", "payload", "content",
    "objects", "values",
];

/// Every GET operation, in document order. An operation whose parts cannot be read (a
/// dangling `$ref`, say) is returned as `Err` with its pointer, for the caller to skip and
/// report; a `$ref` cycle fails the whole document.
pub fn operations(doc: &Doc) -> Result<Vec<Result<Operation, SpecError>>, SpecError> {
    let mut out = Vec::new();
    let Some(paths) = doc.root.get("paths").and_then(Value::as_object) else {
        return Ok(out);
    };
    for (path, item) in paths {
        let item_ptr = format!("/paths/{}", escape(path));
        let (item, _) = doc.deref(item, &item_ptr)?;
        let Some(get) = item.get("get") else {
            continue;
        };
        let ptr = format!("{item_ptr}/get");
        match operation(doc, path, item, get, &ptr) {
            Err(e) if e.reason.contains("cycle") => return Err(e),
            r => out.push(r),
        }
    }
    Ok(out)
}

fn operation(
    doc: &Doc,
    path: &str,
    item: &Value,
    get: &Value,
    ptr: &str,
) -> Result<Operation, SpecError> {
    let mut params = Vec::new();
    // path-level parameters first; an operation's parameter of the same name and place wins
    for (list, at) in [
        (
            item.get("parameters"),
            format!("{}/parameters", ptr.trim_end_matches("/get")),
        ),
        (get.get("parameters"), format!("{ptr}/parameters")),
    ] {
        for (i, p) in list
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let p = param(doc, p, &format!("{at}/{i}"))?;
            params.retain(|q: &Param| !(q.name == p.name && q.at == p.at));
            params.push(p);
        }
    }
    let (answer, headers) = answer(doc, get, ptr)?;
    Ok(Operation {
        path: path.to_owned(),
        ptr: ptr.to_owned(),
        operation_id: get
            .get("operationId")
            .and_then(Value::as_str)
            .map(str::to_owned),
        params,
        answer,
        headers,
    })
}

fn param(doc: &Doc, p: &Value, ptr: &str) -> Result<Param, SpecError> {
    let (p, at) = doc.deref(p, ptr)?;
    let name = p
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| SpecError::new(&at, "a parameter without `name`".into()))?;
    let place = match p.get("in").and_then(Value::as_str) {
        Some("query") => In::Query,
        Some("path") => In::Path,
        Some("header") => In::Header,
        Some("cookie") => In::Cookie,
        _ => In::Body,
    };
    let schema = match p.get("schema") {
        Some(s) => schema::resolve(doc, s, &format!("{at}/schema"))?.0,
        None => p.clone(),
    };
    Ok(Param {
        name: name.to_owned(),
        at: place,
        required: p.get("required").and_then(Value::as_bool).unwrap_or(false) || place == In::Path,
        schema,
    })
}

/// The successful response of `get` (`200`, else the first `2XX`, else `default`): what its
/// JSON body holds, and the headers it declares.
fn answer(doc: &Doc, get: &Value, ptr: &str) -> Result<(Answer, Vec<String>), SpecError> {
    let Some(responses) = get.get("responses").and_then(Value::as_object) else {
        return Ok((
            Answer::Unknown("the operation lists no responses".into()),
            Vec::new(),
        ));
    };
    let code = ["200"]
        .into_iter()
        .map(str::to_owned)
        .chain(responses.keys().filter(|k| k.starts_with('2')).cloned())
        .chain(["default".to_owned()])
        .find(|k| responses.contains_key(k));
    let Some(code) = code else {
        return Ok((
            Answer::Unknown("no successful response is described".into()),
            Vec::new(),
        ));
    };
    let rptr = format!("{ptr}/responses/{}", escape(&code));
    let (resp, rptr) = doc.deref(&responses[&code], &rptr)?;
    let headers = resp
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| h.keys().map(|k| k.to_ascii_lowercase()).collect())
        .unwrap_or_default();
    let body = match doc.version {
        Version::Swagger2 => resp.get("schema").map(|s| (s, format!("{rptr}/schema"))),
        Version::OpenApi3 => resp
            .get("content")
            .and_then(Value::as_object)
            .and_then(|c| {
                let with_schema = |(_, m): &(&String, &Value)| m.get("schema").is_some();
                c.iter()
                    .find(|(t, _)| t.as_str() == "application/json")
                    .or_else(|| c.iter().find(|(t, _)| t.contains("json")))
                    // `*/*` and the like: the schema still says what the body holds
                    .or_else(|| {
                        c.iter()
                            .filter(with_schema)
                            .find(|(t, _)| !t.starts_with("text/") && !t.contains("xml"))
                    })
            })
            .and_then(|(t, m)| {
                m.get("schema")
                    .map(|s| (s, format!("{rptr}/content/{}/schema", escape(t))))
            }),
    };
    if let Some((body, bptr)) = body {
        return Ok((shape(doc, body, &bptr)?, headers));
    }
    // no schema, but an example of the body: its shape stands in for one
    match example(resp) {
        Some(ex) => Ok((shape(doc, &schema::of_example(&ex), &rptr)?, headers)),
        None => Ok((
            Answer::Unknown(format!("response `{code}` has no JSON schema or example")),
            headers,
        )),
    }
}

/// An example body of a response (OpenAPI 3 `content.*.example(s)`, Swagger 2 `examples`),
/// as JSON (examples given as JSON text are parsed).
fn example(resp: &Value) -> Option<Value> {
    let media = resp
        .get("content")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|c| c.values());
    let candidates = media
        .flat_map(|m| {
            let one = m.get("example").cloned();
            let many = m
                .get("examples")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|e| e.values().filter_map(|x| x.get("value").cloned()));
            one.into_iter().chain(many).collect::<Vec<_>>()
        })
        .chain(
            resp.get("examples")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|e| e.values().cloned()),
        );
    candidates
        .map(|v| match v {
            Value::String(text) => serde_json::from_str(&text).unwrap_or(Value::Null),
            other => other,
        })
        .find(|v| v.is_object() || v.is_array())
}

/// A body schema as a list at a selector, or one record.
fn shape(doc: &Doc, body: &Value, ptr: &str) -> Result<Answer, SpecError> {
    let (b, at) = schema::resolve(doc, body, ptr)?;
    if schema::kind(&b) == "array" {
        let (item, iat) = schema::items(doc, &b, &at)?;
        let scalars = !matches!(schema::kind(&item), "object" | "");
        return Ok(Answer::List {
            selector: "$".into(),
            body: Vec::new(),
            container: None,
            item: schema::props(doc, &item, &iat)?,
            scalars,
        });
    }
    let props = schema::props(doc, &b, &at)?;
    if let Some((list, lptr)) = pick_list(&props, &at) {
        let (item, iat) = schema::items(doc, &list.schema, &lptr)?;
        return Ok(Answer::List {
            selector: list.name.clone(),
            body: props.clone(),
            container: None,
            scalars: !matches!(schema::kind(&item), "object" | ""),
            item: schema::props(doc, &item, &iat)?,
        });
    }
    // one level down: `{"data": {"total": …, "results": […]}}`
    for outer in props.iter().filter(|p| p.kind() == "object") {
        let optr = format!("{at}/properties/{}", escape(&outer.name));
        let inner = schema::props(doc, &outer.schema, &optr)?;
        if let Some((list, lptr)) = pick_list(&inner, &optr) {
            let (item, iat) = schema::items(doc, &list.schema, &lptr)?;
            return Ok(Answer::List {
                selector: format!("{}.{}", outer.name, list.name),
                body: props.clone(),
                container: Some(outer.name.clone()),
                scalars: !matches!(schema::kind(&item), "object" | ""),
                item: schema::props(doc, &item, &iat)?,
            });
        }
    }
    Ok(Answer::Entity { props })
}

/// The list property among `props` (of the object at `at`): one named as dlt's selectors
/// are, else the only array.
fn pick_list<'p>(props: &'p [Prop], at: &str) -> Option<(&'p Prop, String)> {
    let lists: Vec<&Prop> = props.iter().filter(|p| p.kind() == "array").collect();
    let named = lists
        .iter()
        .find(|p| LIST_KEYS.contains(&p.name.to_ascii_lowercase().as_str()));
    let pick = named.or(if lists.len() == 1 {
        lists.first()
    } else {
        None
    })?;
    Some((*pick, format!("{at}/properties/{}", escape(&pick.name))))
}
