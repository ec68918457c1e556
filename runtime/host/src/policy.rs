//! The one policy every outgoing request passes: allow-list, private addresses, secrets,
//! redaction.

use std::net::IpAddr;

use url::Url;

/// Where a secret goes in a request, and in what form: the pipeline's auth scheme.
#[derive(Clone, Debug)]
pub enum SecretPlacement {
    /// `Header: <prefix><value>` (bearer tokens, API keys in a header)
    Header { name: String, prefix: String },
    /// `?name=<value>` (API keys in the query)
    Query { name: String },
    /// `Authorization: Basic base64(<username>:<value>)` (HTTP basic; the value is the password)
    Basic { username: String },
    /// OAuth2 client credentials: the host posts `client_id`, the secret as `client_secret`
    /// and `grant_type=client_credentials` (plus `extra`) form-encoded to `token_url`, keeps
    /// the access token until shortly before `expires_in`, and sends
    /// `Authorization: Bearer <token>`. The connector never sees the secret nor the token.
    OAuth2 {
        token_url: String,
        client_id: String,
        extra: Vec<(String, String)>,
        /// the current token and when it stops being used
        cache: std::sync::Arc<tokio::sync::Mutex<Option<(String, std::time::Instant)>>>,
    },
}

/// The `Authorization` value of HTTP basic auth.
pub fn basic_auth(username: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    )
}

/// A secret the pipeline grants for requests to one host.
#[derive(Clone, Debug)]
pub struct SecretGrant {
    pub name: String,
    pub value: String,
    /// allow-list entry (scheme://host[:port]) the secret may be sent to
    pub host: String,
    pub placement: SecretPlacement,
}

impl SecretGrant {
    /// Put the secret into a request: a sensitive header, or a query parameter of `url`.
    /// `token` is the current OAuth2 access token (fetched by the caller) for that scheme.
    pub fn apply(
        &self,
        headers: &mut http::HeaderMap,
        url: &mut Url,
        token: Option<&str>,
    ) -> Result<(), String> {
        let header = |headers: &mut http::HeaderMap, name: &str, value: String| {
            let hn = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid header `{name}` for secret"))?;
            let mut hv = http::HeaderValue::from_str(&value)
                .map_err(|_| format!("secret `{}` is not a valid header value", self.name))?;
            hv.set_sensitive(true);
            headers.insert(hn, hv);
            Ok::<(), String>(())
        };
        match &self.placement {
            SecretPlacement::Header { name, prefix } => {
                header(headers, name, format!("{prefix}{}", self.value))?;
            }
            SecretPlacement::Query { name } => {
                url.query_pairs_mut().append_pair(name, &self.value);
            }
            SecretPlacement::Basic { username } => {
                header(headers, "authorization", basic_auth(username, &self.value))?;
            }
            SecretPlacement::OAuth2 { .. } => {
                let token = token.ok_or_else(|| {
                    format!(
                        "secret `{}`: no OAuth2 access token was obtained",
                        self.name
                    )
                })?;
                header(headers, "authorization", format!("Bearer {token}"))?;
            }
        }
        Ok(())
    }
}

/// How [`Policy::check`]'s reason starts when the host name did not resolve (a transport
/// failure the caller may retry, not a refusal).
pub const UNRESOLVED: &str = "cannot resolve";

#[derive(Clone, Debug)]
struct Allowed {
    scheme: String,
    host: String,
    port: u16,
    path_prefix: String,
}

/// A pipeline's network policy. An empty allow-list denies everything.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    allowed: Vec<Allowed>,
    /// allow names that resolve to loopback, private or link-local addresses
    pub allow_private: bool,
    pub secrets: Vec<SecretGrant>,
    /// optional secrets the pipeline declares but that have no value on this run: requests
    /// naming them go without
    pub absent_secrets: Vec<String>,
    /// per-request timeout default, ms
    pub timeout_ms: u64,
    /// largest response body, bytes
    pub max_body_bytes: u64,
    /// attempts for idempotent requests on 429, 5xx and connection errors
    pub max_attempts: u32,
    /// longest one request may take across its attempts and the waits between them, ms; a
    /// `Retry-After` reaching past it ends the retries (the guest gets the 429/503)
    pub retry_budget_ms: u64,
    /// requests per second per host (`api.example.com` or `host:port`), for every resource
    /// of the pipeline together
    pub rate_limits: Vec<(String, f64)>,
    /// values learnt during the run that must never be shown (OAuth2 access tokens)
    learnt: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// when each rate-limited host may next be called
    pacer:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, tokio::time::Instant>>>,
}

