//! Resources from operations: one per GET operation that returns records, named from its
//! `operationId` or path; a path placeholder fed by a list operation at the path before it
//! (`/pokemon/{id}` by `/pokemon`); required parameters filled from their defaults; a
//! primary key; incremental cursor candidates. What cannot be resolved is kept with the
//! reason, to be written commented out.

use serde_json::{Value, json};

use crate::Sure;
use crate::naming::{literal_segments, snake, unique};
use crate::operation::{Answer, In, Operation};
use crate::paging::{self, Paging};
use crate::schema::Prop;

/// One resource of the generated file.
#[derive(Clone, Debug)]
pub struct Resource {
    pub name: String,
    /// the operation's path in the document (`/api/v2/pokemon/{id}/`)
    pub spec_path: String,
    /// JSON pointer of the operation
    pub ptr: String,
    /// the endpoint path for the config, placeholders filled (`api/v2/pokemon/{resources.pokemon_list.name}/`)
    pub path: String,
    pub params: Vec<(String, Value)>,
    pub paging: Paging,
    /// `None` for one record (the connector reads the body as it is)
    pub data_selector: Option<String>,
    pub primary_key: Option<String>,
    /// (parent resource, parent field)
    pub parent: Option<(String, String)>,
    /// an incremental cursor candidate, written as a commented suggestion
    pub cursor: Option<Cursor>,
    /// why the resource is written commented out
    pub unresolved: Option<String>,
    pub sure: Sure,
    /// what was detected, for the report
    pub notes: Vec<String>,
}

const KEYS: [&str; 3] = ["id", "uuid", "key"];
const CURSOR_FIELDS: [&str; 8] = [
    "updated_at",
    "updatedat",
    "modified_at",
    "modifiedat",
    "last_modified",
    "lastmodified",
    "modified",
    "updated",
];
const CURSOR_PARAMS: [&str; 7] = [
    "since",
    "updated_since",
    "updated_after",
    "modified_since",
    "updated_at_min",
    "changed_since",
    "start_time",
];

/// An incremental cursor candidate: a records' field that looks like a modification time,
/// and a query parameter that asks for what changed since a point.
#[derive(Clone, Debug)]
pub struct Cursor {
    pub field: Option<String>,
    pub param: Option<String>,
}

/// The resources of `ops` (each `Ok` operation), in document order.
pub fn resources(ops: &[Operation]) -> Vec<Resource> {
    let mut out: Vec<Resource> = Vec::new();
    for op in ops {
        let taken: Vec<String> = out.iter().map(|r| r.name.clone()).collect();
        let r = resource(op, ops, &out, &taken);
        out.push(r);
    }
    // a parent that is itself written commented out cannot feed a child
    let dead: Vec<String> = out
        .iter()
        .filter(|r| r.unresolved.is_some())
        .map(|r| r.name.clone())
        .collect();
    for r in &mut out {
        if let (Some((p, _)), None) = (&r.parent, &r.unresolved)
            && dead.contains(p)
        {
            r.unresolved = Some(format!("its parent `{p}` is not generated"));
        }
    }
    out
}

fn name_of(op: &Operation, taken: &[String]) -> String {
    // an id that only says `get` or `list` names nothing: the path does
    let generic = |id: &&str| matches!(snake(id).as_str(), "get" | "list" | "read" | "index");
    let base = match op
        .operation_id
        .as_deref()
        .filter(|id| !id.trim().is_empty() && !generic(id))
    {
        Some(id) => snake(id),
        None => snake(&literal_segments(&op.path).join("_")),
    };
    unique(&base, taken)
}

fn resource(op: &Operation, ops: &[Operation], done: &[Resource], taken: &[String]) -> Resource {
    let name = name_of(op, taken);
    let mut r = Resource {
        name,
        spec_path: op.path.clone(),
        ptr: op.ptr.clone(),
        path: op.path.trim_start_matches('/').to_owned(),
        params: Vec::new(),
        paging: paging::detect(op),
        data_selector: None,
        primary_key: None,
        parent: None,
        cursor: None,
        unresolved: None,
        sure: Sure::Certain,
        notes: Vec::new(),
    };
    // `/item/{id}` and `/item/{id}.json` read one record
    let ends_in_placeholder = op
        .path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('{'));
    let item: &[Prop] = match &op.answer {
        Answer::Unknown(why) => {
            r.unresolved = Some(why.clone());
            return r;
        }
        Answer::List {
            selector,
            item,
            scalars,
            ..
        } if !ends_in_placeholder => {
            r.data_selector = Some(selector.clone());
            r.notes.push(format!("records at `{selector}`"));
            if *scalars {
                r.notes.push("a list of values (ids), not records".into());
                r.sure = r.sure.min(Sure::Likely);
            }
            item
        }
        Answer::List { .. } | Answer::Entity { .. } => {
            r.paging = Paging {
                config: json!("single_page"),
                why: "one record".into(),
                sure: Sure::Certain,
            };
            r.notes.push("one record".into());
            match &op.answer {
                Answer::Entity { props } => props,
                _ => &[],
            }
        }
    };
    r.sure = r.sure.min(r.paging.sure);
    if r.data_selector.is_some() {
        r.notes.push(format!("paginator: {}", r.paging.why));
    }
    key(&mut r, item);
    link_parent(&mut r, op, ops, done);
    fill_params(&mut r, op);
    suggest_cursor(&mut r, op, item);
    r
}

