//! What a JSON Schema (of the document) says about records: the properties of an object
//! schema, with `$ref`s followed and `allOf` members merged, and whether a schema is a list.

use serde_json::Value;

use crate::SpecError;
use crate::doc::{Doc, escape};

/// One property of an object schema: its name and its schema, dereferenced.
#[derive(Clone, Debug)]
pub struct Prop {
    pub name: String,
    pub schema: Value,
}

impl Prop {
    /// The property's JSON type (`string`, `integer`, …; the first of a list; `array` when
    /// it has `items`).
    pub fn kind(&self) -> &str {
        kind(&self.schema)
    }
}

/// A schema's JSON type, as [`Prop::kind`].
pub fn kind(schema: &Value) -> &str {
    match schema.get("type") {
        Some(Value::String(t)) => t,
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or(""),
        _ if schema.get("items").is_some() => "array",
        _ if schema.get("properties").is_some() => "object",
        _ => "",
    }
}

/// `schema` (at `ptr`) dereferenced, with the members of its `allOf` merged into one object
/// schema (their properties together).
pub fn resolve(doc: &Doc, schema: &Value, ptr: &str) -> Result<(Value, String), SpecError> {
    let (s, at) = doc.deref(schema, ptr)?;
    let Some(all) = s.get("allOf").and_then(Value::as_array) else {
        return Ok((s.clone(), at));
    };
    let mut merged = s.clone();
    let mut props = serde_json::Map::new();
    if let Some(own) = s.get("properties").and_then(Value::as_object) {
        props.extend(own.clone());
    }
    for (i, member) in all.iter().enumerate() {
        let (m, _) = doc.deref(member, &format!("{at}/allOf/{i}"))?;
        if let Some(p) = m.get("properties").and_then(Value::as_object) {
            props.extend(p.clone());
        }
        if merged.get("type").is_none()
            && let Some(t) = m.get("type")
        {
            merged["type"] = t.clone();
        }
    }
    merged["properties"] = Value::Object(props);
    Ok((merged, at))
}

/// The properties of the object schema `schema` (at `ptr`), each dereferenced; a property
/// whose `$ref` cannot be followed keeps its unresolved schema.
pub fn props(doc: &Doc, schema: &Value, ptr: &str) -> Result<Vec<Prop>, SpecError> {
    let (s, at) = resolve(doc, schema, ptr)?;
    let Some(map) = s.get("properties").and_then(Value::as_object) else {
        return Ok(Vec::new());
    };
    Ok(map
        .iter()
        .map(|(name, p)| {
            let here = format!("{at}/properties/{}", escape(name));
            let schema = resolve(doc, p, &here).map_or_else(|_| p.clone(), |(v, _)| v);
            Prop {
                name: name.clone(),
                schema,
            }
        })
        .collect())
}

/// The item schema of a list schema, dereferenced.
pub fn items(doc: &Doc, list: &Value, ptr: &str) -> Result<(Value, String), SpecError> {
    match list.get("items") {
        Some(items) => resolve(doc, items, &format!("{ptr}/items")),
        None => Ok((Value::Object(Default::default()), format!("{ptr}/items"))),
    }
}

/// A schema with the shape of an example value: objects' properties and lists' first item,
/// recursively.
pub fn of_example(v: &Value) -> Value {
    match v {
        Value::Object(m) => serde_json::json!({
            "type": "object",
            "properties": m.iter().map(|(k, x)| (k.clone(), of_example(x))).collect::<serde_json::Map<_, _>>(),
        }),
        Value::Array(items) => serde_json::json!({
            "type": "array",
            "items": items.first().map(of_example).unwrap_or_else(|| serde_json::json!({})),
        }),
        Value::String(_) => serde_json::json!({"type": "string"}),
        Value::Number(n) if n.is_i64() || n.is_u64() => serde_json::json!({"type": "integer"}),
        Value::Number(_) => serde_json::json!({"type": "number"}),
        Value::Bool(_) => serde_json::json!({"type": "boolean"}),
        Value::Null => serde_json::json!({}),
    }
}
