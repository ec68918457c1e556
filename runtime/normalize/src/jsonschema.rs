//! A resource's JSON Schema as its data contract (Sluice's counterpart of dlt's pydantic
//! models): the document gives the columns and their types, and every record is validated
//! before it is flattened.
//!
//! Supported keywords: `type` (also as a list), `properties`, `required`,
//! `additionalProperties` (bool or schema), `items`, `enum`, `const`, `minimum`, `maximum`,
//! `exclusiveMinimum`, `exclusiveMaximum`, `multipleOf`, `minLength`, `maxLength`, `pattern`,
//! `format` (`date-time`, `date`, `time` checked; others are annotations), `minItems`,
//! `maxItems`, `uniqueItems`, `anyOf`, `oneOf`, `allOf`, `nullable`, and local `$ref`s into
//! `$defs` / `definitions`. Validation keywords Sluice does not implement (`not`, `if`,
//! `patternProperties`, …) are refused when the schema is compiled, never silently ignored.
//!
//! Contract modes: unknown properties follow `columns` (`additionalProperties: false` makes
//! `evolve` act as `freeze`; `true` always allows them); type, range, format and missing
//! required properties follow `data_type` — `discard_value` drops an optional property's bad
//! value and discards the record when the property is required.

use indexmap::IndexMap;
use serde_json::Value;
use sluice_schema::{ContractMode, DataType};

use crate::ColumnHint;

/// A compiled JSON Schema.
#[derive(Debug)]
pub struct JsonSchema {
    root: Node,
}

/// What validation decided about a record.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Valid,
    /// dropped by `discard_row` (or a `discard_value` that cannot apply)
    Discard,
    /// the record breaks a `freeze` rule
    Invalid {
        path: String,
        reason: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Null,
    Boolean,
    Integer,
    Number,
    String,
    Object,
    Array,
}

impl Ty {
    fn parse(s: &str) -> Option<Ty> {
        Some(match s {
            "null" => Ty::Null,
            "boolean" => Ty::Boolean,
            "integer" => Ty::Integer,
            "number" => Ty::Number,
            "string" => Ty::String,
            "object" => Ty::Object,
            "array" => Ty::Array,
            _ => return None,
        })
    }

    fn of(v: &Value) -> Ty {
        match v {
            Value::Null => Ty::Null,
            Value::Bool(_) => Ty::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => Ty::Integer,
            Value::Number(n) => {
                // 1.0 is an integer to JSON Schema
                if n.as_f64().is_some_and(|f| f.fract() == 0.0)
                    && !n.to_string().contains(['e', 'E'])
                {
                    Ty::Integer
                } else {
                    Ty::Number
                }
            }
            Value::String(_) => Ty::String,
            Value::Object(_) => Ty::Object,
            Value::Array(_) => Ty::Array,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Ty::Null => "null",
            Ty::Boolean => "boolean",
            Ty::Integer => "integer",
            Ty::Number => "number",
            Ty::String => "string",
            Ty::Object => "object",
            Ty::Array => "array",
        }
    }
}

#[derive(Debug, Default)]
enum Additional {
    /// not said: the contract's `columns` mode decides
    #[default]
    Unsaid,
    Allow,
    Deny,
    Schema(Box<Node>),
}

#[derive(Debug, Default)]
struct Node {
    types: Option<Vec<Ty>>,
    properties: IndexMap<String, Node>,
    required: Vec<String>,
    additional: Additional,
    items: Option<Box<Node>>,
    enumeration: Option<Vec<Value>>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: Option<f64>,
    exclusive_maximum: Option<f64>,
    multiple_of: Option<f64>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: Option<regex::Regex>,
    format: Option<String>,
    min_items: Option<usize>,
    max_items: Option<usize>,
    unique_items: bool,
    any_of: Vec<Node>,
    one_of: Vec<Node>,
    all_of: Vec<Node>,
}

const UNSUPPORTED: &[&str] = &[
    "not",
    "if",
    "then",
    "else",
    "patternProperties",
    "propertyNames",
    "dependentRequired",
    "dependentSchemas",
    "dependencies",
    "prefixItems",
    "contains",
    "minContains",
    "maxContains",
    "unevaluatedProperties",
    "unevaluatedItems",
    "minProperties",
    "maxProperties",
    "$dynamicRef",
    "$recursiveRef",
];

