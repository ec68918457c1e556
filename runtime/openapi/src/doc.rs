//! The document: JSON or YAML text to one JSON value (YAML's integer keys such as response
//! codes become strings), its version (OpenAPI 3.x or Swagger 2.0), and `$ref`s followed
//! within it with cycle detection. Every problem names its JSON pointer.

use serde_json::Value;

use crate::SpecError;

/// Which specification the document follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// OpenAPI 3.0 or 3.1
    OpenApi3,
    /// Swagger 2.0
    Swagger2,
}

/// A parsed document and its version.
#[derive(Debug)]
pub struct Doc {
    pub root: Value,
    pub version: Version,
}

/// Most `$ref`s followed in a chain before it counts as a cycle.
const MAX_CHAIN: usize = 64;

impl Doc {
    /// Parse `text` (JSON when it starts with `{`, else YAML) and read its version.
    pub fn parse(text: &str) -> Result<Doc, SpecError> {
        let root = to_json(text)?;
        if !root.is_object() {
            return Err(SpecError::new("", "the document is not an object".into()));
        }
        let version = if let Some(v) = root.get("openapi") {
            let v = text_of(v);
            if !v.starts_with("3.") {
                return Err(SpecError::new(
                    "/openapi",
                    format!("OpenAPI `{v}` is not supported (3.0 and 3.1 are, and Swagger 2.0)"),
                ));
            }
            Version::OpenApi3
        } else if let Some(v) = root.get("swagger") {
            let v = text_of(v);
            if v != "2.0" {
                return Err(SpecError::new(
                    "/swagger",
                    format!("Swagger `{v}` is not supported (2.0 is, and OpenAPI 3)"),
                ));
            }
            Version::Swagger2
        } else {
            return Err(SpecError::new(
                "",
                "neither `openapi` nor `swagger` says which specification this is".into(),
            ));
        };
        if !root.get("paths").is_some_and(Value::is_object) {
            return Err(SpecError::new("/paths", "missing or not an object".into()));
        }
        Ok(Doc { root, version })
    }

    /// The value at JSON pointer `ptr`.
    pub fn at(&self, ptr: &str) -> Option<&Value> {
        self.root.pointer(ptr)
    }

    /// `v` (found at `ptr`) with its `$ref`s followed, and the pointer it ends at. A cycle, a
    /// reference outside the document or one that points nowhere fails naming where.
    pub fn deref<'a>(&'a self, v: &'a Value, ptr: &str) -> Result<(&'a Value, String), SpecError> {
        let (mut v, mut at) = (v, ptr.to_owned());
        let mut seen: Vec<String> = Vec::new();
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            let Some(target) = r.strip_prefix('#') else {
                return Err(SpecError::new(
                    &format!("{at}/$ref"),
                    format!("`{r}` points outside the document (only `#/…` references are read)"),
                ));
            };
            if seen.iter().any(|s| s == target) || seen.len() >= MAX_CHAIN {
                return Err(SpecError::new(
                    &format!("{at}/$ref"),
                    format!("`$ref` cycle: {} → {r}", seen.join(" → ")),
                ));
            }
            seen.push(target.to_owned());
            v = self.root.pointer(target).ok_or_else(|| {
                SpecError::new(&format!("{at}/$ref"), format!("`{r}` points nowhere"))
            })?;
            at = target.to_owned();
        }
        Ok((v, at))
    }
}

/// `text` (JSON when it starts with `{`, else YAML) as JSON.
pub fn to_json(text: &str) -> Result<Value, SpecError> {
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text)
            .map_err(|e| SpecError::new("", format!("not valid JSON: {e}")));
    }
    let y: serde_norway::Value = serde_norway::from_str(text)
        .map_err(|e| SpecError::new("", format!("not valid YAML: {e}")))?;
    Ok(yaml_to_json(y))
}

/// A YAML value as JSON: keys of any scalar type become their text.
fn yaml_to_json(y: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match y {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::from_str(&n.to_string()).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (key_text(k), yaml_to_json(v)))
                .collect(),
        ),
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}

fn key_text(k: serde_norway::Value) -> String {
    match k {
        serde_norway::Value::String(s) => s,
        other => text_of(&yaml_to_json(other)),
    }
}

/// A scalar as text (`3.0.1`, `2.0`, `200`).
pub fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `segment` escaped for a JSON pointer (`~` → `~0`, `/` → `~1`).
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_integer_keys_become_text_and_versions_are_read() {
        let d = Doc::parse("openapi: 3.0.1\npaths:\n  /a:\n    get:\n      responses:\n        200:\n          description: ok\n").expect("parses");
        assert_eq!(d.version, Version::OpenApi3);
        assert!(d.at("/paths/~1a/get/responses/200").is_some());
        let d = Doc::parse(r#"{"swagger": "2.0", "paths": {}}"#).expect("parses");
        assert_eq!(d.version, Version::Swagger2);
    }

    #[test]
    fn bad_documents_name_their_pointer() {
        let e = Doc::parse("openapi: 4.0.0\npaths: {}\n").expect_err("unsupported");
        assert_eq!(e.pointer, "/openapi");
        let e = Doc::parse("swagger: '1.2'\npaths: {}\n").expect_err("unsupported");
        assert_eq!(e.pointer, "/swagger");
        let e = Doc::parse("openapi: 3.0.0\n").expect_err("no paths");
        assert_eq!(e.pointer, "/paths");
        let e = Doc::parse("openapi: [3\n").expect_err("not YAML");
        assert!(e.reason.contains("not valid YAML"), "{e}");
    }

    #[test]
    fn ref_cycles_and_dangling_refs_fail_with_their_pointer() {
        let d = Doc::parse(
            r##"{"openapi": "3.0.0", "paths": {}, "components": {"schemas": {
                "A": {"$ref": "#/components/schemas/B"}, "B": {"$ref": "#/components/schemas/A"},
                "C": {"$ref": "#/components/schemas/Nope"}, "D": {"type": "object"},
                "E": {"$ref": "#/components/schemas/D"}, "F": {"$ref": "other.yaml#/X"}}}}"##,
        )
        .expect("parses");
        let a = d.at("/components/schemas/A").expect("A");
        let e = d.deref(a, "/components/schemas/A").expect_err("cycle");
        assert!(e.reason.contains("cycle"), "{e}");
        let c = d.at("/components/schemas/C").expect("C");
        let e = d.deref(c, "/components/schemas/C").expect_err("dangling");
        assert_eq!(e.pointer, "/components/schemas/C/$ref");
        let e_ = d.at("/components/schemas/E").expect("E");
        let (v, at) = d.deref(e_, "/components/schemas/E").expect("follows");
        assert_eq!(
            (v["type"].as_str(), at.as_str()),
            (Some("object"), "/components/schemas/D")
        );
        let f = d.at("/components/schemas/F").expect("F");
        assert!(
            d.deref(f, "/components/schemas/F")
                .expect_err("external")
                .reason
                .contains("outside")
        );
    }
}
