//! Test component that brings its own HTTP client on standard `wasi:http/outgoing-handler`,
//! as JS `fetch` or Python wasi-http clients do. Config `{"authority": "127.0.0.1:8080",
//! "path": "/items", "scheme": "http", "method": "GET", "headers": [["x-a", "1"]]}`; the
//! response body (a JSON array) is the one page. A header the host forbids fails when the
//! request is built, with the reason.

use sluice_sdk::serde_json::Value;
use sluice_sdk::{
    Error, ErrorKind, Open, Page, Pages, Resource, ResourceSpec, Source, SourceSpec, error,
};
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, Method, OutgoingRequest, Scheme};
use wasi::io::streams::StreamError;

struct Probe;

fn get(
    scheme: &str,
    authority: &str,
    path: &str,
    method: &str,
    headers: &[(String, String)],
) -> Result<(u16, Vec<u8>), String> {
    let list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    let fields = Fields::from_list(&list).map_err(|e| format!("header refused: {e:?}"))?;
    let req = OutgoingRequest::new(fields);
    let method = match method {
        "GET" => Method::Get,
        "TRACE" => Method::Trace,
        "CONNECT" => Method::Connect,
        "POST" => Method::Post,
        other => Method::Other(other.to_owned()),
    };
    req.set_method(&method).map_err(|_| "method")?;
    let scheme = if scheme == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    req.set_scheme(Some(&scheme)).map_err(|_| "scheme")?;
    req.set_authority(Some(authority))
        .map_err(|_| "authority")?;
    req.set_path_with_query(Some(path)).map_err(|_| "path")?;
    let pending = outgoing_handler::handle(req, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let resp = pending
        .get()
        .ok_or("no response")?
        .map_err(|_| "response taken twice")?
        .map_err(|e| format!("{e:?}"))?;
    let status = resp.status();
    let body = resp.consume().map_err(|_| "body taken")?;
    let stream = body.stream().map_err(|_| "stream taken")?;
    let mut buf = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => buf.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(e) => return Err(format!("{e:?}")),
        }
    }
    drop(stream);
    Ok((status, buf))
}

impl Source for Probe {
    fn spec(_config: &Value) -> Result<SourceSpec, Error> {
        Ok(SourceSpec::new("wasi_http_probe", "0.1.0").resource(ResourceSpec::new("items")))
    }

    fn open(open: Open) -> Result<Box<dyn Resource>, Error> {
        let c = &open.config;
        let s = |k: &str, d: &'static str| c.get(k).and_then(Value::as_str).unwrap_or(d).to_owned();
        let headers: Vec<(String, String)> = c
            .get("headers")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|h| Some((h[0].as_str()?.to_owned(), h[1].as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let (status, body) = get(
            &s("scheme", "http"),
            &s("authority", "example.com"),
            &s("path", "/"),
            &s("method", "GET"),
            &headers,
        )
        .map_err(|e| {
            error(
                ErrorKind::External,
                format!("wasi:http request failed: {e}"),
            )
        })?;
        if status != 200 {
            return Err(error(ErrorKind::External, format!("status {status}")));
        }
        Ok(Box::new(Pages::from(vec![Page {
            records: body,
            format: sluice_sdk::RecordsFormat::JsonArray,
            checkpoint: None,
        }])))
    }
}

sluice_sdk::export!(Probe);