struct Compiler<'a> {
    doc: &'a Value,
    depth: usize,
}

impl Compiler<'_> {
    fn node(&mut self, v: &Value, at: &str) -> Result<Node, String> {
        self.depth += 1;
        if self.depth > 64 {
            return Err(format!(
                "`{at}`: schema nests (or `$ref`s) deeper than 64 levels"
            ));
        }
        let out = self.node_inner(v, at);
        self.depth -= 1;
        out
    }

    fn node_inner(&mut self, v: &Value, at: &str) -> Result<Node, String> {
        let obj = match v {
            Value::Bool(true) => return Ok(Node::default()),
            Value::Bool(false) => {
                return Ok(Node {
                    types: Some(Vec::new()),
                    ..Default::default()
                });
            }
            Value::Object(o) => o,
            other => return Err(format!("`{at}`: a schema must be an object, not `{other}`")),
        };
        if let Some(r) = obj.get("$ref") {
            let target = r
                .as_str()
                .ok_or_else(|| format!("`{at}/$ref`: must be a string"))?;
            let pointer = target.strip_prefix('#').ok_or_else(|| {
                format!(
                    "`{at}/$ref`: only local references (`#/$defs/…`) are supported, not `{target}`"
                )
            })?;
            let resolved = self
                .doc
                .pointer(pointer)
                .ok_or_else(|| format!("`{at}/$ref`: `{target}` does not exist"))?;
            return self.node(resolved, target);
        }
        for k in UNSUPPORTED {
            if obj.contains_key(*k) {
                return Err(format!("`{at}`: keyword `{k}` is not supported"));
            }
        }
        let mut n = Node::default();
        let num = |k: &str| -> Result<Option<f64>, String> {
            obj.get(k)
                .map(|v| {
                    v.as_f64()
                        .ok_or_else(|| format!("`{at}/{k}`: must be a number"))
                })
                .transpose()
        };
        let count = |k: &str| -> Result<Option<usize>, String> {
            obj.get(k)
                .map(|v| {
                    v.as_u64()
                        .map(|n| n as usize)
                        .ok_or_else(|| format!("`{at}/{k}`: must be a non-negative integer"))
                })
                .transpose()
        };
        if let Some(t) = obj.get("type") {
            let names: Vec<&Value> = match t {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            let mut types = Vec::new();
            for name in names {
                let ty = name
                    .as_str()
                    .and_then(Ty::parse)
                    .ok_or_else(|| format!("`{at}/type`: `{name}` is not a JSON Schema type"))?;
                types.push(ty);
            }
            if obj.get("nullable").and_then(Value::as_bool) == Some(true) {
                types.push(Ty::Null);
            }
            n.types = Some(types);
        }
        if let Some(p) = obj.get("properties") {
            let p = p
                .as_object()
                .ok_or_else(|| format!("`{at}/properties`: must be an object"))?;
            for (k, sub) in p {
                let node = self.node(sub, &format!("{at}/properties/{k}"))?;
                n.properties.insert(k.clone(), node);
            }
        }
        if let Some(r) = obj.get("required") {
            let r = r
                .as_array()
                .ok_or_else(|| format!("`{at}/required`: must be a list of names"))?;
            for k in r {
                n.required.push(
                    k.as_str()
                        .ok_or_else(|| format!("`{at}/required`: `{k}` is not a name"))?
                        .to_owned(),
                );
            }
        }
        n.additional = match obj.get("additionalProperties") {
            None => Additional::Unsaid,
            Some(Value::Bool(true)) => Additional::Allow,
            Some(Value::Bool(false)) => Additional::Deny,
            Some(s) => Additional::Schema(Box::new(
                self.node(s, &format!("{at}/additionalProperties"))?,
            )),
        };
        if let Some(i) = obj.get("items") {
            n.items = Some(Box::new(self.node(i, &format!("{at}/items"))?));
        }
        if let Some(e) = obj.get("enum") {
            n.enumeration = Some(
                e.as_array()
                    .ok_or_else(|| format!("`{at}/enum`: must be a list"))?
                    .clone(),
            );
        }
        if let Some(c) = obj.get("const") {
            n.enumeration = Some(vec![c.clone()]);
        }
        n.minimum = num("minimum")?;
        n.maximum = num("maximum")?;
        n.exclusive_minimum = num("exclusiveMinimum")?;
        n.exclusive_maximum = num("exclusiveMaximum")?;
        n.multiple_of = num("multipleOf")?;
        n.min_length = count("minLength")?;
        n.max_length = count("maxLength")?;
        n.min_items = count("minItems")?;
        n.max_items = count("maxItems")?;
        n.unique_items = obj.get("uniqueItems").and_then(Value::as_bool) == Some(true);
        if let Some(p) = obj.get("pattern") {
            let p = p
                .as_str()
                .ok_or_else(|| format!("`{at}/pattern`: must be a string"))?;
            n.pattern = Some(regex::Regex::new(p).map_err(|e| format!("`{at}/pattern`: {e}"))?);
        }
        n.format = obj.get("format").and_then(Value::as_str).map(str::to_owned);
        for (k, dst) in [
            ("anyOf", &mut n.any_of),
            ("oneOf", &mut n.one_of),
            ("allOf", &mut n.all_of),
        ] {
            if let Some(list) = obj.get(k) {
                let list = list
                    .as_array()
                    .ok_or_else(|| format!("`{at}/{k}`: must be a list of schemas"))?;
                for (i, s) in list.iter().enumerate() {
                    dst.push(self.node(s, &format!("{at}/{k}/{i}"))?);
                }
            }
        }
        Ok(n)
    }
}

