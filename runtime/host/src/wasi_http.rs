//! Standard `wasi:http/outgoing-handler` for connectors that bring their own HTTP library
//! (JS `fetch`, Rust or Python wasi-http clients). Every request passes the same [`Policy`]
//! and the same transport as the `http` interface: allow-list, method and header rules, the
//! checked resolver (private addresses, no rebinding), the pipeline's secrets for that host
//! injected by the host, echoed secrets masked, the body and header caps, a capped timeout
//! and a cap on requests awaiting their response per instance. The guest follows redirects
//! itself, so each hop is a new request held to all of this.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::BodyExt;
use url::Url;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::policy::Policy;

/// A response for the guest, with the future of its transmission.
type Answer = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
)>;
type Sent = Box<dyn Future<Output = Answer> + Send>;

/// The policy as wasi-http hooks.
pub struct PolicyHooks {
    policy: Arc<Policy>,
    /// the instance's checked client
    client: reqwest::Client,
    /// for OAuth2 token exchanges with the endpoint the pipeline file names
    token_client: reqwest::Client,
    connector: String,
    pub requests: Arc<AtomicU64>,
    pub denied: Arc<AtomicU64>,
    pub bytes: Arc<AtomicU64>,
    /// requests awaiting their response (`limits.http_in_flight`)
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl PolicyHooks {
    pub fn new(
        policy: Arc<Policy>,
        client: reqwest::Client,
        token_client: reqwest::Client,
        connector: &str,
        max_in_flight: usize,
    ) -> PolicyHooks {
        PolicyHooks {
            policy,
            client,
            token_client,
            connector: connector.to_owned(),
            requests: Default::default(),
            denied: Default::default(),
            bytes: Default::default(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1))),
        }
    }
}

/// A request refused by the policy: counted, logged with the reason, denied to the guest.
fn deny(denied: &AtomicU64, connector: &str, why: &str) -> Error {
    denied.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(%connector, "wasi:http denied: {why}");
    Error::HttpRequestDenied
}

impl WasiHttpHooks for PolicyHooks {
    fn forbidden_header_filter(&mut self) -> wasmtime_wasi_http::ForbiddenHeaderFilter {
        // content-length stays settable (guest HTTP libraries set it); the host replaces it
        // with the true length of the body it sends
        Arc::new(|name| {
            name != http::header::CONTENT_LENGTH && !crate::policy::header_allowed(name.as_str())
        })
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Sent {
        let _ = fut;
        let policy = self.policy.clone();
        let connector = self.connector.clone();
        let (requests, denied, bytes) = (
            self.requests.clone(),
            self.denied.clone(),
            self.bytes.clone(),
        );
        let (client, token_client) = (self.client.clone(), self.token_client.clone());
        let in_flight = self.in_flight.clone();
        Box::new(async move {
            let permit = in_flight
                .acquire_owned()
                .await
                .map_err(|_| Error::ConnectionLimitReached)?;
            let (parts, body) = request.into_parts();
            let url =
                Url::parse(&parts.uri.to_string()).map_err(|_| Error::HttpRequestUriInvalid)?;
            policy
                .check_static(&url)
                .map_err(|why| deny(&denied, &connector, &why))?;
            let method = crate::policy::check_method(parts.method.as_str())
                .map_err(|why| deny(&denied, &connector, &why))?;
            let mut headers = parts.headers;
            headers.remove(http::header::HOST);
            headers.remove(http::header::CONTENT_LENGTH);
            if let Some(bad) = headers
                .keys()
                .find(|k| !crate::policy::header_allowed(k.as_str()))
            {
                return Err(deny(
                    &denied,
                    &connector,
                    &format!("header `{bad}` is set by the host only"),
                ));
            }
            if crate::transport::header_bytes(&headers) > policy.max_header_bytes {
                return Err(Error::HttpRequestHeaderSectionSize(None));
            }
            let body = collect_capped(body, policy.max_body_bytes).await?;
            let mut url = url;
            // secrets granted for this host go in without the guest ever holding them (an
            // OAuth2 grant after the host's token exchange); a grant that cannot be placed is
            // skipped, since the guest named none of them
            for grant in policy.secrets.iter() {
                if policy.secret_for(&grant.name, &url).is_err() {
                    continue;
                }
                let token = match &grant.placement {
                    crate::SecretPlacement::OAuth2 { .. } => {
                        let mut n = 0;
                        let t =
                            crate::http::oauth2_token(&policy, &token_client, grant, &mut n).await;
                        requests.fetch_add(n, Ordering::Relaxed);
                        Some(t.map_err(|why| deny(&denied, &connector, &why))?)
                    }
                    _ => None,
                };
                let _ = grant.apply(&mut headers, &mut url, token.as_deref());
            }
            policy.pace(&url).await;
            // the pipeline-wide cap on requests in flight to this host (until the answer's
            // head is in; the body streams to the guest afterwards)
            let host_slot = policy.host_slot(&url).await;
            requests.fetch_add(1, Ordering::Relaxed);
            let cap = std::time::Duration::from_millis(policy.timeout_ms.max(1));
            let timeout = options
                .and_then(|o| o.first_byte_timeout)
                .map_or(cap, |t| t.min(cap));
            let sent = client
                .request(method, url.clone())
                .headers(headers)
                .body(body)
                .timeout(timeout)
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) => return Err(transport_error(&e, &denied, &connector, &policy)),
            };
            drop((permit, host_slot));
            response(resp, &policy, bytes)
        })
    }
}

