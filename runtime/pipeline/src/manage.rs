//! Managing a pipeline by name from its working directory: where it loads, dropping
//! resources (tables, schema entries and state, as a new load), aborting packages that can
//! never load, reading its schema.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_load::{Commit, Destination};
use sluice_schema::Schema;

use crate::package::Packages;
use crate::state::{self, LocalState};
use crate::{PipelineError, PipelineSpec, io_err, new_load_id, open_named, restore_schema};

/// Where a pipeline loads, remembered in its working directory by every run so that
/// `sluice pipeline NAME …` works without the pipeline file. Credentials are not kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Remembered {
    pub pipeline: String,
    pub destination: String,
    pub dataset: String,
    pub replace_strategy: Option<String>,
}

const REMEMBERED: &str = "pipeline.json";

/// Write `pipeline.json` for `spec` (a DuckDB path made absolute, a URL without password).
pub(crate) fn remember(workdir: &Path, spec: &PipelineSpec) -> Result<(), PipelineError> {
    let mut destination = spec.destination.clone();
    if let Some(p) = crate::duckdb_path(&destination, &spec.name) {
        let abs = std::path::absolute(&p).unwrap_or_else(|_| p.clone().into());
        destination = format!("duckdb:{}", abs.display());
    } else if let Ok(url) = sluice_load::PgUrl::parse(&destination) {
        destination = url.redacted();
    }
    let r = Remembered {
        pipeline: spec.name.clone(),
        destination,
        dataset: spec.dataset_name(),
        replace_strategy: spec.replace_strategy.clone(),
    };
    std::fs::create_dir_all(workdir).map_err(|e| io_err(workdir, e))?;
    let path = workdir.join(REMEMBERED);
    let text = serde_json::to_vec_pretty(&r).map_err(|e| io_err(&path, e))?;
    crate::package::write_synced(&path, &text)
}

pub(crate) fn recall(pipelines_dir: &Path, name: &str) -> Result<Remembered, PipelineError> {
    let path = pipelines_dir.join(name).join(REMEMBERED);
    let text = std::fs::read(&path).map_err(|_| PipelineError::Config {
        pipeline: name.to_owned(),
        reason: format!(
            "no pipeline `{name}` in `{}` (run it once, or pass --pipelines-dir; on a fresh \
             worker `sluice run PIPELINE.toml` restores schema and state from the destination)",
            pipelines_dir.display()
        ),
    })?;
    serde_json::from_slice(&text).map_err(|e| io_err(&path, e))
}

/// The pipeline's lease on `destination`, without waiting: a command that changes the
/// destination or the local state never runs beside a run of the pipeline.
fn lease_for(
    name: &str,
    destination: &str,
    dataset: &str,
) -> Result<sluice_load::lease::Lease, PipelineError> {
    crate::lease::acquire(
        &crate::lease::Target {
            pipeline: name,
            destination: &crate::destination_config(name, destination)?,
            dataset,
        },
        std::time::Duration::ZERO,
        &crate::Quiet,
    )
}

/// The remembered destination of pipeline `name` and its local state.
fn open_recalled(
    pipelines_dir: &Path,
    name: &str,
) -> Result<(Box<dyn Destination>, LocalState), PipelineError> {
    let r = recall(pipelines_dir, name)?;
    let dest = open_named(
        name,
        &r.destination,
        &r.dataset,
        r.replace_strategy.as_deref(),
    )?;
    Ok((dest, LocalState::load(&pipelines_dir.join(name))?))
}

/// Bring local schema and state up to what the destination committed; returns the schema.
pub(crate) fn sync_local(
    dest: &mut dyn Destination,
    local: &mut LocalState,
    pipeline: &str,
) -> Result<Schema, PipelineError> {
    let where_ = dest.describe();
    let err = |source| PipelineError::Load {
        load_id: "-".into(),
        destination: where_.clone(),
        source,
    };
    // a destination without loads holds no state: local state describing it is stale
    if dest.load_count().map_err(err)? == 0 {
        local.reset();
    }
    let schema = restore_schema(dest, local, pipeline, &where_)?;
    if let Some(stored) = dest.stored_state(pipeline).map_err(err)?
        && let Some(remote) = state::decompress_state(&stored.state)
        && local.restore(stored.version, remote)
    {
        tracing::info!(
            pipeline,
            version = stored.version,
            "state restored from the destination"
        );
    }
    Ok(schema)
}

/// What `drop_resources` removed.
#[derive(Clone, Debug, Serialize)]
pub struct DropSummary {
    pub pipeline: String,
    pub destination: String,
    pub load_id: String,
    pub resources: Vec<String>,
    pub tables: Vec<String>,
}

