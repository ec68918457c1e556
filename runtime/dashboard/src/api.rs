//! The dashboard's API: JSON answers to `GET /api/…` (and `POST /api/pipelines/NAME/query`),
//! each read on its own short-lived session. Errors are `{"error": "…"}` with a status that
//! says whose they are: 404 unknown, 400 refused query, 409 busy, 502 destination down.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use sluice_dataset::{Dataset, DatasetError, batches_to_json};

use crate::Options;

/// Rows a preview page or a query answer holds at most.
const MAX_ROWS: u64 = 500;

/// One API request.
pub(crate) struct Call {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub body: bytes::Bytes,
}

type Answer = (StatusCode, Value);

/// The answer to `call`.
pub(crate) fn answer(options: &Options, call: &Call) -> Answer {
    let parts: Vec<&str> = call.path.trim_start_matches("/api/").split('/').collect();
    let decoded: Vec<String> = parts
        .iter()
        .map(|p| {
            url::form_urlencoded::parse(format!("x={}", p.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect();
    let parts: Vec<&str> = decoded.iter().map(String::as_str).collect();
    match (call.method.clone(), parts.as_slice()) {
        (Method::GET, ["pipelines"]) => ok(pipelines(options)),
        (method, ["pipelines", name, rest @ ..]) => {
            if !shown(options).iter().any(|p| p == name) {
                return fail(StatusCode::NOT_FOUND, format!("no pipeline `{name}` here"));
            }
            pipeline(options, &method, name, rest, call)
        }
        _ => fail(StatusCode::NOT_FOUND, format!("no API `{}`", call.path)),
    }
}

/// The pipelines this dashboard shows.
fn shown(options: &Options) -> Vec<String> {
    let all = sluice_pipeline::pipeline_names(&options.pipelines_dir);
    if options.pipelines.is_empty() {
        return all;
    }
    all.into_iter()
        .filter(|p| options.pipelines.contains(p))
        .collect()
}

/// Every pipeline with where it loads, its last run and its waiting packages.
fn pipelines(options: &Options) -> Value {
    let list: Vec<Value> = shown(options)
        .iter()
        .filter_map(|name| sluice_pipeline::local_info(&options.pipelines_dir, name).ok())
        .map(|info| {
            let last = info.last_run.as_ref();
            json!({
                "name": info.pipeline,
                "destination": info.destination,
                "dataset": info.dataset,
                "runs": info.runs,
                "pending": info.pending.len(),
                "aborted": info.aborted.len(),
                "last_run": last.map(|t| json!({
                    "status": t["status"],
                    "started_at": t["started_at"],
                    "finished_at": t["finished_at"],
                    "duration_ms": duration_ms(t),
                    "rows": rows_of(t),
                    "error": t["error"],
                })),
            })
        })
        .collect();
    json!({ "pipelines_dir": options.pipelines_dir, "pipelines": list })
}

/// How long a run took: its summary's figure, or for a failed run start to end.
fn duration_ms(trace: &Value) -> Value {
    if let Some(ms) = trace["summary"]["duration_ms"].as_u64() {
        return ms.into();
    }
    let at = |k: &str| {
        trace[k]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    match (at("started_at"), at("finished_at")) {
        (Some(a), Some(b)) => (b - a).num_milliseconds().max(0).into(),
        _ => Value::Null,
    }
}

/// Rows a run record says it loaded.
fn rows_of(trace: &Value) -> u64 {
    trace["summary"]["tables"]
        .as_object()
        .map_or(0, |t| t.values().filter_map(Value::as_u64).sum())
}

fn pipeline(options: &Options, method: &Method, name: &str, rest: &[&str], call: &Call) -> Answer {
    let dir = &options.pipelines_dir;
    let local = match sluice_pipeline::local_info(dir, name) {
        Ok(l) => l,
        Err(e) => return fail(StatusCode::NOT_FOUND, e.to_string()),
    };
    let ds = || Dataset::open(dir, name);
    match (method, rest) {
        (&Method::GET, ["runs"]) => {
            let history = sluice_pipeline::traces::history(&local.workdir).unwrap_or_default();
            ok(json!({"runs": history.iter().map(|t| json!({
                "started_at": t["started_at"],
                "finished_at": t["finished_at"],
                "status": t["status"],
                "error": t["error"],
                "duration_ms": duration_ms(t),
                "rows": rows_of(t),
                "load_ids": t["summary"]["load_ids"],
                "tables": t["summary"]["tables"],
            })).collect::<Vec<_>>()}))
        }
        (&Method::GET, ["trace"]) => ok(json!({"trace": local.last_run})),
        (&Method::GET, ["connector"]) => {
            // the newest run that got as far as its plan: what ran, with what grants
            let history = sluice_pipeline::traces::history(&local.workdir).unwrap_or_default();
            let planned = history.into_iter().rev().find(|t| !t["plan"].is_null());
            ok(json!({"run": planned}))
        }
        (&Method::GET, ["packages"]) => {
            ok(json!({"pending": local.pending, "aborted": local.aborted}))
        }
        (&Method::GET, ["overview"]) => ok(json!({
            "pipeline": local.pipeline,
            "workdir": local.workdir,
            "destination": local.destination,
            "dataset": local.dataset,
            "runs": local.runs,
            "pending": local.pending.len(),
            "aborted": local.aborted.len(),
        })),
        (&Method::GET, ["loads"]) => read(|| Ok(json!({"loads": ds()?.loads()?}))),
        (&Method::GET, ["schema"]) => read(|| {
            let ds = ds()?;
            Ok(json!({"versions": ds.schema_versions()?, "tables": ds.tables()?}))
        }),
        (&Method::GET, ["state"]) => read(|| Ok(json!({"state": ds()?.state()?}))),
        (&Method::GET, ["tables"]) => read(|| Ok(json!({"tables": ds()?.tables()?}))),
        (&Method::GET, ["tables", table]) => {
            let offset = param(&call.query, "offset").unwrap_or(0);
            let limit = param(&call.query, "limit").unwrap_or(50).clamp(1, MAX_ROWS);
            read(|| {
                // one row past the page says whether there is a next one
                let batches = ds()?.read_table(table, offset, Some(limit + 1))?;
                page(
                    batches,
                    limit,
                    json!({"table": table, "offset": offset, "limit": limit}),
                )
            })
        }
        (&Method::POST, ["query"]) => {
            let sql = serde_json::from_slice::<Value>(&call.body)
                .ok()
                .and_then(|v| v["sql"].as_str().map(str::to_owned));
            let Some(sql) = sql else {
                return fail(StatusCode::BAD_REQUEST, "send {\"sql\": \"…\"}".into());
            };
            read(|| page(ds()?.query(&sql)?, MAX_ROWS, json!({"sql": sql})))
        }
        _ => fail(StatusCode::NOT_FOUND, format!("no API `{}`", call.path)),
    }
}

/// Up to `limit` rows of `batches` with their columns, into `out`; `more` says whether the
/// read had rows beyond them.
fn page(
    batches: sluice_dataset::Batches,
    limit: u64,
    mut out: Value,
) -> sluice_dataset::Result<Value> {
    let (schema, rows, more) =
        batches.collect_rows(usize::try_from(limit).unwrap_or(usize::MAX))?;
    out["columns"] = schema
        .fields()
        .iter()
        .map(|f| json!({"name": f.name(), "type": f.data_type().to_string()}))
        .collect();
    out["rows"] = Value::Array(
        batches_to_json(&rows)?
            .into_iter()
            .map(Value::Object)
            .collect(),
    );
    out["more"] = Value::Bool(more);
    Ok(out)
}

/// A read's answer, its error mapped to a status.
fn read(f: impl FnOnce() -> sluice_dataset::Result<Value>) -> Answer {
    match f() {
        Ok(v) => ok(v),
        Err(e) => {
            let status = match &e {
                DatasetError::Busy { .. } => StatusCode::CONFLICT,
                DatasetError::NotFound(_) => StatusCode::NOT_FOUND,
                DatasetError::ReadOnly(_) | DatasetError::Query(_) => StatusCode::BAD_REQUEST,
                DatasetError::Unavailable { .. } => StatusCode::BAD_GATEWAY,
            };
            fail(status, e.to_string())
        }
    }
}

fn param(query: &str, key: &str) -> Option<u64> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
}

fn ok(v: Value) -> Answer {
    (StatusCode::OK, v)
}

fn fail(status: StatusCode, error: String) -> Answer {
    (status, json!({ "error": error }))
}
