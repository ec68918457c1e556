//! The `http` import: buffered requests through [`Policy`], with redirects re-checked,
//! secrets injected, retries with backoff for idempotent requests, timeouts and size caps.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::State;
use crate::bindings::sluice::connector::http::{HttpError, Request, Response};
use crate::policy::{Policy, SecretGrant, SecretPlacement};

/// A client that follows redirects only to allowed destinations.
pub fn client(policy: &Arc<Policy>) -> reqwest::Result<reqwest::Client> {
    let p = policy.clone();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 10 {
                return attempt.error("too many redirects");
            }
            match p.check_static(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(why) => attempt.error(format!("redirect denied: {why}")),
            }
        }))
        .build()
}

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

pub async fn fetch(state: &mut State, req: Request) -> Result<Response, HttpError> {
    let policy = state.policy.clone();
    let mut url = Url::parse(&req.url).map_err(|e| {
        HttpError::Denied(format!("invalid url `{}`: {e}", policy.redact(&req.url)))
    })?;
    if let Err(why) = policy.check(&url).await {
        // a name that does not resolve is a network failure, not a policy decision
        if why.starts_with(crate::policy::UNRESOLVED) {
            return Err(HttpError::Transport(why));
        }
        state.metrics.denied += 1;
        tracing::warn!(connector = %state.connector, "http denied: {why}");
        return Err(HttpError::Denied(why));
    }
    let method = reqwest::Method::from_bytes(req.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| HttpError::Denied(format!("invalid method `{}`", req.method)))?;
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in &req.headers {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| HttpError::Denied(format!("invalid header name `{k}`")))?;
        let value = reqwest::header::HeaderValue::from_str(v)
            .map_err(|_| HttpError::Denied(format!("invalid value for header `{k}`")))?;
        headers.insert(name, value);
    }
    for name in &req.secrets {
        if policy.absent_secrets.contains(name) {
            continue;
        }
        let grant = policy.secret_for(name, &url).map_err(HttpError::Denied)?;
        let token = match &grant.placement {
            SecretPlacement::OAuth2 { .. } => Some(
                oauth2_token(&policy, &state.client, grant, &mut state.metrics.requests)
                    .await
                    .map_err(HttpError::Denied)?,
            ),
            _ => None,
        };
        grant
            .apply(&mut headers, &mut url, token.as_deref())
            .map_err(HttpError::Denied)?;
    }
    let timeout = Duration::from_millis(req.timeout_ms.map(u64::from).unwrap_or(policy.timeout_ms));
    let attempts = if idempotent(method.as_str()) {
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
            state.metrics.retries += 1;
        }
        policy.pace(&url).await;
        state.metrics.requests += 1;
        let mut rb = state
            .client
            .request(method.clone(), url.clone())
            .headers(headers.clone())
            .timeout(timeout);
        if let Some(body) = &req.body {
            rb = rb.body(body.clone());
        }
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => {
                // reqwest keeps the reason (e.g. our redirect refusal) in the source chain
                let mut chain = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    chain.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                let msg = policy.redact(&chain.replace(url.as_str(), &redacted_url(&url)));
                if msg.contains("redirect denied") {
                    state.metrics.denied += 1;
                    return Err(HttpError::Denied(msg));
                }
                last_err = if e.is_timeout() {
                    HttpError::Timeout
                } else {
                    HttpError::Transport(msg)
                };
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
            tokio::time::sleep(wait).await;
            last_err = HttpError::RateLimited(Some(wait.as_millis() as u64));
            continue;
        }
        if let Some(len) = resp.content_length()
            && len > policy.max_body_bytes
        {
            return Err(HttpError::TooLarge(len));
        }
        let resp_headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        let mut resp = resp;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if body.len() as u64 > policy.max_body_bytes {
                        return Err(HttpError::TooLarge(body.len() as u64));
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(HttpError::Transport(policy.redact(&e.to_string()))),
            }
        }
        state.metrics.bytes += body.len() as u64;
        return Ok(Response {
            status,
            headers: resp_headers,
            body,
        });
    }
    Err(last_err)
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
