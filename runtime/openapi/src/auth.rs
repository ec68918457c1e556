//! Security schemes as host-held secrets: each becomes a `[secrets.NAME]` read from an
//! environment variable and sent only to the API's host, in the placement the scheme says.
//! A scheme the host cannot place, or one that needs a value the document does not give (a
//! basic-auth user name, an OAuth2 client id), is written commented out with the reason.

use serde_json::Value;

use crate::doc::{Doc, Version, escape};
use crate::naming::snake;

/// One secret for a security scheme.
#[derive(Clone, Debug)]
pub struct Secret {
    /// the scheme's key in the document
    pub scheme_key: String,
    /// `[secrets.NAME]`
    pub name: String,
    pub env: String,
    /// the placement lines: (key, TOML value)
    pub fields: Vec<(String, Value)>,
    /// why it is written commented out, if it is
    pub unusable: Option<String>,
    pub ptr: String,
}

/// The secrets of every security scheme of the document, and the name of the one the client
/// uses (the first usable one the document requires, else the first usable one).
pub fn secrets(doc: &Doc, pipeline: &str) -> (Vec<Secret>, Option<String>) {
    let (defs, base_ptr) = match doc.version {
        Version::OpenApi3 => (
            doc.at("/components/securitySchemes"),
            "/components/securitySchemes",
        ),
        Version::Swagger2 => (doc.at("/securityDefinitions"), "/securityDefinitions"),
    };
    let Some(defs) = defs.and_then(Value::as_object) else {
        return (Vec::new(), None);
    };
    let secrets: Vec<Secret> = defs
        .iter()
        .map(|(key, scheme)| {
            let ptr = format!("{base_ptr}/{}", escape(key));
            let scheme = doc.deref(scheme, &ptr).map_or(scheme, |(s, _)| s);
            secret(pipeline, key, scheme, ptr)
        })
        .collect();
    let required: Vec<String> = doc
        .at("/security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|m| m.keys().cloned())
        .collect();
    let usable = |s: &&Secret| s.unusable.is_none();
    let chosen = required
        .iter()
        .find_map(|k| secrets.iter().filter(usable).find(|s| &s.scheme_key == k))
        .or_else(|| secrets.iter().find(usable))
        .map(|s| s.name.clone());
    (secrets, chosen)
}

fn secret(pipeline: &str, key: &str, scheme: &Value, ptr: String) -> Secret {
    let text = |k: &str| scheme.get(k).and_then(Value::as_str).unwrap_or_default();
    let name = snake(key);
    let env = format!("{}_{}", snake(pipeline), name).to_ascii_uppercase();
    let mut fields: Vec<(String, Value)> = Vec::new();
    let mut unusable = None;
    match (text("type"), text("scheme").to_ascii_lowercase().as_str()) {
        ("http", "bearer") => fields.push(("scheme".into(), "bearer".into())),
        ("http", "basic") | ("basic", _) => {
            fields.push(("scheme".into(), "http_basic".into()));
            fields.push(("username".into(), "".into()));
            unusable = Some("basic auth needs your user name: set `username` (the secret is the password) and uncomment".into());
        }
        ("apiKey", _) => match text("in") {
            "header" => fields.push(("header".into(), text("name").into())),
            "query" => fields.push(("query".into(), text("name").into())),
            other => {
                fields.push(("header".into(), text("name").into()));
                unusable = Some(format!(
                    "an API key in a {other} is not something the host sends; only header and query keys are"
                ));
            }
        },
        ("oauth2", _) => {
            let token_url = client_credentials_url(scheme);
            fields.push(("scheme".into(), "oauth2_client_credentials".into()));
            fields.push((
                "token_url".into(),
                token_url.clone().unwrap_or_default().into(),
            ));
            fields.push(("client_id".into(), "".into()));
            unusable = Some(match token_url {
                Some(_) => "OAuth2 client credentials need your client id: set `client_id` (the secret is the client secret) and uncomment".into(),
                None => "this OAuth2 scheme has no client-credentials flow (a user signs in through a browser); give an access token as a bearer secret instead".into(),
            });
        }
        (t, s) => {
            unusable = Some(format!(
                "security scheme type `{t}`{} is not supported",
                if s.is_empty() {
                    String::new()
                } else {
                    format!(" (`{s}`)")
                }
            ));
        }
    }
    Secret {
        scheme_key: key.to_owned(),
        name,
        env,
        fields,
        unusable,
        ptr,
    }
}

/// The token URL of an OAuth2 scheme's client-credentials flow (OpenAPI 3 `flows` or
/// Swagger 2 `flow: application`).
fn client_credentials_url(scheme: &Value) -> Option<String> {
    let url = scheme
        .pointer("/flows/clientCredentials/tokenUrl")
        .or_else(|| {
            (scheme.get("flow").and_then(Value::as_str) == Some("application"))
                .then(|| scheme.get("tokenUrl"))
                .flatten()
        })?;
    url.as_str().map(str::to_owned)
}
