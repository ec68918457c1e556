//! The one policy every outgoing request passes: allow-list (scheme, host, port, path prefix
//! on segment boundaries), methods and headers the guest may set, private addresses, secrets
//! and their redaction.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
    /// `Authorization: Basic base64(<value>:<password>)` (HTTP basic where the secret is the
    /// user name and the password a fixed word: Freshdesk's API key with password `X`)
    BasicUser { password: String },
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
            SecretPlacement::BasicUser { password } => {
                header(headers, "authorization", basic_auth(&self.value, password))?;
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

/// How [`Policy::resolve`]'s reason starts when the host name did not resolve (a transport
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
    /// a request's timeout, ms: the default, and the cap on what a guest asks for
    /// (`limits.http_timeout_secs`)
    pub timeout_ms: u64,
    /// largest header section of a request or response, bytes (`limits.http_max_header_kb`)
    pub max_header_bytes: usize,
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
    /// when each rate-limited (or `Retry-After`-held) host may next be called
    pacer:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, tokio::time::Instant>>>,
    /// requests in flight to one host, for every resource and instance of the pipeline
    /// together (`limits.http_per_host`)
    pub per_host: usize,
    /// the slots of each host under `per_host`
    host_slots: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Semaphore>>>,
    >,
}

/// `url`'s host (lowercase) and `host:port`, the keys of rate limits, holds and slots.
fn host_keys(url: &Url) -> (String, String) {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let with_port = format!("{host}:{}", url.port_or_known_default().unwrap_or(0));
    (host, with_port)
}

impl Policy {
    /// Deny all requests.
    pub fn deny_all() -> Policy {
        Policy {
            timeout_ms: 60_000,
            max_header_bytes: 64 << 10,
            max_body_bytes: 64 << 20,
            max_attempts: 5,
            retry_budget_ms: 300_000,
            per_host: 32,
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

    /// The addresses `host` resolves to, refused when one is not public (unless the pipeline
    /// allows private addresses). The transport connects only to what this returns, so the
    /// address that was checked is the address that is reached (no DNS rebinding).
    pub async fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Vec<std::net::SocketAddr>, String> {
        let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("{UNRESOLVED} `{host}`: {e}"))?
            .collect();
        if addrs.is_empty() {
            return Err(format!("{UNRESOLVED} `{host}`: no addresses"));
        }
        if !self.allow_private
            && let Some(a) = addrs.iter().find(|a| is_private(a.ip()))
        {
            return Err(format!(
                "host `{host}` resolves to the non-public address `{}` (grant it by IP or allow private addresses)",
                a.ip()
            ));
        }
        Ok(addrs)
    }

    /// Check a URL against the allow-list: scheme, host, port and path prefix (whole
    /// segments: `/v1` admits `/v1/x`, not `/v10`). The URL is already normalized (`..`
    /// resolved) by parsing, and that normalized form is what is sent; a segment that
    /// decodes to a traversal (`..%2f`) is refused. Names are resolved and checked when the
    /// transport connects ([`Policy::resolve`]).
    pub fn check_static(&self, url: &Url) -> Result<(), String> {
        if !url.username().is_empty() || url.password().is_some() {
            return Err("URLs with credentials (user:password@) are refused".into());
        }
        if let Some(seg) = url
            .path_segments()
            .and_then(|mut s| s.find(|x| encoded_traversal(x)))
        {
            return Err(format!("path segment `{seg}` decodes to a path traversal"));
        }
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
                && under_prefix(url.path(), &a.path_prefix)
        });
        if ok {
            return Ok(());
        }
        let host_ok = self.allowed.iter().any(|a| {
            a.scheme == url.scheme()
                && a.host.trim_start_matches('[').trim_end_matches(']') == host
                && a.port == port
        });
        if host_ok {
            Err(format!(
                "path `{}` of `{}://{host}:{port}` is outside the path prefixes the pipeline's allow-list grants",
                url.path(),
                url.scheme()
            ))
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

    /// Wait for this request's turn under the host's rate limit (none: no wait) and past any
    /// `Retry-After` a response from the host asked for ([`Policy::hold`]). Slots are handed
    /// out in call order, so concurrent resources share the host's rate.
    pub async fn pace(&self, url: &Url) {
        let (host, with_port) = host_keys(url);
        let rate = self
            .rate_limits
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(&with_port) || h.eq_ignore_ascii_case(&host))
            .map(|(_, r)| *r)
            .filter(|r| *r > 0.0);
        let now = tokio::time::Instant::now();
        let slot = {
            let Ok(mut next) = self.pacer.lock() else {
                return;
            };
            match rate {
                Some(rate) => {
                    let interval = std::time::Duration::from_secs_f64(1.0 / rate);
                    let at = next.entry(with_port).or_insert(now);
                    let slot = (*at).max(now);
                    *at = slot + interval;
                    slot
                }
                // no rate: only a hold delays the request
                None => match next.get(&with_port) {
                    Some(at) if *at > now => *at,
                    _ => return,
                },
            }
        };
        tokio::time::sleep_until(slot).await;
    }

