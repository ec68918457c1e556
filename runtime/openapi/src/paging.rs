//! The paginator of a list operation, from its query parameters, its answer's fields and
//! headers, in dlt's terms, with how sure the guess is.

use serde_json::{Value, json};

use crate::Sure;
use crate::operation::{Answer, In, Operation, Param};
use crate::schema::Prop;

/// A paginator for the `rest_api` connector's config, and why it was chosen.
#[derive(Clone, Debug)]
pub struct Paging {
    /// the `paginator` value (`"single_page"` or a table)
    pub config: Value,
    pub why: String,
    pub sure: Sure,
}

const OFFSET: [&str; 3] = ["offset", "skip", "start"];
const LIMIT: [&str; 6] = [
    "limit",
    "per_page",
    "page_size",
    "pagesize",
    "size",
    "count",
];
const PAGE: [&str; 4] = ["page", "page_number", "pagenumber", "p"];
const CURSOR_PARAMS: [&str; 8] = [
    "cursor",
    "after",
    "starting_after",
    "page_token",
    "pagetoken",
    "next_token",
    "continuation",
    "next",
];
const CURSOR_FIELDS: [&str; 7] = [
    "next_cursor",
    "nextcursor",
    "next_page_token",
    "nextpagetoken",
    "cursor",
    "next_token",
    "after",
];
const TOTAL: [&str; 4] = ["total", "total_count", "totalcount", "count"];
const TOTAL_PAGES: [&str; 4] = ["total_pages", "totalpages", "pages", "page_count"];
const NEXT_URL: [&str; 5] = [
    "next",
    "next_url",
    "nexturl",
    "next_page_url",
    "nextpageurl",
];
/// objects paging fields often sit in
const PAGING_HOLDERS: [&str; 6] = [
    "links",
    "_links",
    "paging",
    "pagination",
    "meta",
    "response_metadata",
];

/// A name as compared: lowercase, without `_` and `-` (`per_page`, `perPage`, `per-page`).
pub fn lower(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '_' && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn query<'o>(op: &'o Operation, names: &[&str]) -> Option<&'o Param> {
    names.iter().find_map(|n| {
        op.params
            .iter()
            .find(|p| p.at == In::Query && lower(&p.name) == lower(n))
    })
}

/// A field of the body (top level, or one level down in a paging holder) whose lowercase
/// name is in `names` and whose type passes `ok`: its JSONPath.
fn field(
    body: &[Prop],
    container: Option<&str>,
    names: &[&str],
    ok: impl Fn(&Prop) -> bool,
) -> Option<String> {
    for n in names {
        if let Some(p) = body.iter().find(|p| lower(&p.name) == lower(n) && ok(p)) {
            return Some(p.name.clone());
        }
    }
    let holds = |p: &&Prop| {
        PAGING_HOLDERS.iter().any(|h| lower(h) == lower(&p.name))
            || Some(p.name.as_str()) == container
    };
    for holder in body.iter().filter(holds) {
        let inner: Vec<Prop> = holder
            .schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| Prop {
                        name: k.clone(),
                        schema: v.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Some(f) = field_here(&inner, names, &ok) {
            return Some(format!("{}.{f}", holder.name));
        }
    }
    None
}

fn field_here(props: &[Prop], names: &[&str], ok: &impl Fn(&Prop) -> bool) -> Option<String> {
    names.iter().find_map(|n| {
        props
            .iter()
            .find(|p| lower(&p.name) == lower(n) && ok(p))
            .map(|p| p.name.clone())
    })
}

fn is_url(p: &Prop) -> bool {
    let s = &p.schema;
    let text = |k: &str| {
        s.get(k)
            .and_then(Value::as_str)
            .map(lower)
            .unwrap_or_default()
    };
    matches!(p.kind(), "string" | "")
        && (text("format").contains("uri")
            || text("description").contains("url")
            || text("description").contains("link")
            || p.name.to_ascii_lowercase().contains("url"))
}

fn stringish(p: &Prop) -> bool {
    matches!(p.kind(), "string" | "")
}

fn integer(p: &Prop) -> bool {
    matches!(p.kind(), "integer" | "number" | "")
}

/// The paginator of `op`.
pub fn detect(op: &Operation) -> Paging {
    let Answer::List {
        body, container, ..
    } = &op.answer
    else {
        return Paging {
            config: json!("single_page"),
            why: "one record".into(),
            sure: Sure::Certain,
        };
    };
    if let Some(path) = field(body, container.as_deref(), &NEXT_URL, is_url) {
        return Paging {
            config: json!({"type": "json_link", "next_url_path": path}),
            why: format!("the answer's `{path}` holds the next page's URL"),
            sure: Sure::Certain,
        };
    }
    if op.headers.iter().any(|h| h == "link") {
        return Paging {
            config: json!("header_link"),
            why: "the answer has a `Link` header".into(),
            sure: Sure::Certain,
        };
    }
    if let (Some(param), Some(path)) = (
        query(op, &CURSOR_PARAMS),
        field(body, container.as_deref(), &CURSOR_FIELDS, stringish),
    ) {
        return Paging {
            config: json!({"type": "cursor", "cursor_path": path, "cursor_param": param.name}),
            why: format!("`{path}` in the answer, sent back as `{}`", param.name),
            sure: Sure::Likely,
        };
    }
    if let Some(offset) = query(op, &OFFSET) {
        return by_offset(op, body, container.as_deref(), offset);
    }
    if let Some(page) = query(op, &PAGE) {
        return by_page(body, container.as_deref(), page);
    }
    Paging {
        config: json!("single_page"),
        why: "no paging parameter, link or cursor found".into(),
        sure: Sure::Likely,
    }
}

fn by_offset(op: &Operation, body: &[Prop], container: Option<&str>, offset: &Param) -> Paging {
    let limit = query(op, &LIMIT);
    let size = limit
        .and_then(|l| {
            l.int("default")
                .or_else(|| l.int("maximum").filter(|m| *m <= 1000))
        })
        .unwrap_or(20);
    let mut config = json!({"type": "offset", "limit": size, "offset_param": offset.name});
    if let Some(l) = limit {
        config["limit_param"] = json!(l.name);
    }
    let total = field(body, container, &TOTAL, integer);
    if let Some(t) = &total {
        config["total_path"] = json!(t);
    }
    Paging {
        config,
        why: format!(
            "`{}`{} parameters{}",
            offset.name,
            limit
                .map(|l| format!(" and `{}`", l.name))
                .unwrap_or_default(),
            total
                .map(|t| format!(", total at `{t}`"))
                .unwrap_or_default()
        ),
        sure: if limit.is_some() {
            Sure::Likely
        } else {
            Sure::Guess
        },
    }
}

fn by_page(body: &[Prop], container: Option<&str>, page: &Param) -> Paging {
    let base = page
        .int("minimum")
        .or_else(|| page.int("default"))
        .unwrap_or(1)
        .clamp(0, 1);
    let mut config = json!({"type": "page_number", "page_param": page.name, "base_page": base});
    let total = field(body, container, &TOTAL_PAGES, integer);
    match &total {
        Some(t) => config["total_path"] = json!(t),
        None => config["total_path"] = json!(""),
    }
    Paging {
        config,
        why: format!(
            "a `{}` parameter{}",
            page.name,
            total
                .map(|t| format!(", page count at `{t}`"))
                .unwrap_or_else(|| ", stops on an empty page".into())
        ),
        sure: Sure::Likely,
    }
}
