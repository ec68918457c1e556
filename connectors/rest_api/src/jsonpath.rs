//! The JSONPath subset dlt's REST API configs use: `$`, `$.a.b`, `a.b` (no `$`), `a[0]`,
//! `a[*]`, `a.*`, `['key with dots']`. Anything else is refused when the config is read.

use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    Wildcard,
}

/// A parsed path.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonPath {
    text: String,
    steps: Vec<Step>,
}

impl JsonPath {
    /// Parse `text`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let t = text.trim();
        let mut rest = t.strip_prefix('$').unwrap_or(t);
        let mut steps = Vec::new();
        let mut first = !t.starts_with('$');
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('[') {
                let end = r
                    .find(']')
                    .ok_or_else(|| format!("JSONPath `{text}`: `[` without `]`"))?;
                let inner = r[..end].trim();
                steps.push(if inner == "*" {
                    Step::Wildcard
                } else if let Some(k) = inner
                    .strip_prefix('\'')
                    .and_then(|k| k.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|k| k.strip_suffix('"')))
                {
                    Step::Key(k.to_owned())
                } else {
                    Step::Index(inner.parse().map_err(|_| {
                        format!(
                            "JSONPath `{text}`: `[{inner}]` is not an index, `*` or a quoted key"
                        )
                    })?)
                });
                rest = &r[end + 1..];
            } else {
                let r = if first {
                    rest
                } else {
                    rest.strip_prefix('.').ok_or_else(|| {
                        format!("JSONPath `{text}`: expected `.` or `[` at `{rest}`")
                    })?
                };
                if r.starts_with('.') {
                    return Err(format!(
                        "JSONPath `{text}`: recursive descent `..` is not supported"
                    ));
                }
                let end = r.find(['.', '[']).unwrap_or(r.len());
                let key = &r[..end];
                if key.is_empty() {
                    return Err(format!("JSONPath `{text}`: empty key"));
                }
                steps.push(if key == "*" {
                    Step::Wildcard
                } else {
                    Step::Key(key.to_owned())
                });
                rest = &r[end..];
            }
            first = false;
        }
        Ok(JsonPath {
            text: text.to_owned(),
            steps,
        })
    }

    /// `$`: the whole document.
    pub fn root() -> JsonPath {
        JsonPath {
            text: "$".into(),
            steps: Vec::new(),
        }
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the path can match more than one value.
    pub fn is_multi(&self) -> bool {
        self.steps.contains(&Step::Wildcard)
    }

    /// Every value the path matches, in document order.
    pub fn find<'v>(&self, doc: &'v Value) -> Vec<&'v Value> {
        let mut cur = vec![doc];
        for step in &self.steps {
            let mut next = Vec::new();
            for v in cur {
                match (step, v) {
                    (Step::Key(k), Value::Object(m)) => next.extend(m.get(k)),
                    (Step::Index(i), Value::Array(a)) => next.extend(a.get(*i)),
                    (Step::Wildcard, Value::Array(a)) => next.extend(a.iter()),
                    (Step::Wildcard, Value::Object(m)) => next.extend(m.values()),
                    _ => {}
                }
            }
            cur = next;
        }
        cur
    }

    /// The first match that is not null.
    pub fn first<'v>(&self, doc: &'v Value) -> Option<&'v Value> {
        self.find(doc).into_iter().find(|v| !v.is_null())
    }

    /// Set the value at a path of keys, creating objects on the way (for request bodies).
    pub fn set(&self, doc: &mut Value, value: Value) -> Result<(), String> {
        let mut cur = doc;
        for (i, step) in self.steps.iter().enumerate() {
            let Step::Key(k) = step else {
                return Err(format!("JSONPath `{}`: only keys can be set", self.text));
            };
            if !cur.is_object() {
                *cur = Value::Object(Default::default());
            }
            let Value::Object(m) = cur else {
                return Err(format!("JSONPath `{}`: not an object", self.text));
            };
            if i + 1 == self.steps.len() {
                m.insert(k.clone(), value);
                return Ok(());
            }
            cur = m
                .entry(k.clone())
                .or_insert(Value::Object(Default::default()));
        }
        *cur = value;
        Ok(())
    }
}
