//! The OCI Distribution v2 API, as far as connectors need it: blobs and manifests pushed and
//! pulled, with Basic or Bearer-token auth (the token fetched from the realm the registry
//! names). Plain HTTP only to a loopback registry; redirects only to HTTPS or loopback.
//! Credentials never appear in an error.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{RequestBuilder, Response};
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};

use crate::reference::Reference;
use crate::{RegistryError, Result, sha256_digest};

/// How the client signs in.
#[derive(Clone, Default)]
pub enum Credentials {
    #[default]
    Anonymous,
    Basic {
        user: String,
        password: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { user, .. } => write!(f, "Basic({user}, ***)"),
        }
    }
}

/// The manifest media types a pull accepts.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json";

/// A session with one registry.
#[derive(Debug)]
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    registry: String,
    credentials: Credentials,
    token: Mutex<Option<String>>,
}

impl Client {
    /// A client for `reference`'s registry.
    pub fn new(reference: &Reference, credentials: Credentials) -> Result<Client> {
        let loopback = reference.is_loopback();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            let url = attempt.url();
            let local = url.host_str().is_some_and(|h| {
                h == "localhost"
                    || h.trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            });
            if attempt.previous().len() > 5 {
                attempt.error("too many redirects")
            } else if url.scheme() == "https" || (loopback && local) {
                attempt.follow()
            } else {
                attempt.error("a redirect to plain HTTP off this machine")
            }
        });
        let http = reqwest::blocking::Client::builder()
            .redirect(policy)
            .timeout(Duration::from_secs(120))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RegistryError::Invalid(format!("HTTP client: {e}")))?;
        Ok(Client {
            http,
            base: reference.base_url(),
            registry: reference.registry.clone(),
            credentials,
            token: Mutex::new(None),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{path}", self.base)
    }

    /// Send what `build` makes, signing in when the registry asks (once).
    fn send(&self, what: &str, build: &dyn Fn() -> RequestBuilder) -> Result<Response> {
        let first = self
            .authorized(build())
            .send()
            .map_err(|e| self.unreachable(what, &e))?;
        if first.status() != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        let challenge = first
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if challenge.to_ascii_lowercase().starts_with("bearer") {
            let token = self.fetch_token(&challenge)?;
            *self
                .token
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(token);
        } else if matches!(self.credentials, Credentials::Anonymous) {
            return Err(RegistryError::Denied(format!(
                "{what}: {} asks for credentials (SLUICE_REGISTRY_USER / SLUICE_REGISTRY_PASSWORD, or a named secret)",
                self.registry
            )));
        }
        let again = self
            .authorized(build())
            .send()
            .map_err(|e| self.unreachable(what, &e))?;
        if again.status() == StatusCode::UNAUTHORIZED || again.status() == StatusCode::FORBIDDEN {
            return Err(RegistryError::Denied(format!(
                "{what}: {} refused the credentials",
                self.registry
            )));
        }
        Ok(again)
    }

    fn authorized(&self, req: RequestBuilder) -> RequestBuilder {
        let token = self
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match (token, &self.credentials) {
            (Some(t), _) => req.bearer_auth(t),
            (None, Credentials::Basic { user, password }) => req.basic_auth(user, Some(password)),
            (None, Credentials::Anonymous) => req,
        }
    }

    /// A Bearer token from the realm of `challenge` (`realm="…",service="…",scope="…"`).
    fn fetch_token(&self, challenge: &str) -> Result<String> {
        let params = challenge_params(challenge);
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                RegistryError::Denied(format!(
                    "{} asked for a token without a realm",
                    self.registry
                ))
            })?;
        let realm_url = url::Url::parse(&realm).map_err(|_| {
            RegistryError::Denied(format!("{}'s token realm is not a URL", self.registry))
        })?;
        let local = realm_url.host_str().is_some_and(|h| {
            h == "localhost"
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        if realm_url.scheme() != "https" && !local {
            return Err(RegistryError::Denied(format!(
                "{}'s token realm is plain HTTP off this machine",
                self.registry
            )));
        }
        let query: Vec<(String, String)> = params
            .into_iter()
            .filter(|(k, _)| k == "service" || k == "scope")
            .collect();
        let mut req = self.http.get(realm_url).query(&query);
        if let Credentials::Basic { user, password } = &self.credentials {
            req = req.basic_auth(user, Some(password));
        }
        let resp = req.send().map_err(|e| self.unreachable("signing in", &e))?;
        if !resp.status().is_success() {
            return Err(RegistryError::Denied(format!(
                "{} refused the credentials ({})",
                self.registry,
                resp.status()
            )));
        }
        let body: serde_json::Value = resp.json().map_err(|_| {
            RegistryError::Denied(format!("{}'s token answer is not JSON", self.registry))
        })?;
        body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                RegistryError::Denied(format!("{}'s token answer holds no token", self.registry))
            })
    }

    fn unreachable(&self, what: &str, e: &reqwest::Error) -> RegistryError {
        let mut reason = e.to_string();
        // reqwest names the URL, which holds no credential; its sources say why
        let mut source = std::error::Error::source(e);
        while let Some(src) = source {
            let text = src.to_string();
            if !reason.contains(&text) {
                reason = format!("{reason}: {text}");
            }
            source = src.source();
        }
        RegistryError::Unreachable {
            registry: self.registry.clone(),
            reason: format!("{what}: {reason}"),
        }
    }

    /// Upload `bytes` as a blob of `repo` (skipped when the registry has it); its digest.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> Result<String> {
        let digest = sha256_digest(bytes);
        let head = self.send("checking a blob", &|| {
            self.http.head(self.url(&format!("{repo}/blobs/{digest}")))
        })?;
        if head.status().is_success() {
            return Ok(digest);
        }
        let start = self.send("starting an upload", &|| {
            self.http.post(self.url(&format!("{repo}/blobs/uploads/")))
        })?;
        let location = start
            .headers()
            .get(LOCATION)
            .and_then(|h| h.to_str().ok())
            .ok_or_else(|| self.status_error("starting an upload", start.status()))?
            .to_owned();
        let mut upload = url::Url::parse(&location)
            .or_else(|_| url::Url::parse(&format!("{}{location}", self.base)))
            .map_err(|_| {
                RegistryError::Invalid(format!(
                    "{} answered an upload location that is not a URL",
                    self.registry
                ))
            })?;
        upload.query_pairs_mut().append_pair("digest", &digest);
        let body = bytes.to_vec();
        let done = self.send("uploading a blob", &|| {
            self.http
                .put(upload.clone())
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(body.clone())
        })?;
        if done.status() != StatusCode::CREATED {
            return Err(self.status_error("uploading a blob", done.status()));
        }
        Ok(digest)
    }

    /// Put `manifest` (OCI image manifest JSON) at `target` (a tag); its digest.
    pub fn push_manifest(&self, repo: &str, target: &str, manifest: &[u8]) -> Result<String> {
        let body = manifest.to_vec();
        let r = self.send("putting the manifest", &|| {
            self.http
                .put(self.url(&format!("{repo}/manifests/{target}")))
                .header(CONTENT_TYPE, MANIFEST_TYPES)
                .body(body.clone())
        })?;
        if r.status() != StatusCode::CREATED {
            let status = r.status();
            let text = r.text().unwrap_or_default();
            return Err(RegistryError::Invalid(format!(
                "{} refused the manifest ({status}): {}",
                self.registry,
                text.chars().take(300).collect::<String>()
            )));
        }
        Ok(sha256_digest(manifest))
    }

    /// The manifest at `target` (tag or digest) and its digest, checked when `target` is one.
    pub fn get_manifest(&self, repo: &str, target: &str) -> Result<(Vec<u8>, String)> {
        let r = self.send("reading the manifest", &|| {
            self.http
                .get(self.url(&format!("{repo}/manifests/{target}")))
                .header(ACCEPT, MANIFEST_TYPES)
        })?;
        if r.status() == StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound(format!(
                "{}/{repo}:{target} is not in the registry",
                self.registry
            )));
        }
        if !r.status().is_success() {
            return Err(self.status_error("reading the manifest", r.status()));
        }
        let bytes = r
            .bytes()
            .map_err(|e| self.unreachable("reading the manifest", &e))?
            .to_vec();
        let digest = sha256_digest(&bytes);
        if target.starts_with("sha256:") && target != digest {
            return Err(RegistryError::Digest {
                what: format!("the manifest {repo}@{target}"),
                expected: target.to_owned(),
                got: digest,
            });
        }
        Ok((bytes, digest))
    }

    /// Blob `digest` of `repo`, checked against its digest.
    pub fn get_blob(&self, repo: &str, digest: &str) -> Result<Vec<u8>> {
        let r = self.send("reading a blob", &|| {
            self.http.get(self.url(&format!("{repo}/blobs/{digest}")))
        })?;
        if r.status() == StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound(format!(
                "blob {digest} of {}/{repo} is not in the registry",
                self.registry
            )));
        }
        if !r.status().is_success() {
            return Err(self.status_error("reading a blob", r.status()));
        }
        let bytes = r
            .bytes()
            .map_err(|e| self.unreachable("reading a blob", &e))?
            .to_vec();
        let got = sha256_digest(&bytes);
        if got != digest {
            return Err(RegistryError::Digest {
                what: format!("blob of {}/{repo}", self.registry),
                expected: digest.to_owned(),
                got,
            });
        }
        Ok(bytes)
    }

    /// The repositories the registry lists (`/v2/_catalog`; registries may refuse it).
    pub fn catalog(&self) -> Result<Vec<String>> {
        let r = self.send("listing repositories", &|| {
            self.http.get(self.url("_catalog?n=1000"))
        })?;
        if !r.status().is_success() {
            return Err(self.status_error("listing repositories", r.status()));
        }
        let v: serde_json::Value = r
            .json()
            .map_err(|e| self.unreachable("listing repositories", &e))?;
        Ok(strings(&v["repositories"]))
    }

    /// The tags of `repo`.
    pub fn tags(&self, repo: &str) -> Result<Vec<String>> {
        let r = self.send("listing tags", &|| {
            self.http.get(self.url(&format!("{repo}/tags/list")))
        })?;
        if r.status() == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        if !r.status().is_success() {
            return Err(self.status_error("listing tags", r.status()));
        }
        let v: serde_json::Value = r.json().map_err(|e| self.unreachable("listing tags", &e))?;
        Ok(strings(&v["tags"]))
    }

    fn status_error(&self, what: &str, status: StatusCode) -> RegistryError {
        RegistryError::Invalid(format!("{what}: {} answered {status}", self.registry))
    }
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The `key="value"` pairs of a `WWW-Authenticate` challenge.
fn challenge_params(challenge: &str) -> Vec<(String, String)> {
    let rest = challenge.split_once(' ').map_or("", |(_, r)| r);
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        let key: String = chars
            .by_ref()
            .skip_while(|c| *c == ',' || c.is_whitespace())
            .take_while(|c| *c != '=')
            .collect();
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                value.push(c);
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        out.push((key.trim().to_ascii_lowercase(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_challenge_is_read() {
        let p = challenge_params(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(p[0], ("realm".into(), "https://auth.example/token".into()));
        assert_eq!(p[1], ("service".into(), "registry.example".into()));
        assert_eq!(p[2], ("scope".into(), "repository:a/b:pull,push".into()));
        let creds = Credentials::Basic {
            user: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{creds:?}").contains("hunter2"));
    }
}
