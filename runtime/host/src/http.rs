//! The `http` import: buffered requests through [`Policy`]: method, headers and URL checked;
//! redirects followed here, each hop checked in full and given only the secrets granted for
//! its origin; secrets the server echoes masked before the guest sees the response; retries
//! with backoff for idempotent requests; a capped timeout; size caps on body and headers.
//! `fetch-all` runs several such requests at once, within the policy's slots per host.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use url::Url;

use crate::bindings::sluice::connector::http::{HttpError, Request, Response};
use crate::policy::{Policy, SecretGrant, SecretPlacement};
use crate::{HttpMetrics, State};

fn idempotent(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS")
}

/// Seconds or HTTP date in `Retry-After`; `0` and past dates mean no hint.
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp.headers().get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return (secs > 0).then(|| Duration::from_secs(secs.min(300)));
    }
    let when = httpdate(v)?;
    let now = std::time::SystemTime::now();
    when.duration_since(now).ok().filter(|d| !d.is_zero())
}

fn httpdate(v: &str) -> Option<std::time::SystemTime> {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    let parts: Vec<&str> = v.split_whitespace().collect();
    if parts.len() != 6 {
        return None;
    }
    let day: u32 = parts[1].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])? as u32
        + 1;
    let year: i64 = parts[3].parse().ok()?;
    let hms: Vec<u64> = parts[4].split(':').filter_map(|x| x.parse().ok()).collect();
    if hms.len() != 3 {
        return None;
    }
    // days from civil (Howard Hinnant)
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m as i64 + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + (hms[0] * 3600 + hms[1] * 60 + hms[2]) as i64;
    Some(std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

fn backoff(attempt: u32) -> Duration {
    let base = 500u64 * (1 << attempt.min(8));
    let jitter = rand_jitter(base / 2);
    Duration::from_millis((base + jitter).min(30_000))
}

fn rand_jitter(max: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    if max == 0 { 0 } else { nanos % max }
}

/// A checked request, ready to send (and re-send on a retry).
struct Checked {
    method: reqwest::Method,
    url: Url,
    /// the guest's headers, without secrets
    headers: reqwest::header::HeaderMap,
    body: Option<Vec<u8>>,
    /// secrets the guest named (and that have a value on this run)
    secrets: Vec<String>,
    timeout: Duration,
}

/// Check what the guest asked for: URL on the allow-list, an allowed method, no header the
/// host owns, header bytes within the cap.
fn check_request(policy: &Policy, req: Request) -> Result<Checked, HttpError> {
    let url = Url::parse(&req.url).map_err(|e| {
        HttpError::Denied(format!(
            "invalid url `{}`: {e}",
            shown_url(policy, &req.url)
        ))
    })?;
    policy.check_static(&url).map_err(HttpError::Denied)?;
    let method = crate::policy::check_method(&req.method).map_err(HttpError::Denied)?;
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in &req.headers {
        if !crate::policy::header_allowed(k) {
            return Err(HttpError::Denied(format!(
                "header `{}` is set by the host only",
                crate::hygiene::shown(k, 64)
            )));
        }
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
            HttpError::Denied(format!(
                "invalid header name `{}`",
                crate::hygiene::shown(k, 64)
            ))
        })?;
        let value = reqwest::header::HeaderValue::from_str(v)
            .map_err(|_| HttpError::Denied(format!("invalid value for header `{name}`")))?;
        headers.append(name, value);
    }
    if crate::transport::header_bytes(&headers) > policy.max_header_bytes {
        return Err(HttpError::Denied(format!(
            "request headers exceed {} bytes (limits.http_max_header_kb)",
            policy.max_header_bytes
        )));
    }
    let cap = policy.timeout_ms.max(1);
    let timeout = req.timeout_ms.map_or(cap, |t| u64::from(t).clamp(1, cap));
    Ok(Checked {
        method,
        url,
        headers,
        body: req.body,
        secrets: req
            .secrets
            .into_iter()
            .filter(|n| !policy.absent_secrets.contains(n))
            .collect(),
        timeout: Duration::from_millis(timeout),
    })
}

/// A URL as it may appear in an error: secrets redacted, the query left out, escaped.
fn shown_url(policy: &Policy, url: &str) -> String {
    crate::hygiene::shown(&policy.redact(url), 200)
}

/// Most requests one `fetch-all` takes.
pub const MAX_FETCH_ALL: usize = 64;

