//! The HTTP side: a hyper HTTP/1 server on 127.0.0.1, the guard in front of every request,
//! the assets, and the API's answers (computed on blocking threads: reads open their own
//! short-lived sessions, none is kept between requests).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::guard::Guard;
use crate::{DashboardError, Options};

/// The largest request body (a SQL query).
const MAX_BODY: usize = 64 * 1024;

/// A dashboard serving on its own runtime thread.
#[derive(Debug)]
pub struct Running {
    /// the URL to open, token included
    pub url: String,
    pub port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What every request handler shares.
struct Shared {
    options: Options,
    guard: Guard,
}

/// Bind 127.0.0.1 and serve on a thread of its own until the returned value is dropped.
pub fn start(options: Options) -> Result<Running, DashboardError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sluice-dashboard")
        .enable_all()
        .build()
        .map_err(DashboardError::Runtime)?;
    let requested = options.port;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(SocketAddr::from((
            [127, 0, 0, 1],
            requested,
        ))))
        .map_err(|source| DashboardError::Bind {
            port: requested,
            source,
        })?;
    let port = listener
        .local_addr()
        .map_err(|source| DashboardError::Bind {
            port: requested,
            source,
        })?
        .port();
    let guard = Guard::new(port);
    let url = format!("http://127.0.0.1:{port}/?token={}", guard.token());
    let shared = Arc::new(Shared { options, guard });
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("sluice-dashboard".into())
        .spawn(move || runtime.block_on(accept(listener, shared, stopped)))
        .map_err(DashboardError::Runtime)?;
    Ok(Running {
        url,
        port,
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// `sluice dashboard`: start, print the URL, serve until Ctrl-C.
pub fn serve(options: Options) -> Result<(), DashboardError> {
    let running = start(options)?;
    println!("Sluice dashboard (read-only): {}", running.url);
    println!("Serving 127.0.0.1 only; the token in the URL is needed. Ctrl-C stops it.");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DashboardError::Runtime)?;
    let _ = rt.block_on(tokio::signal::ctrl_c());
    drop(running);
    Ok(())
}

async fn accept(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = &mut stopped => return,
        };
        let Ok((stream, _)) = conn else { continue };
        let shared = shared.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let host = req.headers().get(HOST).and_then(|h| h.to_str().ok());
    if !shared.guard.host_ok(host) {
        return Ok(plain(
            StatusCode::MISDIRECTED_REQUEST,
            "this dashboard answers only to its own address (127.0.0.1)",
        ));
    }
    let path = req.uri().path().to_owned();
    if req.method() == Method::GET
        && let Some((kind, body)) = crate::assets::asset(&path)
    {
        return Ok(respond(
            StatusCode::OK,
            kind,
            Bytes::from_static(body.as_bytes()),
        ));
    }
    if !path.starts_with("/api/") {
        return Ok(plain(StatusCode::NOT_FOUND, "not found"));
    }
    let token = req
        .headers()
        .get("x-sluice-token")
        .and_then(|h| h.to_str().ok());
    if !shared.guard.token_ok(token) {
        return Ok(json(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({"error": "the dashboard's token is missing or wrong: open the URL `sluice dashboard` printed"}),
        ));
    }
    let method = req.method().clone();
    let query = req.uri().query().unwrap_or("").to_owned();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(json(
                StatusCode::PAYLOAD_TOO_LARGE,
                &serde_json::json!({"error": "the request is too large"}),
            ));
        }
    };
    let call = crate::api::Call {
        method,
        path,
        query,
        body,
    };
    let s = shared.clone();
    let answer = tokio::task::spawn_blocking(move || crate::api::answer(&s.options, &call)).await;
    Ok(match answer {
        Ok((status, value)) => json(status, &value),
        Err(_) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &serde_json::json!({"error": "the request failed"}),
        ),
    })
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    respond(status, "application/json", Bytes::from(value.to_string()))
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    respond(
        status,
        "text/plain; charset=utf-8",
        Bytes::from_static(text.as_bytes()),
    )
}

/// A response with the headers every answer carries: no caching, no framing, no referrer
/// (the page's URL holds the token), only the dashboard's own scripts and styles.
fn respond(status: StatusCode, kind: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
    );
    r
}