/// The guest's request body, whole, within the body cap.
async fn collect_capped(body: WasiBody, max: u64) -> Result<Bytes, Error> {
    let limited = http_body_util::Limited::new(body, usize::try_from(max).unwrap_or(usize::MAX));
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => match e.downcast::<Error>() {
            Ok(inner) => Err(*inner),
            Err(_) => Err(Error::HttpRequestBodySize(None)),
        },
    }
}

/// A failed send in wasi:http's terms; refusals by the resolver are denials.
fn transport_error(
    e: &reqwest::Error,
    denied: &AtomicU64,
    connector: &str,
    policy: &Policy,
) -> Error {
    if let Some(why) = crate::transport::refusal(e) {
        return deny(denied, connector, &why);
    }
    tracing::info!(
        %connector,
        "wasi:http request failed: {}",
        policy.redact(&crate::transport::chain(e))
    );
    if e.is_timeout() {
        Error::ConnectionTimeout
    } else if e.is_connect() {
        Error::ConnectionRefused
    } else {
        Error::HttpProtocolError
    }
}

/// The response for the guest: header and body caps, secrets masked in headers and body.
fn response(resp: reqwest::Response, policy: &Policy, bytes: Arc<AtomicU64>) -> Answer {
    let header_bytes = crate::transport::header_bytes(resp.headers());
    if header_bytes > policy.max_header_bytes {
        return Err(Error::HttpResponseHeaderSectionSize(
            u32::try_from(header_bytes).ok(),
        ));
    }
    let max = policy.max_body_bytes;
    if resp.content_length().is_some_and(|l| l > max) {
        return Err(Error::HttpResponseBodySize(resp.content_length()));
    }
    let forms = policy.secret_forms();
    let mut builder = http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        let mut v = v.as_bytes().to_vec();
        crate::policy::mask(&mut v, &forms);
        if let Ok(v) = http::HeaderValue::from_bytes(&v) {
            builder = builder.header(k, v);
        }
    }
    let mask = crate::transport::StreamMask::new(forms);
    let stream = futures_util::stream::unfold(
        (resp, mask, 0u64, false),
        move |(mut resp, mut mask, total, done)| {
            let bytes = bytes.clone();
            async move {
                if done {
                    return None;
                }
                let frame = match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        let total = total + chunk.len() as u64;
                        if total > max {
                            let err = Error::HttpResponseBodySize(Some(total));
                            return Some((Err(err), (resp, mask, total, true)));
                        }
                        bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                        let out = mask.push(&chunk);
                        return Some((
                            Ok(http_body::Frame::data(Bytes::from(out))),
                            (resp, mask, total, false),
                        ));
                    }
                    Ok(None) => Ok(http_body::Frame::data(Bytes::from(mask.finish()))),
                    Err(_) => Err(Error::HttpResponseIncomplete),
                };
                Some((frame, (resp, mask, total, true)))
            }
        },
    );
    let body = http_body_util::StreamBody::new(stream).boxed_unsync();
    let res = builder.body(body).map_err(|_| Error::HttpProtocolError)?;
    Ok((
        res,
        Box::new(async { Ok(()) }) as Box<dyn Future<Output = Result<(), Error>> + Send>,
    ))
}