/// What sending needs from the instance, cloned out of its store so that the requests of one
/// `fetch-all` run at once; each request counts into its own [`HttpMetrics`].
struct Sender {
    policy: std::sync::Arc<Policy>,
    client: reqwest::Client,
    token_client: reqwest::Client,
    connector: String,
}

pub async fn fetch(state: &mut State, req: Request) -> Result<Response, HttpError> {
    let sender = Sender::of(state);
    let mut metrics = HttpMetrics::default();
    let out = sender.fetch(req, &mut metrics, None).await;
    state.metrics.add(&metrics);
    out
}

/// `fetch` for each of `reqs` at once (bounded per host by the policy's slots), answers in
/// the order asked. The answers of one call are all copied into the guest at once, so
/// together they may take at most half the instance's memory limit (the guest needs the rest
/// to hold and parse them); an answer past that is `too-large`.
pub async fn fetch_all(state: &mut State, reqs: Vec<Request>) -> Vec<Result<Response, HttpError>> {
    if reqs.len() > MAX_FETCH_ALL {
        state.metrics.denied += reqs.len() as u64;
        let why = format!(
            "fetch-all takes at most {MAX_FETCH_ALL} requests, not {}",
            reqs.len()
        );
        return reqs
            .iter()
            .map(|_| Err(HttpError::Denied(why.clone())))
            .collect();
    }
    let sender = Sender::of(state);
    let room = AtomicU64::new(state.budget.limit() as u64 / 2);
    let sending = reqs.into_iter().map(|req| {
        let (sender, room) = (&sender, &room);
        async move {
            let mut metrics = HttpMetrics::default();
            let out = sender.fetch(req, &mut metrics, Some(room)).await;
            (out, metrics)
        }
    });
    let mut answers = Vec::new();
    for (out, metrics) in futures_util::future::join_all(sending).await {
        state.metrics.add(&metrics);
        answers.push(out);
    }
    answers
}

/// Take `n` bytes from `room`; false when fewer are left.
fn reserve(room: &AtomicU64, n: u64) -> bool {
    room.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
        left.checked_sub(n)
    })
    .is_ok()
}

impl Sender {
    fn of(state: &State) -> Sender {
        Sender {
            policy: state.policy.clone(),
            client: state.client.clone(),
            token_client: state.token_client.clone(),
            connector: state.connector.clone(),
        }
    }