/// Drop `resources` (all when empty): their tables with nested tables and staging leftovers,
/// their schema entries and their state — as a new load, in one destination transaction.
pub fn drop_resources(
    pipelines_dir: &Path,
    name: &str,
    resources: &[String],
) -> Result<DropSummary, PipelineError> {
    let workdir = pipelines_dir.join(name);
    recall(pipelines_dir, name)?;
    let packages = Packages::open(&workdir)?;
    let pending = packages.pending()?;
    let config = |reason: String| PipelineError::Config {
        pipeline: name.to_owned(),
        reason,
    };
    if !pending.is_empty() {
        return Err(config(format!(
            "{} package(s) are waiting to load; run the pipeline to load them, or \
             `sluice pipeline {name} abort-packages`, before dropping",
            pending.len()
        )));
    }
    let r = recall(pipelines_dir, name)?;
    let _lease = lease_for(name, &r.destination, &r.dataset)?;
    let (mut dest, mut local) = open_recalled(pipelines_dir, name)?;
    let schema = sync_local(&mut *dest, &mut local, name)?;
    let known: Vec<String> = schema
        .data_tables()
        .filter(|t| t.is_root())
        .filter_map(|t| t.resource.clone())
        .collect();
    for res in resources {
        if !known.contains(res) {
            return Err(config(format!(
                "resource `{res}` has no tables in the schema (resources: {})",
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let chosen: Vec<String> = if resources.is_empty() {
        known.clone()
    } else {
        resources.to_vec()
    };
    let mut tables = Vec::new();
    for t in schema.data_tables().filter(|t| t.is_root()) {
        if t.resource.as_ref().is_some_and(|r| chosen.contains(r)) {
            tables.extend(schema.table_chain(&t.name).iter().map(|c| c.name.clone()));
        }
    }
    let mut new_schema = schema.clone();
    for t in &tables {
        new_schema.tables.shift_remove(t);
    }
    new_schema.bump_version();
    let mut new_state = local.state.clone();
    if let Some(sources) = new_state.get_mut("sources").and_then(Value::as_object_mut) {
        for src in sources.values_mut() {
            if let Some(res) = src.get_mut("resources").and_then(Value::as_object_mut) {
                for c in &chosen {
                    res.shift_remove(c);
                }
            }
        }
    }
    let row = local.state_row(&mut new_state, name);
    let load_id = new_load_id();
    let commit = Commit {
        schema: &new_schema,
        roots: &[],
        append_only: &[],
        state: row.as_ref(),
        component: None,
    };
    let where_ = dest.describe();
    dest.drop_tables(&load_id, &tables, &commit)
        .map_err(|source| PipelineError::Load {
            load_id: load_id.clone(),
            destination: where_.clone(),
            source,
        })?;
    local.save(&new_schema, new_state)?;
    Ok(DropSummary {
        pipeline: name.to_owned(),
        destination: where_,
        load_id,
        resources: chosen,
        tables,
    })
}

/// Move every pending package of the pipeline to `aborted/`, and drop what interrupted
/// attempts at them left in the destination's staging; returns their load ids.
pub fn abort_packages(pipelines_dir: &Path, name: &str) -> Result<Vec<String>, PipelineError> {
    let r = recall(pipelines_dir, name)?;
    let _lease = lease_for(name, &r.destination, &r.dataset)?;
    let (mut dest, _) = open_recalled(pipelines_dir, name)?;
    let workdir = pipelines_dir.join(name);
    let last_error = crate::traces::history(&workdir)?
        .last()
        .filter(|t| t["status"] == "failed")
        .and_then(|t| t["error"].as_str().map(str::to_owned));
    let reason = match last_error {
        Some(e) => format!(
            "set aside by `sluice pipeline {name} abort-packages`; the last run failed with: {e}"
        ),
        None => format!("set aside by `sluice pipeline {name} abort-packages`"),
    };
    let ids = Packages::open(&workdir)?.abort_all(&reason)?;
    let where_ = dest.describe();
    for id in &ids {
        dest.discard(id).map_err(|source| PipelineError::Load {
            load_id: id.clone(),
            destination: where_.clone(),
            source,
        })?;
    }
    Ok(ids)
}

/// The pipeline's current schema (the newer of the local and the destination's copy).
pub fn stored_schema(pipelines_dir: &Path, name: &str) -> Result<Schema, PipelineError> {
    let (mut dest, mut local) = open_recalled(pipelines_dir, name)?;
    sync_local(&mut *dest, &mut local, name)
}

/// `sluice pipeline NAME sync`: replace the local schema and state with the destination's
/// newer copies (a fresh worker, or a working directory that was lost). Returns the schema
/// version and state version now held locally.
///
/// On a fresh worker the working directory does not remember the destination: pass it as
/// `target` (`destination`, `dataset`), and it is remembered from then on.
pub fn sync(
    pipelines_dir: &Path,
    name: &str,
    target: Option<(&str, &str)>,
) -> Result<(u64, i64), PipelineError> {
    let workdir = pipelines_dir.join(name);
    let remembered = match target {
        Some((destination, dataset)) => (destination.to_owned(), dataset.to_owned()),
        None => {
            let r = recall(pipelines_dir, name)?;
            (r.destination, r.dataset)
        }
    };
    // not while a run of the pipeline changes the destination
    let _lease = lease_for(name, &remembered.0, &remembered.1)?;
    let (mut dest, mut local) = match target {
        Some((destination, dataset)) => {
            let dest = open_named(name, destination, dataset, None)?;
            let mut destination = destination.to_owned();
            if let Ok(url) = sluice_load::PgUrl::parse(&destination) {
                destination = url.redacted();
            }
            let r = Remembered {
                pipeline: name.to_owned(),
                destination,
                dataset: dataset.to_owned(),
                replace_strategy: None,
            };
            std::fs::create_dir_all(&workdir).map_err(|e| io_err(&workdir, e))?;
            let path = workdir.join(REMEMBERED);
            let text = serde_json::to_vec_pretty(&r).map_err(|e| io_err(&path, e))?;
            crate::package::write_synced(&path, &text)?;
            (dest, LocalState::load(&workdir)?)
        }
        None => open_recalled(pipelines_dir, name)?,
    };
    let schema = sync_local(&mut *dest, &mut local, name)?;
    let state = local.state.clone();
    local.save(&schema, state)?;
    let version = local
        .state
        .get("_state_version")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    Ok((schema.version, version))
}

/// What `sluice connector inspect` shows: what a component is and what it asks for.
#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    pub name: String,
    pub version: String,
    pub description: Option<String>,
    pub digest: String,
    pub size_bytes: usize,
    /// the interfaces the component imports (capabilities it can ask the host for)
    pub imports: Vec<String>,
    /// the version of `sluice:connector` it was built against (`0.2.0`)
    pub contract: String,
    pub config_schema: Value,
    pub resources: Vec<Value>,
    /// why the connector refused to describe itself for the given config (the rest of the
    /// inspection — digest, imports, cold start — stands without it)
    pub spec_error: Option<String>,
    /// compiling the component (0 when it was already in the cache)
    pub compile_ms: f64,
    /// loading the precompiled component from the cache
    pub load_ms: f64,
    /// instantiating it in a fresh sandbox
    pub instantiate_ms: f64,
}

/// Load a component, time its cold start and describe it for `config` (JSON).
pub async fn inspect(
    name: &str,
    bytes: &[u8],
    cache_dir: &Path,
    config: &str,
) -> Result<Inspection, PipelineError> {
    use std::time::Instant;
    let host = sluice_host::Host::new(cache_dir)?;
    let t = Instant::now();
    let first = host.load(name, bytes)?;
    let compile_ms = if first.from_cache {
        0.0
    } else {
        t.elapsed().as_secs_f64() * 1e3
    };
    drop(first);
    let t = Instant::now();
    let connector = host.load(name, bytes)?;
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let mut inst = connector
        .instantiate(sluice_host::Sandbox::default())
        .await?;
    let instantiate_ms = t.elapsed().as_secs_f64() * 1e3;
    let spec = match inst.spec(config).await {
        Ok(spec) => spec,
        Err(e) => {
            return Ok(Inspection {
                name: name.to_owned(),
                version: String::new(),
                description: None,
                digest: connector.digest.clone(),
                size_bytes: bytes.len(),
                imports: connector.imports.clone(),
                contract: connector.contract.version().to_owned(),
                config_schema: Value::Null,
                resources: Vec::new(),
                spec_error: Some(e.to_string()),
                compile_ms,
                load_ms,
                instantiate_ms,
            });
        }
    };
    let resources = spec
        .resources
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "table": r.table_name.clone().unwrap_or_else(|| r.name.clone()),
                "write_disposition": crate::disposition_name(r.write_disposition),
                "primary_key": r.primary_key,
                "merge_key": r.merge_key,
                "incremental": r.incremental.as_ref().map(|i| i.cursor_path.clone()),
                "parent": r.parent,
                "selected": r.selected,
                "description": r.description,
            })
        })
        .collect();
    Ok(Inspection {
        name: spec.name,
        version: spec.version,
        description: spec.description,
        digest: connector.digest.clone(),
        size_bytes: bytes.len(),
        imports: connector.imports.clone(),
        contract: connector.contract.version().to_owned(),
        config_schema: serde_json::from_str(&spec.config_schema).unwrap_or(Value::Null),
        resources,
        spec_error: None,
        compile_ms,
        load_ms,
        instantiate_ms,
    })
}