    /// Hold every request to `url`'s host for `wait` (a `Retry-After` or a backoff after a
    /// 429/503): all requests to a host share what its server asked for.
    pub fn hold(&self, url: &Url, wait: std::time::Duration) {
        let (_, with_port) = host_keys(url);
        let until = tokio::time::Instant::now() + wait;
        if let Ok(mut next) = self.pacer.lock() {
            let at = next.entry(with_port).or_insert(until);
            *at = (*at).max(until);
        }
    }

    /// A slot among the `limits.http_per_host` requests that may be in flight to `url`'s
    /// host; held until the response is read.
    pub async fn host_slot(&self, url: &Url) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let (_, with_port) = host_keys(url);
        let sem = {
            let mut slots = self.host_slots.lock().ok()?;
            slots
                .entry(with_port)
                .or_insert_with(|| {
                    std::sync::Arc::new(tokio::sync::Semaphore::new(self.per_host.max(1)))
                })
                .clone()
        };
        sem.acquire_owned().await.ok()
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

    /// Every form in which a secret (or a token learnt during the run) may appear: the value,
    /// percent-encoded (path and form encodings), base64 (standard and URL-safe, with and
    /// without padding), and HTTP basic's `user:password` in base64. Longest first.
    pub fn secret_forms(&self) -> Vec<String> {
        let mut values: Vec<(String, Option<String>)> = self
            .secrets
            .iter()
            .filter(|s| !s.value.is_empty())
            .map(|s| {
                // the `user:password` pair basic auth sends, in the order it sends it
                let pair = match &s.placement {
                    SecretPlacement::Basic { username } => Some(format!("{username}:{}", s.value)),
                    SecretPlacement::BasicUser { password } => {
                        Some(format!("{}:{password}", s.value))
                    }
                    _ => None,
                };
                (s.value.clone(), pair)
            })
            .collect();
        if let Ok(l) = self.learnt.lock() {
            values.extend(l.iter().map(|v| (v.clone(), None)));
        }
        let mut forms = Vec::new();
        for (value, pair) in values {
            forms.extend(encodings(&value));
            if let Some(pair) = pair {
                forms.extend(encodings(&pair).into_iter().skip(1));
            }
        }
        forms.retain(|f| !f.is_empty());
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        forms.dedup();
        forms
    }

    /// Whether `text` holds `grant`'s value in any of its forms.
    pub fn carries(grant: &SecretGrant, text: &str) -> bool {
        !grant.value.is_empty()
            && encodings(&grant.value).iter().any(|f| {
                f.len() >= MIN_MASKED_BYTES.min(grant.value.len()) && text.contains(f.as_str())
            })
    }

    /// `text` with every secret in every form ([`Policy::secret_forms`]) replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for f in self.secret_forms() {
            if out.contains(&f) {
                out = out.replace(&f, "***");
            }
        }
        out
    }
}

/// A secret's forms: itself, percent-encoded, base64.
fn encodings(value: &str) -> Vec<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose as b64;
    let path: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
    let pct = percent_all(value);
    vec![
        value.to_owned(),
        path.clone(),
        path.replace('+', "%20"),
        pct,
        b64::STANDARD.encode(value),
        b64::STANDARD_NO_PAD.encode(value),
        b64::URL_SAFE.encode(value),
        b64::URL_SAFE_NO_PAD.encode(value),
    ]
}