    /// One request through its attempts; `room` is the bytes the answers of one `fetch-all`
    /// may still take.
    async fn fetch(
        &self,
        req: Request,
        metrics: &mut HttpMetrics,
        room: Option<&AtomicU64>,
    ) -> Result<Response, HttpError> {
        let policy = &self.policy;
        let checked = check_request(policy, req)?;
        // secrets named for a host they are not granted for refuse the request up front
        for name in &checked.secrets {
            policy
                .secret_for(name, &checked.url)
                .map_err(HttpError::Denied)?;
        }
        let attempts = if idempotent(checked.method.as_str()) {
            policy.max_attempts.max(1)
        } else {
            1
        };
        let mut last_err = HttpError::Transport("no attempt made".into());
        let started = std::time::Instant::now();
        let budget = Duration::from_millis(policy.retry_budget_ms);
        // a retry happens only when the wait before it still fits the request's budget
        let fits = |wait: Duration| started.elapsed() + wait <= budget;
        for attempt in 0..attempts {
            if attempt > 0 {
                metrics.retries += 1;
            }
            // one of the host's slots, held until the answer is read (not while waiting to
            // retry)
            let slot = policy.host_slot(&checked.url).await;
            let resp = match self.send_following(&checked, metrics).await {
                Ok(r) => r,
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Retryable(e)) => {
                    drop(slot);
                    last_err = e;
                    let wait = backoff(attempt);
                    if !fits(wait) {
                        break;
                    }
                    tokio::time::sleep(wait).await;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let wait = retry_after(&resp).unwrap_or_else(|| backoff(attempt));
            if (status == 429 || status >= 500) && attempt + 1 < attempts && fits(wait) {
                drop(slot);
                if status == 429 || status == 503 {
                    // the server is busy for every request to it, not only this one
                    policy.hold(&checked.url, wait);
                }
                tokio::time::sleep(wait).await;
                last_err = HttpError::RateLimited(Some(wait.as_millis() as u64));
                continue;
            }
            return self.read_response(resp, metrics, room).await;
        }
        Err(last_err)
    }

    /// Send `req`, following redirects: each hop's URL passes the full check (allow-list
    /// here, addresses in the resolver), and each hop carries only the named secrets granted
    /// for its origin — a secret the guest named for `api.example.com` never follows a
    /// redirect to another scheme, host or port, in any placement (header, query, basic,
    /// OAuth2).
    async fn send_following(
        &self,
        req: &Checked,
        metrics: &mut HttpMetrics,
    ) -> Result<reqwest::Response, Failure> {
        let policy = &self.policy;
        let (mut method, mut url, mut body) =
            (req.method.clone(), req.url.clone(), req.body.clone());
        for hop in 0..=MAX_REDIRECTS {
            let mut headers = req.headers.clone();
            let mut sent_url = url.clone();
            for name in &req.secrets {
                let Ok(grant) = policy.secret_for(name, &url) else {
                    continue; // a hop to another origin: this secret stays behind
                };
                let token = match &grant.placement {
                    SecretPlacement::OAuth2 { .. } => Some(
                        oauth2_token(policy, &self.token_client, grant, &mut metrics.requests)
                            .await
                            .map_err(|e| Failure::Final(HttpError::Denied(e)))?,
                    ),
                    _ => None,
                };
                grant
                    .apply(&mut headers, &mut sent_url, token.as_deref())
                    .map_err(|e| Failure::Final(HttpError::Denied(e)))?;
            }
            policy.pace(&url).await;
            metrics.requests += 1;
            let mut rb = self
                .client
                .request(method.clone(), sent_url.clone())
                .headers(headers)
                .timeout(req.timeout);
            if let Some(b) = &body {
                rb = rb.body(b.clone());
            }
            let resp = rb
                .send()
                .await
                .map_err(|e| self.send_error(&sent_url, &e, metrics))?;
            let Some(next) = redirect_target(&resp, &url) else {
                return Ok(resp);
            };
            if hop == MAX_REDIRECTS {
                break;
            }
            let next = next.map_err(|e| Failure::Final(HttpError::Denied(e)))?;
            if let Err(why) = policy.check_static(&next) {
                metrics.denied += 1;
                return Err(Failure::Final(HttpError::Denied(format!(
                    "redirect denied: {why}"
                ))));
            }
            if let Some(name) = secret_in_url(policy, &next) {
                metrics.denied += 1;
                return Err(Failure::Final(HttpError::Denied(format!(
                    "redirect denied: the server put secret `{name}` into a redirect to `{}`, which it is not granted for",
                    next.host_str().unwrap_or_default()
                ))));
            }
            let status = resp.status().as_u16();
            if status == 303 || (matches!(status, 301 | 302) && method == reqwest::Method::POST) {
                method = reqwest::Method::GET;
                body = None;
            }
            url = next;
        }
        Err(Failure::Final(HttpError::Denied(format!(
            "more than {MAX_REDIRECTS} redirects"
        ))))
    }

    /// A send error in words, with secrets and the query redacted; refusals by the resolver
    /// (non-public addresses) are denials, timeouts and connection failures retryable.
    fn send_error(&self, url: &Url, e: &reqwest::Error, metrics: &mut HttpMetrics) -> Failure {
        let policy = &self.policy;
        if let Some(why) = crate::transport::refusal(e) {
            metrics.denied += 1;
            tracing::warn!(connector = %self.connector, "http denied: {why}");
            return Failure::Final(HttpError::Denied(why));
        }
        let msg = crate::transport::chain(e).replace(url.as_str(), &redacted_url(url));
        let msg = crate::hygiene::escape_controls(&policy.redact(&msg));
        if e.is_timeout() {
            Failure::Retryable(HttpError::Timeout)
        } else {
            Failure::Retryable(HttpError::Transport(msg))
        }
    }

    /// Read a response whole, within the body and header caps (and the `room` a `fetch-all`
    /// has left), with secret forms masked in its headers and body.
    async fn read_response(
        &self,
        mut resp: reqwest::Response,
        metrics: &mut HttpMetrics,
        room: Option<&AtomicU64>,
    ) -> Result<Response, HttpError> {
        let policy = &self.policy;
        let header_bytes = crate::transport::header_bytes(resp.headers());
        if header_bytes > policy.max_header_bytes {
            return Err(HttpError::Transport(format!(
                "response headers of {header_bytes} bytes exceed {} bytes (limits.http_max_header_kb)",
                policy.max_header_bytes
            )));
        }
        if let Some(len) = resp.content_length()
            && len > policy.max_body_bytes
        {
            return Err(HttpError::TooLarge(len));
        }
        let forms = policy.secret_forms();
        let resp_headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                let mut v = v.as_bytes().to_vec();
                crate::policy::mask(&mut v, &forms);
                (k.to_string(), String::from_utf8_lossy(&v).into_owned())
            })
            .collect();
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        // bytes taken from `room` so far: given back when the body is refused
        let mut taken = 0u64;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    let n = chunk.len() as u64;
                    let over_room = match room {
                        Some(r) if reserve(r, n) => {
                            taken += n;
                            false
                        }
                        Some(_) => true,
                        None => false,
                    };
                    if body.len() as u64 > policy.max_body_bytes || over_room {
                        if let Some(r) = room {
                            r.fetch_add(taken, Ordering::Relaxed);
                        }
                        return Err(HttpError::TooLarge(body.len() as u64));
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(HttpError::Transport(crate::hygiene::escape_controls(
                        &policy.redact(&crate::transport::chain(&e)),
                    )));
                }
            }
        }
        let masked = crate::policy::mask(&mut body, &forms);
        if masked > 0 {
            tracing::warn!(
                connector = %self.connector,
                "masked {masked} echoed secret value(s) in a response before the connector saw it"
            );
        }
        metrics.bytes += body.len() as u64;
        Ok(Response {
            status,
            headers: resp_headers,
            body,
        })
    }
}

