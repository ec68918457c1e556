//! Standard `wasi:http/outgoing-handler` for connectors that bring their own HTTP library
//! (JS `fetch`, Rust or Python wasi-http clients). Every request passes the same [`Policy`]
//! as the `http` interface: allow-list and private-address checks, and the pipeline's secrets
//! for that host injected by the host.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http_body_util::BodyExt;
use url::Url;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::policy::Policy;

type Sent = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = Result<(), Error>> + Send>,
            )>,
        > + Send,
>;

/// The policy as wasi-http hooks.
pub struct PolicyHooks {
    pub policy: Arc<Policy>,
    /// the instance's policy-checked client, for OAuth2 token exchanges
    pub client: reqwest::Client,
    pub connector: String,
    pub requests: Arc<AtomicU64>,
    pub denied: Arc<AtomicU64>,
}

impl WasiHttpHooks for PolicyHooks {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Sent {
        let _ = fut;
        let policy = self.policy.clone();
        let connector = self.connector.clone();
        let (requests, denied) = (self.requests.clone(), self.denied.clone());
        let client = self.client.clone();
        Box::new(async move {
            let mut url =
                Url::parse(&request.uri().to_string()).map_err(|_| Error::HttpRequestUriInvalid)?;
            if let Err(why) = policy.check(&url).await {
                denied.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%connector, "wasi:http denied: {why}");
                return Err(Error::HttpRequestDenied);
            }
            // secrets granted for this host go in without the guest ever holding them (an
            // OAuth2 grant after the host's token exchange); a grant that cannot be placed is
            // skipped, since the guest named none of them
            let before = url.clone();
            for grant in policy.secrets.iter() {
                if policy.secret_for(&grant.name, &url).is_err() {
                    continue;
                }
                let token = match &grant.placement {
                    crate::SecretPlacement::OAuth2 { .. } => {
                        let mut n = 0;
                        let t = crate::http::oauth2_token(&policy, &client, grant, &mut n).await;
                        requests.fetch_add(n, Ordering::Relaxed);
                        match t {
                            Ok(t) => Some(t),
                            Err(why) => {
                                tracing::warn!(%connector, "wasi:http: {why}");
                                return Err(Error::HttpRequestDenied);
                            }
                        }
                    }
                    _ => None,
                };
                let _ = grant.apply(request.headers_mut(), &mut url, token.as_deref());
            }
            if url != before {
                *request.uri_mut() = url
                    .as_str()
                    .parse()
                    .map_err(|_| Error::HttpRequestUriInvalid)?;
            }
            policy.pace(&url).await;
            requests.fetch_add(1, Ordering::Relaxed);
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}
