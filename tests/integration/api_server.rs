//! A small HTTP/1.1 API server on 127.0.0.1 for the REST tests: a handler answers each
//! request, and every request is recorded (method, path, decoded query, headers, body) so
//! tests can assert what the connector sent. Connections are kept alive (HTTP/1.1, one
//! request after another, each connection on its own thread) and counted, so tests can see
//! that a client reuses them.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// header names lowercased
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ApiRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// `path?query` as sent, for messages.
    pub fn target(&self) -> String {
        if self.query.is_empty() {
            return self.path.clone();
        }
        let q: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}?{}", self.path, q.join("&"))
    }
}

/// What the handler answers.
#[derive(Clone, Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ApiResponse {
    pub fn json(v: &Value) -> ApiResponse {
        ApiResponse::raw(200, v.to_string())
    }

    pub fn raw(status: u16, body: impl Into<Vec<u8>>) -> ApiResponse {
        ApiResponse {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> ApiResponse {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

type Handler = dyn Fn(&ApiRequest) -> ApiResponse + Send + Sync;

pub struct ApiServer {
    pub port: u16,
    requests: Arc<Mutex<Vec<ApiRequest>>>,
    connections: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

fn read_request(conn: &mut std::net::TcpStream) -> Option<ApiRequest> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    let head_end = loop {
        let n = conn.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let want = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = raw[head_end + 4..].to_vec();
    while body.len() < want {
        let n = conn.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Some(ApiRequest {
        method,
        path: path.to_owned(),
        query: url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        headers,
        body,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Answer the requests of one connection, one after another, until the client closes it or
/// asks to (`connection: close`).
fn serve(mut conn: std::net::TcpStream, handler: &Handler, reqs: &Mutex<Vec<ApiRequest>>) {
    let _ = conn.set_nonblocking(false);
    while let Some(req) = read_request(&mut conn) {
        if let Ok(mut r) = reqs.lock() {
            r.push(req.clone());
        }
        let resp = handler(&req);
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let mut head = format!(
            "HTTP/1.1 {} {}\r\ncontent-length: {}\r\nconnection: {}\r\n",
            resp.status,
            reason(resp.status),
            resp.body.len(),
            if close { "close" } else { "keep-alive" }
        );
        if !resp
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            head.push_str("content-type: application/json\r\n");
        }
        for (k, v) in &resp.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        // a HEAD answer has the length of the body it does not send
        let body: &[u8] = if req.method == "HEAD" {
            &[]
        } else {
            &resp.body
        };
        if conn.write_all(head.as_bytes()).is_err() || conn.write_all(body).is_err() {
            return;
        }
        if close {
            return;
        }
    }
}

impl ApiServer {
    pub fn start(
        handler: impl Fn(&ApiRequest) -> ApiResponse + Send + Sync + 'static,
    ) -> ApiServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let connections = Arc::new(AtomicU64::new(0));
        let (reqs, s, conns) = (requests.clone(), stop.clone(), connections.clone());
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
            while !s.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                match listener.accept() {
                    Ok((conn, _)) => {
                        conns.fetch_add(1, Ordering::Relaxed);
                        let (handler, reqs) = (handler.clone(), reqs.clone());
                        std::thread::spawn(move || serve(conn, &*handler, &reqs));
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(2)),
                }
            }
        });
        ApiServer {
            port,
            requests,
            connections,
            stop,
        }
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<ApiRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The requests to `path`.
    pub fn to(&self, path: &str) -> Vec<ApiRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A server replaying recorded responses listed in `dir/<index>` (one file per recording
/// session, e.g. `run-1.json`, `run-2.json` for what the API answered on two days):
/// `[{"request": "GET /path?param=value", "status": 200, "headers": {…}, "body": "file.json"}]`.
/// A recording matches when method and path are equal and every parameter it lists has that
/// value (parameters it does not list are not compared); the first match answers; an entry
/// with `"times": N` answers only its first N matches (a 429 the API gave once). `{base}`
/// in headers and bodies becomes this server's URL, so recorded links point back here. An
/// unmatched request gets a 404 naming it.
pub fn replay(dir: &std::path::Path, index: &str) -> ApiServer {
    let index: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.join(index)).expect("recorded index"))
            .expect("the index is JSON");
    let mut entries = Vec::new();
    for e in index {
        let request = e["request"].as_str().expect("request").to_owned();
        let (method, target) = request.split_once(' ').expect("METHOD /path");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let body = match e["body"].as_str() {
            Some(file) => std::fs::read_to_string(dir.join(file)).expect("recorded body"),
            None => String::new(),
        };
        let headers: Vec<(String, String)> = e["headers"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        entries.push((
            method.to_owned(),
            path.to_owned(),
            params,
            e["status"].as_u64().unwrap_or(200) as u16,
            headers,
            body,
            (e["times"].as_u64(), AtomicU64::new(0)),
        ));
    }
    let base = Arc::new(Mutex::new(String::new()));
    let b = base.clone();
    let server = ApiServer::start(move |req| {
        let base = b.lock().map(|b| b.clone()).unwrap_or_default();
        for (method, path, params, status, headers, body, (times, used)) in &entries {
            if *method == req.method
                && *path == req.path
                && params.iter().all(|(k, v)| req.param(k) == Some(v))
                && times.is_none_or(|t| used.fetch_add(1, Ordering::SeqCst) < t)
            {
                let mut resp = ApiResponse::raw(*status, body.replace("{base}", &base));
                for (k, v) in headers {
                    resp = resp.header(k, &v.replace("{base}", &base));
                }
                return resp;
            }
        }
        ApiResponse::raw(
            404,
            format!(
                r#"{{"message": "no recording for {} {}"}}"#,
                req.method,
                req.target()
            ),
        )
    });
    if let Ok(mut b) = base.lock() {
        *b = server.url();
    }
    server
}
