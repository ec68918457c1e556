//! `sluice init pipeline --openapi SPEC NAME`: a pipeline file for the bundled `rest_api`
//! connector from an OpenAPI 3 or Swagger 2 document — base URL, security schemes as
//! host-held secrets, one resource per GET operation that returns records or one record, data
//! selectors, paginators, primary keys, parent/child links from path parameters, incremental
//! cursor candidates as commented suggestions — and a report of what was detected and how
//! sure each guess is.
//!
//! Invariant: generation only reads the document. Nothing it names is fetched or run; a
//! malformed document, an unsupported version or a `$ref` cycle fails with the JSON pointer
//! of the problem; anything else that cannot be resolved is written commented out with the
//! reason and its pointer, so the file always parses and plans.

mod auth;
mod doc;
mod naming;
mod operation;
mod paging;
mod render;
mod resources;
mod schema;

use serde_json::Value;

pub use auth::Secret;
pub use doc::Version;
pub use resources::Resource;

/// A problem with the document, at a JSON pointer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("spec `{}`: {reason}", if pointer.is_empty() { "/" } else { pointer.as_str() })]
pub struct SpecError {
    pub pointer: String,
    pub reason: String,
}

impl SpecError {
    pub fn new(pointer: &str, reason: String) -> SpecError {
        SpecError {
            pointer: pointer.to_owned(),
            reason,
        }
    }
}

/// How sure a detection is; a resource is as sure as its least sure part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sure {
    /// a heuristic with little to go on: check it
    Guess,
    /// the usual reading of what the document says
    Likely,
    /// the document says so
    Certain,
}

impl std::fmt::Display for Sure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Sure::Guess => "guess",
            Sure::Likely => "likely",
            Sure::Certain => "certain",
        })
    }
}

/// What the generation needs besides the document.
#[derive(Debug, Default)]
pub struct Options {
    /// the pipeline's name (and dataset)
    pub name: String,
    /// the API's URL, over what the document's `servers` say
    pub base_url: Option<String>,
    /// where the document came from, when it was fetched: relative server URLs resolve
    /// against it
    pub spec_url: Option<url::Url>,
}

/// A generated pipeline.
#[derive(Debug)]
pub struct Generated {
    pub name: String,
    pub title: String,
    pub spec_version: String,
    pub base_url: String,
    /// `scheme://host[:port]` of the base URL, the allow-list entry
    pub origin: String,
    /// why the base URL is a stand-in, when the document names no usable server
    pub base_url_note: Option<String>,
    pub secrets: Vec<Secret>,
    /// the secret the client sends
    pub auth: Option<String>,
    pub resources: Vec<Resource>,
    /// the pipeline file
    pub toml: String,
}

/// The document `text` (JSON or YAML) as one JSON value, YAML keys of any type as text; no
/// version or shape checked.
pub fn document_json(text: &str) -> Result<Value, SpecError> {
    doc::to_json(text)
}

/// Generate a pipeline file from the document `text` (JSON or YAML).
pub fn generate(text: &str, opts: &Options) -> Result<Generated, SpecError> {
    let doc = doc::Doc::parse(text)?;
    let (base_url, base_url_note) = base_url(&doc, opts)?;
    let parsed = url::Url::parse(&base_url)
        .map_err(|e| SpecError::new("/servers/0/url", format!("`{base_url}`: {e}")))?;
    let origin = parsed.origin().ascii_serialization();
    let mut ops = Vec::new();
    let mut skipped = Vec::new();
    for op in operation::operations(&doc)? {
        match op {
            Ok(op) => ops.push(op),
            Err(e) => skipped.push(e),
        }
    }
    let mut resources = resources::resources(&ops);
    resources.extend(skipped.into_iter().map(unreadable));
    let (secrets, auth) = auth::secrets(&doc, &opts.name);
    let info = |k: &str| doc.at(&format!("/info/{k}")).map(doc::text_of);
    let mut g = Generated {
        name: opts.name.clone(),
        title: format!(
            "\"{}\" {}",
            info("title").unwrap_or_else(|| "untitled".into()),
            info("version").unwrap_or_default()
        ),
        spec_version: match doc.version {
            Version::OpenApi3 => format!(
                "OpenAPI {}",
                doc.at("/openapi").map(doc::text_of).unwrap_or_default()
            ),
            Version::Swagger2 => "Swagger 2.0".into(),
        },
        base_url,
        origin,
        base_url_note,
        secrets,
        auth,
        resources,
        toml: String::new(),
    };
    g.toml = render::file(&g);
    Ok(g)
}

/// An operation that could not be read, as a resource written commented out.
fn unreadable(e: SpecError) -> Resource {
    let path = e
        .pointer
        .strip_prefix("/paths/")
        .and_then(|p| p.split('/').next())
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .unwrap_or_default();
    Resource {
        name: naming::snake(&naming::literal_segments(&path).join("_")),
        spec_path: path.clone(),
        ptr: e.pointer.clone(),
        path: path.trim_start_matches('/').to_owned(),
        params: Vec::new(),
        paging: paging::Paging {
            config: Value::String("single_page".into()),
            why: String::new(),
            sure: Sure::Guess,
        },
        data_selector: None,
        primary_key: None,
        parent: None,
        cursor: None,
        unresolved: Some(e.reason),
        sure: Sure::Guess,
        notes: Vec::new(),
    }
}

/// The API's base URL: the option, else the first server (variables at their defaults;
/// relative ones against where the document came from), else a stand-in that never resolves
/// with a note saying so.
fn base_url(doc: &doc::Doc, opts: &Options) -> Result<(String, Option<String>), SpecError> {
    if let Some(b) = &opts.base_url {
        return Ok((b.clone(), None));
    }
    let found = match doc.version {
        Version::OpenApi3 => doc.at("/servers/0").map(|s| {
            let mut url = s.get("url").map(doc::text_of).unwrap_or_default();
            if let Some(vars) = s.get("variables").and_then(Value::as_object) {
                for (k, v) in vars {
                    let d = v.get("default").map(doc::text_of).unwrap_or_default();
                    url = url.replace(&format!("{{{k}}}"), &d);
                }
            }
            url
        }),
        Version::Swagger2 => doc.at("/host").map(doc::text_of).map(|host| {
            let scheme = doc
                .at("/schemes/0")
                .map(doc::text_of)
                .unwrap_or_else(|| "https".into());
            let base = doc.at("/basePath").map(doc::text_of).unwrap_or_default();
            format!("{scheme}://{host}{base}")
        }),
    };
    let resolved = found.as_deref().and_then(|u| match url::Url::parse(u) {
        Ok(abs) => Some(abs.to_string()),
        Err(_) => opts
            .spec_url
            .as_ref()
            .and_then(|from| from.join(u).ok())
            .map(|u| u.to_string()),
    });
    Ok(match (resolved, found) {
        (Some(u), _) => (u, None),
        (None, Some(rel)) => (
            "https://api.example.invalid/".into(),
            Some(format!("the document's server `{rel}` is relative and it was read from a file: set base_url below and this entry (or pass --base-url)")),
        ),
        (None, None) => (
            "https://api.example.invalid/".into(),
            Some("the document names no server: set base_url below and this entry (or pass --base-url)".into()),
        ),
    })
}

#[cfg(test)]
mod tests;
