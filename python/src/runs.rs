//! Runs started from Python: records or Arrow handed over in-process
//! ([`sluice_pipeline::run_in_process`]), or a pipeline file with its wasm connector. The
//! engine works with the GIL released; a records feed takes it only to pull its next page.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use sluice_host::declared::{check_name, plain_resource};
use sluice_host::{ColumnHint, Page, ResourceSpec, SourceSpec};
use sluice_pipeline::{
    InProcessOptions, PageFeed, PipelineSpec, RunOptions, RunSummary, run_in_process,
};

use crate::arrow_in::ArrowFeed;
use crate::errors::{ConfigurationError, run_error};
use crate::pylog::{PyLog, emit};
use crate::records::{NestedColumns, RecordsFeed};

/// What a Python run hands over.
enum Feed {
    Records(RecordsFeed),
    Arrow(ArrowFeed),
}

impl PageFeed for Feed {
    fn next_page(&mut self) -> Result<Option<Page>, String> {
        match self {
            Feed::Records(r) => r.next(),
            Feed::Arrow(a) => a.next(),
        }
    }
}

/// Run `data` (records, or an object with `__arrow_c_stream__` when `arrow`) into the
/// pipeline `spec_json` describes (name, destination, dataset, `resources.<table>` overrides,
/// contract), resource `table`. Returns the run's summary as JSON.
#[pyfunction]
#[pyo3(signature = (spec_json, pipelines_dir, table, data, arrow, schema_contract=None))]
pub fn run_data(
    py: Python<'_>,
    spec_json: &str,
    pipelines_dir: PathBuf,
    table: &str,
    data: &Bound<'_, PyAny>,
    arrow: bool,
    schema_contract: Option<&str>,
) -> PyResult<String> {
    let mut spec = parse_spec(spec_json)?;
    let contract = schema_contract.map(parse_contract).transpose()?;
    let mut feed = if arrow {
        Feed::Arrow(ArrowFeed::new(data)?)
    } else {
        Feed::Records(RecordsFeed::new(data)?)
    };
    if let Feed::Records(r) = &feed {
        add_nested_hints(&mut spec, table, &r.nested);
    }
    let name = spec.name.clone();
    let hints = match &feed {
        Feed::Records(r) => r.hints.as_slice(),
        Feed::Arrow(_) => &[],
    };
    let opts = InProcessOptions {
        source: source_of(&spec.name, table, hints),
        spec,
        pipelines_dir,
        made_by: "python".into(),
        schema_contract: contract,
    };
    let result = detached(py, || run_in_process(opts, &mut feed, Arc::new(PyLog)));
    if let Feed::Records(RecordsFeed { error: Some(e), .. })
    | Feed::Arrow(ArrowFeed { error: Some(e), .. }) = &mut feed
    {
        // the iterator's own exception, or the signal's, as it was raised
        return Err(e.clone_ref(py));
    }
    summary_json(&name, result)
}

/// Run the pipeline file `path` with its connector; `sets` are `KEY=VALUE` overrides as
/// `--set` takes them. Returns the run's summary as JSON.
#[pyfunction]
#[pyo3(signature = (path, sets, pipelines_dir=None, schema_contract=None))]
pub fn run_file(
    py: Python<'_>,
    path: PathBuf,
    sets: Vec<String>,
    pipelines_dir: Option<PathBuf>,
    schema_contract: Option<&str>,
) -> PyResult<String> {
    let spec = PipelineSpec::from_file(&path, &sets)
        .map_err(|e| run_error(&path.display().to_string(), &e))?;
    let name = spec.name.clone();
    let contract = schema_contract.map(parse_contract).transpose()?;
    let data = sluice_cli::data_dir();
    let resolved = sluice_cli::component::resolve(&spec, &data)
        .map_err(|e| ConfigurationError::new_err(format!("pipeline `{name}` failed: {e:#}")))?;
    // what the CLI prints before the run (grants beyond a registry component's manifest)
    for w in &resolved.warnings {
        emit("warn", w);
    }
    let opts = RunOptions {
        spec,
        pipelines_dir: pipelines_dir.unwrap_or_else(|| data.join("pipelines")),
        component: (resolved.name, resolved.bytes),
        cache_dir: data.join("cache").join("components"),
        schema_contract: contract,
    };
    let result = detached(py, || sluice_pipeline::run(opts, Arc::new(PyLog)));
    summary_json(&name, result)
}