fn key(r: &mut Resource, item: &[Prop]) {
    let own_id = format!(
        "{}_id",
        r.name.trim_end_matches("_list").trim_end_matches('s')
    );
    let found = KEYS
        .iter()
        .map(|k| k.to_string())
        .chain([own_id])
        .find(|k| item.iter().any(|p| p.name.eq_ignore_ascii_case(k)))
        .and_then(|k| item.iter().find(|p| p.name.eq_ignore_ascii_case(&k)));
    if let Some(p) = found {
        r.primary_key = Some(p.name.clone());
        r.notes.push(format!("primary key `{}`", p.name));
    }
}

/// The list operation whose path is this one's up to its (only) placeholder feeds it.
fn link_parent(r: &mut Resource, op: &Operation, ops: &[Operation], done: &[Resource]) {
    let segs: Vec<&str> = op.path.split('/').filter(|s| !s.is_empty()).collect();
    let holes: Vec<usize> = (0..segs.len()).filter(|i| segs[*i].contains('{')).collect();
    let Some(&last) = holes.last() else {
        return;
    };
    if holes.len() > 1 {
        r.unresolved = Some(format!(
            "`{}` has {} path parameters; only one can come from a parent record",
            op.path,
            holes.len()
        ));
        return;
    }
    let param = segs[last]
        .split('{')
        .nth(1)
        .and_then(|s| s.split('}').next())
        .unwrap_or_default()
        .to_owned();
    let prefix = &segs[..last];
    let parent = done.iter().zip(ops).find(|(p, o)| {
        let theirs: Vec<&str> = o.path.split('/').filter(|s| !s.is_empty()).collect();
        p.parent.is_none()
            && p.unresolved.is_none()
            && p.data_selector.is_some()
            && same_collection(&theirs, prefix)
    });
    let prefix = prefix.join("/");
    let Some((parent, pop)) = parent else {
        r.unresolved = Some(format!(
            "no list operation at `/{prefix}` to take `{{{param}}}` from"
        ));
        return;
    };
    let Answer::List { item, scalars, .. } = &pop.answer else {
        return;
    };
    let pick = |n: &str| {
        item.iter()
            .find(|p| p.name.eq_ignore_ascii_case(n))
            .map(|p| p.name.clone())
    };
    let (field, sure) = if *scalars {
        (None, Sure::Guess)
    } else if let Some(f) = pick(&param) {
        (Some(f), Sure::Certain)
    } else if let Some(f) = ["id", "name", "key", "slug"].iter().find_map(|n| pick(n)) {
        (Some(f), Sure::Likely)
    } else {
        (None, Sure::Guess)
    };
    let Some(field) = field else {
        r.unresolved = Some(format!(
            "the records of `{}` have no field for `{{{param}}}`",
            parent.name
        ));
        return;
    };
    r.path = r.path.replace(
        &format!("{{{param}}}"),
        &format!("{{resources.{}.{field}}}", parent.name),
    );
    r.notes
        .push(format!("`{{{param}}}` from `{}`.`{field}`", parent.name));
    r.sure = r.sure.min(sure);
    r.parent = Some((parent.name.clone(), field));
}

/// Whether a list at path `list` is the collection of path `item` (without its parameter):
/// the same segments, the last one singular or plural (`/pokemons` lists `/pokemon/{id}`).
fn same_collection(list: &[&str], item: &[&str]) -> bool {
    let (Some((l_last, l_rest)), Some((i_last, i_rest))) = (list.split_last(), item.split_last())
    else {
        return false;
    };
    let singular = |s: &str| {
        s.strip_suffix("ies")
            .map(|x| format!("{x}y"))
            .or_else(|| s.strip_suffix('s').map(str::to_owned))
            .unwrap_or_else(|| s.to_owned())
    };
    l_rest == i_rest && (l_last == i_last || singular(l_last) == singular(i_last))
}

/// Required query parameters get their default, example or first enum value; one without
/// any leaves the resource unresolved.
fn fill_params(r: &mut Resource, op: &Operation) {
    let paging_params: Vec<String> = ["offset_param", "limit_param", "page_param", "cursor_param"]
        .iter()
        .filter_map(|k| {
            r.paging
                .config
                .get(*k)
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    for p in op.params.iter().filter(|p| p.required && p.at != In::Path) {
        if paging_params.contains(&p.name) {
            continue;
        }
        match (p.at, p.fill()) {
            (In::Query, Some(v)) => {
                r.notes
                    .push(format!("required `{}` set to its default {v}", p.name));
                r.params.push((p.name.clone(), v));
            }
            (In::Query, None) => {
                r.unresolved.get_or_insert_with(|| {
                    format!(
                        "required query parameter `{}` has no default or example",
                        p.name
                    )
                });
            }
            (_, _) => {
                r.unresolved.get_or_insert_with(|| {
                    format!(
                        "required {} parameter `{}` is not something the config sets",
                        p.at.name(),
                        p.name
                    )
                });
            }
        }
    }
}

fn suggest_cursor(r: &mut Resource, op: &Operation, item: &[Prop]) {
    let field = CURSOR_FIELDS
        .iter()
        .find_map(|n| {
            item.iter()
                .find(|p| paging::lower(&p.name) == paging::lower(n))
        })
        .map(|p| p.name.clone());
    let param = CURSOR_PARAMS
        .iter()
        .find_map(|n| {
            op.params
                .iter()
                .find(|p| p.at == In::Query && paging::lower(&p.name) == paging::lower(n))
        })
        .map(|p| p.name.clone());
    if field.is_some() || param.is_some() {
        r.cursor = Some(Cursor { field, param });
    }
}