/// Why a send failed: for good, or worth another attempt.
enum Failure {
    Final(HttpError),
    Retryable(HttpError),
}

/// Most redirects one request follows.
const MAX_REDIRECTS: usize = 10;

/// The `Location` of a redirect response, resolved against the request's URL.
fn redirect_target(resp: &reqwest::Response, base: &Url) -> Option<Result<Url, String>> {
    if !matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let loc = resp.headers().get(reqwest::header::LOCATION)?;
    Some(
        loc.to_str()
            .ok()
            .and_then(|l| base.join(l).ok())
            .ok_or_else(|| "redirect to an invalid location".to_owned()),
    )
}

/// A secret (in any form) inside a URL whose origin it is not granted for.
fn secret_in_url(policy: &Policy, url: &Url) -> Option<String> {
    policy
        .secrets
        .iter()
        .filter(|s| policy.secret_for(&s.name, url).is_err())
        .find(|s| Policy::carries(s, url.as_str()))
        .map(|s| s.name.clone())
}

/// The access token of an OAuth2 client-credentials grant: the cached one while it is valid,
/// else a new one from the token endpoint (which the pipeline file names, so it is trusted
/// like the file; the request carries the client secret and is never shown to the guest).
/// `requests` counts the token request. Used by `http` and by `wasi:http`.
pub(crate) async fn oauth2_token(
    policy: &Policy,
    client: &reqwest::Client,
    grant: &SecretGrant,
    requests: &mut u64,
) -> Result<String, String> {
    let SecretPlacement::OAuth2 {
        token_url,
        client_id,
        extra,
        cache,
    } = &grant.placement
    else {
        return Err(format!("secret `{}` is not an OAuth2 grant", grant.name));
    };
    let mut slot = cache.lock().await;
    if let Some((token, until)) = slot.as_ref()
        && std::time::Instant::now() < *until
    {
        return Ok(token.clone());
    }
    let fail = |why: String| {
        policy.redact(&format!(
            "secret `{}`: OAuth2 token request to `{token_url}` failed: {why}",
            grant.name
        ))
    };
    let form = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        form.append_pair("client_id", client_id);
        form.append_pair("client_secret", &grant.value);
        for (k, v) in extra {
            form.append_pair(k, v);
        }
        form.finish()
    };
    *requests += 1;
    let resp = client
        .post(token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(form)
        .timeout(Duration::from_millis(policy.timeout_ms))
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| fail(e.to_string()))?;
    if !status.is_success() {
        return Err(fail(format!(
            "status {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        )));
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| fail(format!("answer is not JSON: {e}")))?;
    let token = doc
        .get("access_token")
        .and_then(|t| t.as_str())
        .ok_or_else(|| fail("answer has no `access_token`".into()))?
        .to_owned();
    policy.learn_secret(&token);
    // dlt's default lifetime when the server does not say; renew 30 s early
    let lifetime = doc
        .get("expires_in")
        .and_then(|e| {
            e.as_u64()
                .or_else(|| e.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(3600);
    let until = std::time::Instant::now() + Duration::from_secs(lifetime.saturating_sub(30));
    *slot = Some((token.clone(), until));
    Ok(token)
}

fn redacted_url(url: &Url) -> String {
    let mut u = url.clone();
    if u.query().is_some() {
        u.set_query(Some("…"));
    }
    let _ = u.set_password(None);
    u.to_string()
}