/// Set aside the pending packages of pipeline `name` that can never load (as
/// `sluice pipeline NAME abort-packages`); returns their load ids.
#[pyfunction]
pub fn drop_pending_packages(
    py: Python<'_>,
    pipelines_dir: PathBuf,
    name: &str,
) -> PyResult<Vec<String>> {
    py.detach(|| sluice_pipeline::abort_packages(&pipelines_dir, name))
        .map_err(|e| run_error(name, &e))
}

/// Why a run did not give a summary.
enum Failure {
    Runtime(std::io::Error),
    Run(sluice_pipeline::PipelineError),
}

/// Run the future `make` gives on a runtime of its own, with the GIL released.
fn detached<F>(py: Python<'_>, make: impl FnOnce() -> F + Send) -> Result<RunSummary, Failure>
where
    F: std::future::Future<Output = Result<RunSummary, sluice_pipeline::PipelineError>>,
{
    py.detach(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(Failure::Runtime)?;
        runtime.block_on(make()).map_err(Failure::Run)
    })
}

fn summary_json(name: &str, result: Result<RunSummary, Failure>) -> PyResult<String> {
    match result {
        Ok(summary) => serde_json::to_string(&summary)
            .map_err(|e| PyValueError::new_err(format!("the run's summary: {e}"))),
        Err(Failure::Run(e)) => Err(run_error(name, &e)),
        Err(Failure::Runtime(e)) => Err(crate::errors::SluiceError::new_err(format!(
            "pipeline `{name}` failed: starting the async runtime: {e}"
        ))),
    }
}

fn parse_spec(spec_json: &str) -> PyResult<PipelineSpec> {
    let mut value: serde_json::Value = serde_json::from_str(spec_json)
        .map_err(|e| ConfigurationError::new_err(format!("the pipeline's settings: {e}")))?;
    if value.get("connector").is_none() {
        value["connector"] = serde_json::json!({});
    }
    serde_json::from_value(value)
        .map_err(|e| ConfigurationError::new_err(format!("the pipeline's settings: {e}")))
}

fn parse_contract(text: &str) -> PyResult<sluice_schema::SchemaContract> {
    let value =
        serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()));
    sluice_schema::SchemaContract::from_json(&value)
        .map_err(|e| ConfigurationError::new_err(format!("schema_contract: {e}")))
}

/// The records' nested tables' hints, as `[[resources.<table>.nested]]` (dlt's
/// `nested_hints`), for the tables `max_table_nesting` lets exist (every key on the path
/// counts a level, nested dicts' too). A key no declaration may name keeps no hint, as at
/// the root.
fn add_nested_hints(spec: &mut PipelineSpec, table: &str, nested: &[NestedColumns]) {
    let resource = spec.resources.entry(table.to_owned()).or_default();
    let deepest = resource
        .max_table_nesting
        .map_or(usize::MAX, |n| n as usize);
    for (path, columns) in nested {
        let depth: usize = path.iter().map(|p| p.split("__").count()).sum();
        if depth > deepest || path.iter().any(|p| check_name("table", p).is_err()) {
            continue;
        }
        let columns = columns
            .iter()
            .filter(|(name, _)| check_name("column", name).is_ok())
            .map(|(name, data_type)| sluice_schema::ColumnHint {
                name: name.clone(),
                data_type: data_type.and_then(sluice_schema::DataType::parse),
                ..Default::default()
            })
            .collect();
        resource.nested.push(sluice_normalize::NestedHints {
            path: path.clone(),
            columns,
        });
    }
}

/// What the in-process source declares: one resource, named after its table, with the
/// records' column hints; the schema is named after the pipeline, as dlt names the schema of
/// `pipeline.run(data)`. The caller's `columns=` hints apply over these.
fn source_of(pipeline: &str, table: &str, hints: &[(String, Option<&str>)]) -> SourceSpec {
    SourceSpec {
        name: pipeline.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        description: None,
        config_schema: "{}".to_owned(),
        resources: vec![ResourceSpec {
            // a key no declaration may name (a path separator, edge spaces) keeps no hint: its
            // column is typed from its values as dlt's would be
            columns: hints
                .iter()
                .filter(|(name, _)| check_name("column", name).is_ok())
                .map(|(name, data_type)| ColumnHint {
                    name: name.clone(),
                    data_type: data_type.map(str::to_owned),
                    nullable: None,
                    primary_key: false,
                    merge_key: false,
                    unique: false,
                    dedup_sort: None,
                    hard_delete: false,
                    precision: None,
                    scale: None,
                    timezone: None,
                })
                .collect(),
            ..plain_resource(table)
        }],
    }
}