/// Percent-encoding of everything but unreserved characters (RFC 3986).
fn percent_all(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Shortest secret form masked in response bodies: shorter ones would mask ordinary text.
pub const MIN_MASKED_BYTES: usize = 6;

/// Mask every occurrence of `forms` in `buf` with as many `*` (same length, so a
/// `Content-Length` stays true). Returns how many were masked.
pub fn mask(buf: &mut [u8], forms: &[String]) -> usize {
    let mut n = 0;
    for f in forms.iter().map(String::as_bytes) {
        if f.len() < MIN_MASKED_BYTES || f.len() > buf.len() {
            continue;
        }
        let mut i = 0;
        while i + f.len() <= buf.len() {
            if buf[i..i + f.len()] == *f {
                buf[i..i + f.len()].fill(b'*');
                n += 1;
                i += f.len();
            } else {
                i += 1;
            }
        }
    }
    n
}

/// `path` is `prefix` or below it, on a segment boundary.
fn under_prefix(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.is_empty() || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// A path segment that is a traversal once a server percent-decodes it (`..%2f`, `%2e%2e%5c`).
fn encoded_traversal(segment: &str) -> bool {
    if !segment.contains('%') {
        return false;
    }
    let decoded: Vec<u8> =
        url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned().into_bytes())
            .unwrap_or_default();
    let decoded = String::from_utf8_lossy(&decoded);
    decoded
        .split(['/', '\\'])
        .any(|part| part == ".." || part == ".")
}

/// Methods a connector may use. TRACE and CONNECT are refused (they echo or tunnel).
pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The method a connector asked for, if it is one it may use.
pub fn check_method(method: &str) -> Result<http::Method, String> {
    let upper = method.to_ascii_uppercase();
    if !METHODS.contains(&upper.as_str()) {
        return Err(format!(
            "method `{}` is not allowed (allowed: {})",
            crate::hygiene::shown(method, 32),
            METHODS.join(", ")
        ));
    }
    http::Method::from_bytes(upper.as_bytes()).map_err(|_| format!("invalid method `{upper}`"))
}

/// Headers only the host sets: framing, routing and proxy headers.
pub const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "transfer-encoding",
    "content-length",
    "expect",
    "http2-settings",
    "proxy-connection",
];

/// Whether a connector may set header `name` (case-insensitive; every `proxy-*` is refused).
pub fn header_allowed(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !(FORBIDDEN_HEADERS.contains(&lower.as_str()) || lower.starts_with("proxy-"))
}

/// Whether `ip` is loopback, private, link-local, shared, reserved, multicast or otherwise
/// not a public unicast address (IPv4-mapped, -compatible and NAT64 forms included).
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => private_v6(v6),
    }
}

fn private_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    a == 0                                   // 0.0.0.0/8 "this network"
        || a == 10                           // 10/8
        || (a == 100 && (b & 0xc0) == 64)    // 100.64/10 shared (CGNAT)
        || a == 127                          // 127/8 loopback
        || (a == 169 && b == 254)            // 169.254/16 link-local (cloud metadata)
        || (a == 172 && (b & 0xf0) == 16)    // 172.16/12
        || (a == 192 && b == 0 && c == 0)    // 192.0.0/24 IETF protocol assignments
        || (a == 192 && b == 168)            // 192.168/16
        || (a == 198 && (b & 0xfe) == 18)    // 198.18/15 benchmarking
        || a >= 224 // 224/4 multicast, 240/4 reserved, broadcast
}

fn private_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    if let Some(v4) = v6.to_ipv4_mapped() {
        return private_v4(v4); // ::ffff:a.b.c.d
    }
    if s[..6] == [0; 6] {
        // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return v6.is_unspecified() || v6.is_loopback() || private_v4(v4);
    }
    (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4]) // 64:ff9b::/96 NAT64
        || (s[0] & 0xfe00) == 0xfc00 // fc00::/7 unique local
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10 link-local
        || (s[0] & 0xffc0) == 0xfec0 // fec0::/10 site-local
        || (s[0] & 0xff00) == 0xff00 // ff00::/8 multicast
}

#[cfg(test)]
mod tests;