/// A problem found in a value.
struct Problem {
    path: String,
    reason: String,
    /// an unknown property (governed by `columns`), else a type problem (`data_type`)
    extra: bool,
}

struct Modes {
    columns: ContractMode,
    data_type: ContractMode,
}

impl JsonSchema {
    /// Compile a JSON Schema document. Errors name the schema location (`#/properties/…`).
    pub fn compile(doc: &Value) -> Result<JsonSchema, String> {
        let root = Compiler { doc, depth: 0 }.node(doc, "#")?;
        Ok(JsonSchema { root })
    }

    /// The `columns` mode the schema itself asks for: `additionalProperties: false` at the
    /// root freezes columns, `true` lets them evolve, silence drops unknown values (dlt's
    /// pydantic default).
    pub fn columns_mode(&self) -> ContractMode {
        match self.root.additional {
            Additional::Deny => ContractMode::Freeze,
            Additional::Allow | Additional::Schema(_) => ContractMode::Evolve,
            Additional::Unsaid => ContractMode::DiscardValue,
        }
    }

    /// Validate (and, for `discard_value`, clean) one record.
    pub fn validate(
        &self,
        record: &mut Value,
        columns: ContractMode,
        data_type: ContractMode,
    ) -> Verdict {
        let modes = Modes { columns, data_type };
        let mut path = String::from("$");
        match check(&self.root, record, &mut path, &modes) {
            Ok(()) => Verdict::Valid,
            Err(p) => {
                let mode = if p.extra { columns } else { data_type };
                match mode {
                    ContractMode::Freeze | ContractMode::Evolve => Verdict::Invalid {
                        path: p.path,
                        reason: p.reason,
                    },
                    ContractMode::DiscardRow | ContractMode::DiscardValue => Verdict::Discard,
                }
            }
        }
    }

    /// Column hints of the root table: flattened properties with their types and
    /// nullability (lists become nested tables and get no hint).
    pub fn column_hints(&self) -> Vec<ColumnHint> {
        let mut out = Vec::new();
        hints(&self.root, "", false, &mut out);
        out
    }
}