impl Policy {
    /// Deny all requests.
    pub fn deny_all() -> Policy {
        Policy {
            timeout_ms: 60_000,
            max_body_bytes: 64 << 20,
            max_attempts: 5,
            retry_budget_ms: 300_000,
            ..Default::default()
        }
    }

    /// Allow `entries` (`https://api.example.com`, `http://127.0.0.1:8080/v1`).
    pub fn allow(entries: &[String]) -> Result<Policy, String> {
        let mut p = Policy::deny_all();
        for e in entries {
            let url = Url::parse(e).map_err(|err| format!("allow-list entry `{e}`: {err}"))?;
            let host = url
                .host_str()
                .ok_or_else(|| format!("allow-list entry `{e}` has no host"))?
                .to_ascii_lowercase();
            p.allowed.push(Allowed {
                scheme: url.scheme().to_owned(),
                port: url.port_or_known_default().unwrap_or(0),
                host,
                path_prefix: url.path().trim_end_matches('/').to_owned(),
            });
        }
        Ok(p)
    }

    /// Check a URL against the allow-list and, when the host is a name, the addresses it
    /// resolves to. Returns the reason when denied.
    pub async fn check(&self, url: &Url) -> Result<(), String> {
        self.check_static(url)?;
        let host = url.host_str().unwrap_or_default();
        if host.parse::<IpAddr>().is_ok() || self.allow_private {
            return Ok(());
        }
        let port = url.port_or_known_default().unwrap_or(0);
        let addrs = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("{UNRESOLVED} `{host}`: {e}"))?;
        for a in addrs {
            if is_private(a.ip()) {
                return Err(format!(
                    "host `{host}` resolves to the non-public address `{}` (grant it by IP or allow private addresses)",
                    a.ip()
                ));
            }
        }
        Ok(())
    }

    /// The allow-list part of [`Policy::check`], without resolving names.
    pub fn check_static(&self, url: &Url) -> Result<(), String> {
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = url.port_or_known_default().unwrap_or(0);
        let ok = self.allowed.iter().any(|a| {
            a.scheme == url.scheme()
                && a.host.trim_start_matches('[').trim_end_matches(']') == host
                && a.port == port
                && url.path().starts_with(&a.path_prefix)
        });
        if ok {
            Ok(())
        } else {
            Err(format!(
                "host `{}://{host}:{port}` is not on the pipeline's allow-list",
                url.scheme()
            ))
        }
    }

    /// The grant of secret `name` for `url`, if the pipeline allows sending it there.
    pub fn secret_for(&self, name: &str, url: &Url) -> Result<&SecretGrant, String> {
        let grant = self
            .secrets
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| format!("secret `{name}` is not granted to this pipeline"))?;
        let only = Policy::allow(std::slice::from_ref(&grant.host))?;
        only.check_static(url).map_err(|_| {
            format!(
                "secret `{name}` may not be sent to `{}`",
                url.host_str().unwrap_or_default()
            )
        })?;
        Ok(grant)
    }

    /// Wait for this request's turn under the host's rate limit (none: no wait). Slots are
    /// handed out in call order, so concurrent resources share the host's rate.
    pub async fn pace(&self, url: &Url) {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let with_port = format!("{host}:{}", url.port_or_known_default().unwrap_or(0));
        let Some(rate) = self
            .rate_limits
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(&with_port) || h.eq_ignore_ascii_case(&host))
            .map(|(_, r)| *r)
            .filter(|r| *r > 0.0)
        else {
            return;
        };
        let interval = std::time::Duration::from_secs_f64(1.0 / rate);
        let now = tokio::time::Instant::now();
        let slot = {
            let Ok(mut next) = self.pacer.lock() else {
                return;
            };
            let at = next.entry(with_port).or_insert(now);
            let slot = (*at).max(now);
            *at = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// Remember a value obtained during the run (an access token) so it is redacted too.
    pub fn learn_secret(&self, value: &str) {
        if let Ok(mut l) = self.learnt.lock()
            && !value.is_empty()
            && !l.iter().any(|v| v == value)
        {
            l.push(value.to_owned());
        }
    }

    /// `text` with every secret value (and the forms the host sends it in) replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if !s.value.is_empty() {
                if let SecretPlacement::Basic { username } = &s.placement {
                    let encoded = basic_auth(username, &s.value);
                    out = out.replace(encoded.trim_start_matches("Basic "), "***");
                }
                out = out.replace(&s.value, "***");
            }
        }
        if let Ok(l) = self.learnt.lock() {
            for v in l.iter() {
                out = out.replace(v, "***");
            }
        }
        out
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}