fn hints(node: &Node, prefix: &str, parent_nullable: bool, out: &mut Vec<ColumnHint>) {
    for (name, prop) in &node.properties {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}__{name}")
        };
        let (types, format) = effective_types(prop);
        let nullable = parent_nullable
            || !node.required.contains(name)
            || types.as_ref().is_none_or(|t| t.contains(&Ty::Null));
        let non_null: Vec<Ty> = types
            .unwrap_or_default()
            .into_iter()
            .filter(|t| *t != Ty::Null)
            .collect();
        let data_type = match (non_null.as_slice(), format.as_deref()) {
            ([Ty::Object], _) if !prop.properties.is_empty() => {
                hints(prop, &path, nullable, out);
                continue;
            }
            ([Ty::Array], _) => continue,
            ([Ty::Object], _) => Some(DataType::Json),
            ([Ty::Integer], _) => Some(DataType::Bigint),
            ([Ty::Number], _) | ([Ty::Integer, Ty::Number], _) | ([Ty::Number, Ty::Integer], _) => {
                Some(DataType::Double)
            }
            ([Ty::Boolean], _) => Some(DataType::Bool),
            ([Ty::String], Some("date-time")) => Some(DataType::Timestamp),
            ([Ty::String], Some("date")) => Some(DataType::Date),
            ([Ty::String], Some("time")) => Some(DataType::Time),
            ([Ty::String], _) => Some(DataType::Text),
            // several types: the normalizer infers and makes variants
            _ => None,
        };
        out.push(ColumnHint {
            name: path,
            data_type,
            nullable: Some(nullable),
            ..Default::default()
        });
    }
}

/// Types (and format) of a node, looking through `anyOf`/`oneOf` of simple branches (the
/// shape pydantic and others export for optional fields).
fn effective_types(node: &Node) -> (Option<Vec<Ty>>, Option<String>) {
    if node.types.is_some() {
        return (node.types.clone(), node.format.clone());
    }
    let branches = if !node.any_of.is_empty() {
        &node.any_of
    } else {
        &node.one_of
    };
    if branches.is_empty() {
        return (None, node.format.clone());
    }
    let mut types = Vec::new();
    let mut format = node.format.clone();
    for b in branches {
        match &b.types {
            Some(t) => types.extend(t.iter().copied()),
            None => return (None, None),
        }
        if b.types.as_deref() != Some(&[Ty::Null]) && format.is_none() {
            format.clone_from(&b.format);
        }
    }
    (Some(types), format)
}

fn fail(path: &str, reason: String) -> Result<(), Problem> {
    Err(Problem {
        path: path.to_owned(),
        reason,
        extra: false,
    })
}

fn check(node: &Node, value: &mut Value, path: &mut String, m: &Modes) -> Result<(), Problem> {
    // type problems are only looked for when `data_type` does not evolve
    let strict = m.data_type != ContractMode::Evolve;
    let ty = Ty::of(value);
    if strict {
        if let Some(types) = &node.types {
            let ok = types.contains(&ty) || (ty == Ty::Integer && types.contains(&Ty::Number));
            if !ok {
                let want: Vec<&str> = types.iter().map(|t| t.name()).collect();
                return fail(
                    path,
                    format!("expected {}, got {}", want.join(" or "), ty.name()),
                );
            }
        }
        if let Some(e) = &node.enumeration
            && !e.iter().any(|x| json_eq(x, value))
        {
            return fail(path, format!("{value} is not one of the allowed values"));
        }
        if let Some(f) = value.as_f64() {
            let bounds = [
                (node.minimum, f >= node.minimum.unwrap_or(f), ">="),
                (node.maximum, f <= node.maximum.unwrap_or(f), "<="),
                (
                    node.exclusive_minimum,
                    node.exclusive_minimum.is_none_or(|b| f > b),
                    ">",
                ),
                (
                    node.exclusive_maximum,
                    node.exclusive_maximum.is_none_or(|b| f < b),
                    "<",
                ),
            ];
            for (bound, ok, op) in bounds {
                if let (Some(b), false) = (bound, ok) {
                    return fail(path, format!("{f} is not {op} {b}"));
                }
            }
            if let Some(d) = node.multiple_of
                && d > 0.0
                && ((f / d) - (f / d).round()).abs() > 1e-9
            {
                return fail(path, format!("{f} is not a multiple of {d}"));
            }
        }
        if let Value::String(s) = &*value {
            let chars = s.chars().count();
            if node.min_length.is_some_and(|n| chars < n)
                || node.max_length.is_some_and(|n| chars > n)
            {
                return fail(path, format!("string length {chars} is out of bounds"));
            }
            if let Some(p) = &node.pattern
                && !p.is_match(s)
            {
                return fail(
                    path,
                    format!("string does not match pattern `{}`", p.as_str()),
                );
            }
            let ok = match node.format.as_deref() {
                Some("date-time") => crate::parse_timestamp(s).is_some() && s.len() >= 15,
                Some("date") => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
                Some("time") => {
                    chrono::NaiveTime::parse_from_str(s.trim_end_matches('Z'), "%H:%M:%S%.f")
                        .is_ok()
                }
                _ => true,
            };
            if !ok {
                return fail(
                    path,
                    format!("`{s}` is not a {}", node.format.as_deref().unwrap_or("")),
                );
            }
        }
        for (i, b) in node.all_of.iter().enumerate() {
            let mut copy = value.clone();
            check(b, &mut copy, path, m).map_err(|p| Problem {
                reason: format!("allOf[{i}]: {}", p.reason),
                ..p
            })?;
        }
        if !node.any_of.is_empty()
            && !node
                .any_of
                .iter()
                .any(|b| check(b, &mut value.clone(), &mut path.clone(), m).is_ok())
        {
            return fail(path, "matches none of anyOf".into());
        }
        if !node.one_of.is_empty() {
            let hits = node
                .one_of
                .iter()
                .filter(|b| check(b, &mut value.clone(), &mut path.clone(), m).is_ok())
                .count();
            if hits != 1 {
                return fail(path, format!("matches {hits} of oneOf, not exactly one"));
            }
        }
    }
    match value {
        Value::Object(map) => check_object(node, map, path, m),
        Value::Array(items) => {
            if strict {
                if node.min_items.is_some_and(|n| items.len() < n)
                    || node.max_items.is_some_and(|n| items.len() > n)
                {
                    return fail(
                        path,
                        format!("list length {} is out of bounds", items.len()),
                    );
                }
                if node.unique_items {
                    for i in 1..items.len() {
                        if items[..i].iter().any(|x| json_eq(x, &items[i])) {
                            return fail(path, format!("item {i} repeats an earlier item"));
                        }
                    }
                }
            }
            if let Some(item) = &node.items {
                for (i, v) in items.iter_mut().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    let r = check(item, v, path, m);
                    path.truncate(len);
                    r?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_object(
    node: &Node,
    map: &mut serde_json::Map<String, Value>,
    path: &mut String,
    m: &Modes,
) -> Result<(), Problem> {
    if m.data_type != ContractMode::Evolve {
        for r in &node.required {
            if map.get(r).is_none() {
                return fail(path, format!("required property `{r}` is missing"));
            }
        }
    }
    let mut remove: Vec<String> = Vec::new();
    for (k, v) in map.iter_mut() {
        let len = path.len();
        path.push('.');
        path.push_str(k);
        let result = match node.properties.get(k) {
            Some(sub) => check(sub, v, path, m),
            None => match &node.additional {
                Additional::Allow => Ok(()),
                Additional::Schema(s) => check(s, v, path, m),
                Additional::Unsaid if node.properties.is_empty() => Ok(()),
                Additional::Unsaid | Additional::Deny => {
                    let mode = match (&node.additional, m.columns) {
                        (Additional::Deny, ContractMode::Evolve) => ContractMode::Freeze,
                        (_, mode) => mode,
                    };
                    match mode {
                        ContractMode::Evolve => Ok(()),
                        ContractMode::DiscardValue => {
                            remove.push(k.clone());
                            Ok(())
                        }
                        _ => Err(Problem {
                            path: path.clone(),
                            reason: format!("property `{k}` is not in the schema"),
                            extra: true,
                        }),
                    }
                }
            },
        };
        path.truncate(len);
        match result {
            Ok(()) => {}
            // an optional property's bad value goes; a required one takes the record along
            Err(p)
                if !p.extra
                    && m.data_type == ContractMode::DiscardValue
                    && !node.required.contains(k) =>
            {
                remove.push(k.clone());
            }
            Err(p) => return Err(p),
        }
    }
    for k in remove {
        map.shift_remove(&k);
    }
    Ok(())
}

/// JSON equality with numbers compared by value (1 == 1.0).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> JsonSchema {
        JsonSchema::compile(&json!({
            "type": "object",
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "name": {"type": "string", "maxLength": 5},
                "at": {"type": "string", "format": "date-time"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "owner": {"$ref": "#/$defs/owner"},
                "score": {"anyOf": [{"type": "number"}, {"type": "null"}]}
            },
            "required": ["id"],
            "$defs": {"owner": {"type": "object", "properties": {"login": {"type": "string"}}, "required": ["login"]}}
        }))
        .unwrap()
    }

    #[test]
    fn types_ranges_and_paths() {
        let s = schema();
        let mut ok = json!({"id": 1, "name": "ab", "at": "2024-01-01T00:00:00Z", "tags": ["x"], "owner": {"login": "o"}, "score": null});
        assert_eq!(
            s.validate(&mut ok, ContractMode::Freeze, ContractMode::Freeze),
            Verdict::Valid
        );
        let mut bad = json!({"id": 1, "tags": ["x", 2]});
        assert_eq!(
            s.validate(&mut bad, ContractMode::Freeze, ContractMode::Freeze),
            Verdict::Invalid {
                path: "$.tags[1]".into(),
                reason: "expected string, got integer".into()
            }
        );
        let mut bad = json!({"id": 0});
        assert!(matches!(
            s.validate(&mut bad, ContractMode::Freeze, ContractMode::Freeze),
            Verdict::Invalid { path, .. } if path == "$.id"
        ));
        let mut bad = json!({"id": 2, "owner": {}});
        assert!(matches!(
            s.validate(&mut bad, ContractMode::Freeze, ContractMode::Freeze),
            Verdict::Invalid { path, reason } if path == "$.owner" && reason.contains("login")
        ));
    }

    #[test]
    fn modes_discard_and_clean() {
        let s = schema();
        // unknown property: dropped with discard_value, record dropped with discard_row
        let mut r = json!({"id": 1, "extra": true});
        assert_eq!(
            s.validate(&mut r, ContractMode::DiscardValue, ContractMode::Freeze),
            Verdict::Valid
        );
        assert_eq!(r, json!({"id": 1}));
        let mut r = json!({"id": 1, "extra": true});
        assert_eq!(
            s.validate(&mut r, ContractMode::DiscardRow, ContractMode::Freeze),
            Verdict::Discard
        );
        // bad optional value dropped; bad required value discards the record
        let mut r = json!({"id": 1, "name": "far too long"});
        assert_eq!(
            s.validate(&mut r, ContractMode::Evolve, ContractMode::DiscardValue),
            Verdict::Valid
        );
        assert_eq!(r, json!({"id": 1}));
        let mut r = json!({"id": "x"});
        assert_eq!(
            s.validate(&mut r, ContractMode::Evolve, ContractMode::DiscardValue),
            Verdict::Discard
        );
        // data_type evolve: no type checks at all
        let mut r = json!({"id": "x"});
        assert_eq!(
            s.validate(&mut r, ContractMode::Evolve, ContractMode::Evolve),
            Verdict::Valid
        );
    }

    #[test]
    fn hints_and_refusals() {
        let h = schema().column_hints();
        let got: Vec<(String, Option<DataType>, Option<bool>)> = h
            .iter()
            .map(|c| (c.name.clone(), c.data_type, c.nullable))
            .collect();
        assert_eq!(
            got,
            vec![
                ("id".into(), Some(DataType::Bigint), Some(false)),
                ("name".into(), Some(DataType::Text), Some(true)),
                ("at".into(), Some(DataType::Timestamp), Some(true)),
                ("owner__login".into(), Some(DataType::Text), Some(true)),
                ("score".into(), Some(DataType::Double), Some(true)),
            ]
        );
        let e = JsonSchema::compile(&json!({"properties": {"a": {"not": {}}}})).unwrap_err();
        assert!(e.contains("#/properties/a") && e.contains("`not`"), "{e}");
        let e = JsonSchema::compile(&json!({"$ref": "https://x/y.json"})).unwrap_err();
        assert!(e.contains("local"), "{e}");
    }
}
