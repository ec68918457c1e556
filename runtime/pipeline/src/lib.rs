//! A pipeline run: plan → extract (connector pages to a package on disk) → normalize → load
//! (one destination transaction per package), resuming pending packages first.
//!
//! Invariant: a package directory becomes visible under `packages/` only once its extraction
//! finished (atomic rename), and leaves it only after its destination transaction committed;
//! a pending package is always loaded before new data is extracted, so every row lands
//! exactly once.

// Errors carry the host's and DuckDB's errors with their context; they are returned once per
// run, so their size does not matter.
#![allow(clippy::result_large_err)]

mod contracts;
mod extract;
mod grants;
mod incremental;
mod lease;
mod live;
mod load;
mod manage;
mod package;
mod plan;
mod sink;
mod spec;
mod state;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use sluice_host::{Host, HostError, Policy, Sandbox, SourceSpec, WriteDisposition};
use sluice_load::{Destination, DestinationConfig, LoadError};
use sluice_normalize::{ColumnHint, NormalizeError, ResourceTable, Scd2Options};
use sluice_schema::{Schema, SchemaUpdate};

pub use contracts::schema_change_message;
pub use incremental::{IncrementalSpec, LastValueFunc, OnCursorMissing};
pub use manage::{
    DropSummary, Inspection, Remembered, abort_packages, drop_resources, inspect, stored_schema,
    sync,
};
pub use package::{PackageManifest, PageEntry};
pub use plan::{Plan, PlannedSecret, plan};
pub use spec::{
    ConnectorSpec, Grants, Limits, Notifications, PipelineSpec, ResourceOverride, SchemaOptions,
    SecretSpec, apply_set, toml_to_json,
};

/// Errors of a run; each names the stage and the place.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("pipeline file `{path}`: {reason}")]
    Spec { path: String, reason: String },
    #[error("pipeline `{pipeline}`: {reason}")]
    Config { pipeline: String, reason: String },
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(
        "normalize: resource `{resource}` page {page}: {source}. Nothing of package `{load_id}` was loaded; it stays pending: change the data contract (or the data) and run again, or set it aside with `sluice pipeline {pipeline} abort-packages`"
    )]
    Normalize {
        pipeline: String,
        load_id: String,
        resource: String,
        /// the resource's page in the package, counting from 1
        page: u64,
        #[source]
        source: NormalizeError,
    },
    #[error("load package `{load_id}` into `{destination}`: {source}")]
    Load {
        load_id: String,
        destination: String,
        #[source]
        source: LoadError,
    },
    #[error("connector `{connector}` resource `{resource}` page {page}: {reason}")]
    Page {
        connector: String,
        resource: String,
        /// the resource's page in this extraction, counting from 1
        page: u64,
        reason: String,
    },
    #[error("working directory `{path}`: {reason}")]
    Io { path: String, reason: String },
    #[error(
        "package `{load_id}` was extracted from the pipeline's state of load {} but another worker has committed newer state (load {}) since: its rows are covered by that run's extraction, so it is set aside, never loaded",
        extracted_from.as_deref().unwrap_or("none"),
        newest.as_deref().unwrap_or("none")
    )]
    Overtaken {
        load_id: String,
        extracted_from: Option<String>,
        newest: Option<String>,
    },
    #[error(
        "pipeline `{pipeline}` is already running on {destination} ({holder}); this worker waited {waited_secs} s (limits.lease_wait_secs) and stops without loading anything. Let that run finish, or raise limits.lease_wait_secs to wait for it; a worker that dies releases the destination with its process"
    )]
    Busy {
        pipeline: String,
        destination: String,
        /// who holds the lease: host, pid, start time
        holder: String,
        waited_secs: u64,
    },
}

pub(crate) fn io_err(path: &Path, e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// What a run reports while it works.
pub trait Progress: Send + Sync {
    /// A stage started (`extract`, `normalize`, `load`).
    fn stage(&self, _stage: &str, _detail: &str) {}
    /// A page of `resource` was written to the package.
    fn page(&self, _resource: &str, _pages: u64, _bytes: u64) {}
    /// Rows normalized so far in the current package.
    fn rows(&self, _rows: u64) {}
    /// A log line of the connector.
    fn log(&self, _level: &str, _message: &str) {}
}

/// A progress sink that shows nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// Where and with what a run happens.
pub struct RunOptions {
    pub spec: PipelineSpec,
    /// `<pipelines_dir>/<name>/` holds packages, schemas and local state
    pub pipelines_dir: PathBuf,
    /// component name and bytes
    pub component: (String, Vec<u8>),
    /// compiled-component cache
    pub cache_dir: PathBuf,
    /// the run's data contract: overrides every resource's and the source's
    pub schema_contract: Option<sluice_schema::SchemaContract>,
}

/// What a run did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunSummary {
    pub pipeline: String,
    pub dataset: String,
    pub destination: String,
    pub connector: String,
    pub connector_version: String,
    pub component_digest: String,
    pub load_ids: Vec<String>,
    /// table → rows loaded by this run
    pub tables: IndexMap<String, u64>,
    pub schema_update: SchemaUpdate,
    pub schema_version: u64,
    pub pending_packages_loaded: usize,
    /// pending packages set aside because another worker committed newer state since they
    /// were extracted: `<pipelines_dir>/<pipeline>/aborted/<load_id>/REASON.txt` says why
    pub packages_set_aside: Vec<String>,
    pub duration_ms: u128,
    pub stage_ms: IndexMap<String, u128>,
    pub http_requests: u64,
    /// HTTP requests, retries, response bytes and denied requests per root resource
    pub http: IndexMap<String, sluice_host::HttpMetrics>,
    /// rows and values data contracts discarded, per table
    pub discarded: IndexMap<String, sluice_normalize::Discards>,
    /// rows where two keys normalized to the same name (the later value kept), per table
    pub key_collisions: IndexMap<String, sluice_normalize::Collisions>,
    /// the schema file imported by this run (it changed since the last import)
    pub schema_imported: Option<String>,
    /// outcome of schema-change notifications
    pub notifications: Vec<String>,
    /// pages normalized on the fast path and on the general path (with the reasons)
    pub normalize_paths: sluice_normalize::PathStats,
}

/// The DuckDB file a destination string names.
pub fn duckdb_path(destination: &str, pipeline: &str) -> Option<String> {
    DestinationConfig::parse(destination, pipeline)
        .ok()?
        .duckdb_file()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Open the destination a pipeline names: `duckdb`, `duckdb:PATH`, `postgres://…`,
/// `file:///dir[?format=parquet|jsonl]`.
pub fn open_destination(spec: &PipelineSpec) -> Result<Box<dyn Destination>, PipelineError> {
    open_named(
        &spec.name,
        &spec.destination,
        &spec.dataset_name(),
        spec.replace_strategy.as_deref(),
    )
}

/// The destination `dest` parsed for `pipeline`, errors naming the pipeline.
pub(crate) fn destination_config(
    pipeline: &str,
    dest: &str,
) -> Result<DestinationConfig, PipelineError> {
    DestinationConfig::parse(dest, pipeline).map_err(|reason| PipelineError::Config {
        pipeline: pipeline.to_owned(),
        reason,
    })
}

fn open_named(
    pipeline: &str,
    dest: &str,
    dataset: &str,
    replace_strategy: Option<&str>,
) -> Result<Box<dyn Destination>, PipelineError> {
    let replace = match replace_strategy {
        None => sluice_load::ReplaceStrategy::default(),
        Some(s) => sluice_load::ReplaceStrategy::parse(s).ok_or_else(|| PipelineError::Config {
            pipeline: pipeline.to_owned(),
            reason: format!(
                "replace_strategy `{s}` is not one of truncate-and-insert, insert-from-staging"
            ),
        })?,
    };
    let config = destination_config(pipeline, dest)?;
    config
        .build(dataset, pipeline, replace)
        .map_err(|source| PipelineError::Load {
            load_id: "-".into(),
            destination: config.describe(),
            source,
        })
}

/// The tables of a pipeline's dataset with their row counts.
pub fn dataset_tables(spec: &PipelineSpec) -> Result<(String, Vec<(String, i64)>), PipelineError> {
    let mut dest = open_destination(spec)?;
    let where_ = dest.describe();
    let tables = dest.table_counts().map_err(|source| PipelineError::Load {
        load_id: "-".into(),
        destination: where_.clone(),
        source,
    })?;
    Ok((where_, tables))
}

/// Run a pipeline: load pending packages, then extract, normalize and load new data.
pub async fn run(
    opts: RunOptions,
    progress: Arc<dyn Progress>,
) -> Result<RunSummary, PipelineError> {
    let started = Instant::now();
    let spec = &opts.spec;
    let pipeline = spec.name.clone();
    let dataset = spec.dataset_name();
    let workdir = opts.pipelines_dir.join(&pipeline);
    // one run of this pipeline at a time on its destination, from here to the end
    let _lease = lease::acquire(
        &lease::Target::of(spec, &dataset),
        Duration::from_secs(spec.limits.lease_wait_secs),
        &*progress,
    )?;
    let packages = package::Packages::open(&workdir)?;

    let host = Host::new(&opts.cache_dir)?;
    let (cname, bytes) = &opts.component;
    let connector = host.load(cname, bytes)?;
    check_pin(spec, cname, &connector.digest)?;
    let sandbox = sandbox_for(spec, &opts.pipelines_dir, &workdir)?;
    let config_json = toml_to_json(&spec.config).to_string();

    let mut dest = open_destination(spec)?;
    // under the lease: what a dead holder of this pipeline left half-done goes first
    for id in dest.recover().map_err(|source| PipelineError::Load {
        load_id: "-".into(),
        destination: dest.describe(),
        source,
    })? {
        tracing::warn!(
            pipeline,
            "discarded the interrupted load {id} of a run that died"
        );
    }
    manage::remember(&workdir, spec)?;
    let db_path = dest.describe();
    let mut local = state::LocalState::load(&workdir)?;
    let mut schema = manage::sync_local(&mut *dest, &mut local, &pipeline)?;
    let contracts = contracts::Contracts::from_spec(spec, opts.schema_contract)?;
    let schema_imported = contracts::apply_schema_options(spec, &mut schema)?;
    let webhook = contracts::webhook_url(spec)?;

    let mut summary = RunSummary {
        pipeline: pipeline.clone(),
        dataset: dataset.clone(),
        destination: db_path.clone(),
        connector: cname.clone(),
        connector_version: String::new(),
        component_digest: connector.digest.clone(),
        load_ids: Vec::new(),
        tables: IndexMap::new(),
        schema_update: SchemaUpdate::default(),
        schema_version: schema.version,
        pending_packages_loaded: 0,
        packages_set_aside: Vec::new(),
        duration_ms: 0,
        stage_ms: IndexMap::new(),
        http_requests: 0,
        http: IndexMap::new(),
        discarded: IndexMap::new(),
        key_collisions: IndexMap::new(),
        normalize_paths: Default::default(),
        schema_imported,
        notifications: Vec::new(),
    };
    let component_label = |version: &str| format!("{cname}@{version} sha256:{}", connector.digest);

    // 1. finish what an earlier run left
    let pending = packages.pending()?;
    if let Some(p) = pending.first() {
        // pending packages were made by the same connector unless the pipeline changed it
        progress.stage("load", &format!("pending package {}", p.load_id));
    }
    let head: load::StateHead = Arc::new(std::sync::Mutex::new(
        dest.stored_state(&pipeline)
            .map_err(|source| PipelineError::Load {
                load_id: "-".into(),
                destination: db_path.clone(),
                source,
            })?
            .map(|s| s.load_id),
    ));
    for p in &pending {
        let mut loader = load::Loader {
            packages: &packages,
            component: component_label(&p.connector_version),
            schema: &mut schema,
            dest: &mut *dest,
            local: &mut local,
            pipeline: pipeline.clone(),
            summary: &mut summary,
            progress: &*progress,
            contracts: &contracts,
            normalize: load::NormalizeSettings::of(spec),
            head: head.clone(),
        };
        match loader.load(p) {
            Ok(()) => summary.pending_packages_loaded += 1,
            Err(e @ PipelineError::Overtaken { .. }) => {
                let reason = e.to_string();
                // what an interrupted attempt at it left in the destination goes too
                dest.discard(&p.load_id)
                    .map_err(|source| PipelineError::Load {
                        load_id: p.load_id.clone(),
                        destination: db_path.clone(),
                        source,
                    })?;
                let to = packages.set_aside(p, &reason)?;
                tracing::warn!("{reason} ({})", to.display());
                progress.log("warn", &reason);
                summary.packages_set_aside.push(p.load_id.clone());
            }
            Err(e) => return Err(e),
        }
    }

    // 2. plan
    let mut instance = connector.instantiate(sandbox.clone()).await?;
    let source = instance.spec(&config_json).await?;
    summary.connector_version = source.version.clone();
    if source.resources.is_empty() {
        return Err(PipelineError::Config {
            pipeline: spec.name.clone(),
            reason: format!(
                "connector `{}` offers no resources for this configuration (is `[config]` missing?)",
                source.name
            ),
        });
    }
    let resources = plan_resources(spec, &source, &contracts)?;
    drop(instance);
    plan::check_merge_support(
        &pipeline,
        &destination_config(&pipeline, &spec.destination)?,
        &resources,
    )?;

    // 3. extract into packages; each is normalized and loaded when sealed (at the package
    //    limits and at the end), in one destination transaction
    let t = Instant::now();
    progress.stage("extract", &format!("{} resource(s)", resources.len()));
    let committed = local.clone();
    let loader = load::Loader {
        packages: &packages,
        component: component_label(&source.version),
        schema: &mut schema,
        dest: &mut *dest,
        local: &mut local,
        pipeline: pipeline.clone(),
        summary: &mut summary,
        progress: &*progress,
        contracts: &contracts,
        normalize: load::NormalizeSettings::of(spec),
        head: head.clone(),
    };
    let job = extract::Job {
        pipeline: &pipeline,
        connector: &connector,
        source: &source.name,
        sandbox: &sandbox,
        config: &config_json,
        local: &committed,
        resources: &resources,
        max_page: spec.limits.max_page_mb << 20,
        max_state: spec.limits.max_state_kb << 10,
        deadline: Instant::now() + Duration::from_secs(spec.limits.run_timeout_secs.max(1)),
        run_timeout_secs: spec.limits.run_timeout_secs.max(1),
        progress: &*progress,
    };
    let budget = Duration::from_secs(spec.limits.run_timeout_secs.max(1));
    let finish = |mut writer: extract::Writer<'_>, extracted: Result<_, PipelineError>| {
        let result = match extracted.and_then(|r| writer.seal(true).map(|()| r)) {
            Ok(r) => Ok((r, writer.waited)),
            Err(e) => {
                writer.discard();
                Err(e)
            }
        };
        drop(writer);
        result
    };
    let new_writer = |sink| {
        std::cell::RefCell::new(extract::Writer::new(
            &packages,
            &source.name,
            &source.version,
            resources.clone(),
            &spec.limits,
            sink,
            head.clone(),
        ))
    };
    let (requests, waited) = if spec.limits.load_while_extracting && loads_live(&resources) {
        // one resource: a loader thread normalizes and loads each page while the extraction
        // goes on (this thread blocks on it; the runtime's workers drive the I/O)
        live::with_live_loader(loader, |sink| {
            let writer = new_writer(sink::boxed(sink));
            let extracted = tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(extract_within(
                    &job,
                    &writer,
                    budget,
                    spec.limits.concurrency,
                ))
            });
            finish(writer.into_inner(), extracted)
        })?
    } else {
        let writer = new_writer(sink::boxed(sink::SealedSink { loader }));
        let extracted = extract_within(&job, &writer, budget, spec.limits.concurrency).await;
        finish(writer.into_inner(), extracted)?
    };
    summary.http_requests = requests.values().map(|m| m.requests).sum();
    summary.http = requests
        .into_iter()
        .filter(|(_, m)| *m != sluice_host::HttpMetrics::default())
        .collect();
    // extraction time without the waits on loads (a live load overlaps the rest)
    summary.stage_ms.insert(
        "extract".into(),
        t.elapsed().saturating_sub(waited).as_millis(),
    );
    summary
        .stage_ms
        .sort_by(|a, _, b, _| stage_rank(a).cmp(&stage_rank(b)));
    summary.schema_version = schema.version;
    if let Some(dir) = &spec.schema.export {
        contracts::export_schema(dir, &schema)?;
    }
    if let Some(url) = &webhook
        && (!summary.schema_update.is_empty() || !summary.discarded.is_empty())
    {
        let outcome = contracts::notify(url, &contracts::schema_change_message(&summary)).await;
        tracing::info!("{outcome}");
        summary.notifications.push(outcome);
    }
    summary.duration_ms = started.elapsed().as_millis();
    sluice_load::failpoint("run.before_trace");
    // the machine-readable trace of the last run, beside the local state
    let trace = workdir.join("trace.json");
    let text = serde_json::to_vec_pretty(&summary).map_err(|e| io_err(&trace, e))?;
    package::write_synced(&trace, &text)?;
    Ok(summary)
}

/// A pipeline that pins its connector's digest refuses any other component.
fn check_pin(spec: &PipelineSpec, connector: &str, digest: &str) -> Result<(), PipelineError> {
    match &spec.connector.digest {
        Some(pin) if !pin.eq_ignore_ascii_case(digest) => Err(PipelineError::Config {
            pipeline: spec.name.clone(),
            reason: format!(
                "connector `{connector}` has digest `{digest}` but the pipeline pins `{pin}`"
            ),
        }),
        _ => Ok(()),
    }
}

fn sandbox_for(
    spec: &PipelineSpec,
    pipelines_dir: &Path,
    workdir: &Path,
) -> Result<Sandbox, PipelineError> {
    let mut policy =
        Policy::allow(&spec.grants.allow_hosts).map_err(|reason| PipelineError::Config {
            pipeline: spec.name.clone(),
            reason,
        })?;
    policy.allow_private = spec.grants.allow_private_addresses;
    policy.retry_budget_ms = spec.limits.http_retry_budget_secs.saturating_mul(1000);
    policy.timeout_ms = spec.limits.http_timeout_secs.max(1).saturating_mul(1000);
    policy.max_header_bytes = spec.limits.http_max_header_kb.max(1) << 10;
    policy.max_body_bytes = spec.limits.http_max_body_mb.max(1) << 20;
    for (host, rate) in &spec.limits.http_rate_per_second {
        if !(rate.is_finite() && *rate > 0.0) {
            return Err(PipelineError::Config {
                pipeline: spec.name.clone(),
                reason: format!(
                    "limits.http_rate_per_second `{host}`: {rate} is not a positive number"
                ),
            });
        }
        policy.rate_limits.push((host.clone(), *rate));
    }
    for (name, s) in &spec.secrets {
        let cfg = |reason: String| PipelineError::Config {
            pipeline: spec.name.clone(),
            reason: format!("secret `{name}`: {reason}"),
        };
        let value = match (&s.env, &s.value) {
            (Some(var), None) if s.optional && std::env::var_os(var).is_none() => {
                secret_placement(s).map_err(cfg)?;
                tracing::info!("secret `{name}`: `{var}` is not set; requests go without it");
                policy.absent_secrets.push(name.clone());
                continue;
            }
            (Some(var), None) => std::env::var(var)
                .map_err(|_| cfg(format!("environment variable `{var}` is not set")))?,
            (None, Some(v)) => v.clone(),
            _ => return Err(cfg("give exactly one of `env` or `value`".into())),
        };
        let placement = secret_placement(s).map_err(cfg)?;
        Policy::allow(std::slice::from_ref(&s.host)).map_err(cfg)?;
        policy.secrets.push(sluice_host::SecretGrant {
            name: name.clone(),
            value,
            host: s.host.clone(),
            placement,
        });
    }
    let read_dirs = grants::read_dirs(spec, pipelines_dir, workdir)?;
    Ok(Sandbox {
        memory_bytes: (spec.limits.memory_mb << 20) as usize,
        max_log_lines: spec.limits.max_log_lines,
        max_log_lines_per_sec: spec.limits.max_log_lines_per_sec,
        call_timeout: Duration::from_secs(spec.limits.call_timeout_secs.max(1)),
        read_dirs,
        policy: Arc::new(policy),
        max_http_in_flight: spec.limits.http_in_flight.max(1),
    })
}

/// How the host sends a secret, from its `scheme` and the fields that scheme takes.
fn secret_placement(s: &spec::SecretSpec) -> Result<sluice_host::SecretPlacement, String> {
    use sluice_host::SecretPlacement as P;
    let scheme = s.scheme.as_deref().unwrap_or("api_key");
    let unused = |fields: &[(&str, bool)]| -> Result<(), String> {
        match fields.iter().find(|(_, set)| *set) {
            Some((f, _)) => Err(format!("`{f}` does not apply to scheme `{scheme}`")),
            None => Ok(()),
        }
    };
    let oauth_fields = [
        ("token_url", s.token_url.is_some()),
        ("client_id", s.client_id.is_some()),
        ("token_request", !s.token_request.is_empty()),
    ];
    match scheme {
        "api_key" | "bearer" => {
            unused(&[("username", s.username.is_some())])?;
            unused(&oauth_fields)?;
            let prefix = if scheme == "bearer" && s.prefix.is_empty() {
                "Bearer ".to_owned()
            } else {
                s.prefix.clone()
            };
            match (&s.header, &s.query) {
                (Some(h), None) => Ok(P::Header {
                    name: h.clone(),
                    prefix,
                }),
                (None, Some(q)) if scheme == "api_key" => Ok(P::Query { name: q.clone() }),
                (None, None) if scheme == "bearer" => Ok(P::Header {
                    name: "Authorization".into(),
                    prefix,
                }),
                (None, None) => Err("give one of `header` or `query` (or a `scheme`)".into()),
                _ if scheme == "bearer" => {
                    Err("a bearer token goes in a header, not `query`".into())
                }
                _ => Err("give exactly one of `header` or `query`".into()),
            }
        }
        "http_basic" => {
            unused(&[
                ("header", s.header.is_some()),
                ("query", s.query.is_some()),
                ("prefix", !s.prefix.is_empty()),
            ])?;
            unused(&oauth_fields)?;
            let username = s
                .username
                .clone()
                .ok_or("scheme `http_basic` needs `username` (the secret is the password)")?;
            Ok(P::Basic { username })
        }
        "oauth2_client_credentials" => {
            unused(&[
                ("header", s.header.is_some()),
                ("query", s.query.is_some()),
                ("prefix", !s.prefix.is_empty()),
                ("username", s.username.is_some()),
            ])?;
            let token_url = s
                .token_url
                .clone()
                .ok_or("scheme `oauth2_client_credentials` needs `token_url`")?;
            url::Url::parse(&token_url).map_err(|e| format!("token_url `{token_url}`: {e}"))?;
            let client_id = s
                .client_id
                .clone()
                .ok_or("scheme `oauth2_client_credentials` needs `client_id`")?;
            Ok(P::OAuth2 {
                token_url,
                client_id,
                extra: s
                    .token_request
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                cache: Default::default(),
            })
        }
        other => Err(format!(
            "unknown scheme `{other}` (api_key, bearer, http_basic, oauth2_client_credentials)"
        )),
    }
}

/// dlt's load id: seconds since the epoch with fractions.
pub(crate) fn new_load_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64;
    // strictly increasing within the process, even for packages sealed in the same µs
    let mut prev = LAST.load(Ordering::Relaxed);
    let micros = loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(p) => prev = p,
        }
    };
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

/// A load id newer than every package on disk (a clock that stepped back never reorders).
pub(crate) fn new_load_id_after(packages: &package::Packages) -> Result<String, PipelineError> {
    let id = new_load_id();
    let newest = packages
        .pending()?
        .last()
        .and_then(|p| p.load_id.parse::<f64>().ok());
    Ok(match newest {
        Some(n) if id.parse::<f64>().unwrap_or(0.0) <= n => {
            let micros = (n * 1e6).round() as u64 + 1;
            format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
        }
        _ => id,
    })
}

/// The newest of the local schema and the one stored in the destination.
pub(crate) fn restore_schema(
    dest: &mut dyn Destination,
    local: &state::LocalState,
    pipeline: &str,
    db_path: &str,
) -> Result<Schema, PipelineError> {
    let local_schema = local.schema.clone();
    let schema_name = local_schema
        .as_ref()
        .map(|s| s.name.clone())
        .unwrap_or_else(|| pipeline.to_owned());
    let remote = dest
        .stored_schema(&schema_name)
        .map_err(|source| PipelineError::Load {
            load_id: "-".into(),
            destination: db_path.to_owned(),
            source,
        })?
        .and_then(|text| Schema::from_json(&text).ok());
    Ok(match (local_schema, remote) {
        (Some(l), Some(r)) if r.version > l.version => r,
        (Some(l), _) => l,
        (None, Some(r)) => r,
        (None, None) => Schema::new(pipeline),
    })
}

/// Resolved resources of this run, in spec order: the connector's declaration with the
/// pipeline file's overrides applied.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PlannedResource {
    pub name: String,
    pub parent: Option<String>,
    /// table, disposition, keys and column hints as the normalizer takes them
    pub hints: ResourceTable,
    /// a host-side incremental cursor
    #[serde(default)]
    pub incremental: Option<incremental::IncrementalSpec>,
    /// this package continues an earlier package of the same run (a `replace` then appends)
    #[serde(default)]
    pub continues_run: bool,
}

fn incremental_from_connector(
    i: &sluice_host::Incremental,
) -> Result<incremental::IncrementalSpec, String> {
    let json = |v: &Option<String>, what: &str| -> Result<Option<serde_json::Value>, String> {
        v.as_deref()
            .map(|t| {
                serde_json::from_str(t)
                    .map_err(|e| format!("incremental {what} `{t}` is not JSON: {e}"))
            })
            .transpose()
    };
    Ok(incremental::IncrementalSpec {
        cursor_path: i.cursor_path.clone(),
        initial_value: json(&i.initial_value, "initial value")?,
        end_value: json(&i.end_value, "end value")?,
        last_value_func: match i.last_value_func {
            sluice_host::LastValueFunc::Max => LastValueFunc::Max,
            sluice_host::LastValueFunc::Min => LastValueFunc::Min,
        },
        lag: i.lag,
        on_cursor_missing: match i.on_cursor_missing {
            sluice_host::OnCursorMissing::Raise => OnCursorMissing::Raise,
            sluice_host::OnCursorMissing::Keep => OnCursorMissing::Include,
            sluice_host::OnCursorMissing::Drop => OnCursorMissing::Exclude,
        },
        primary_key: None,
    })
}

/// A column hint the connector declared (the contract's record), as the one hint type: the
/// only place the WIT record is converted. Names of types and sort orders are checked here.
fn hint_from_wit(c: &sluice_host::ColumnHint) -> Result<ColumnHint, String> {
    let name = &c.name;
    let data_type = match &c.data_type {
        None => None,
        Some(t) => Some(
            sluice_schema::DataType::parse(t)
                .ok_or_else(|| format!("column `{name}`: unknown data_type `{t}`"))?,
        ),
    };
    let dedup_sort =
        match &c.dedup_sort {
            None => None,
            Some(d) => Some(sluice_schema::SortOrder::parse(d).ok_or_else(|| {
                format!("column `{name}`: dedup_sort is `asc` or `desc`, not `{d}`")
            })?),
        };
    Ok(ColumnHint {
        name: name.clone(),
        data_type,
        nullable: c.nullable,
        primary_key: c.primary_key,
        merge_key: c.merge_key,
        unique: c.unique,
        dedup_sort,
        hard_delete: c.hard_delete,
        precision: c.precision,
        scale: c.scale,
        timezone: c.timezone,
    })
}

pub(crate) fn disposition_name(d: WriteDisposition) -> &'static str {
    match d {
        WriteDisposition::Append => "append",
        WriteDisposition::Replace => "replace",
        WriteDisposition::Merge => "merge",
        WriteDisposition::Skip => "skip",
    }
}

fn plan_resources(
    spec: &PipelineSpec,
    source: &SourceSpec,
    contracts: &contracts::Contracts,
) -> Result<Vec<PlannedResource>, PipelineError> {
    let mut out = Vec::new();
    for name in spec.resources.keys() {
        if !source.resources.iter().any(|r| &r.name == name) {
            return Err(PipelineError::Config {
                pipeline: spec.name.clone(),
                reason: format!(
                    "resource `{name}` in the pipeline file is not offered by connector `{}` (it offers: {})",
                    source.name,
                    source
                        .resources
                        .iter()
                        .map(|r| format!("`{}`", r.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    let selected = |r: &sluice_host::ResourceSpec| {
        spec.resources
            .get(&r.name)
            .and_then(|o| o.selected)
            .unwrap_or(r.selected)
    };
    for r in &source.resources {
        let o = spec.resources.get(&r.name).cloned().unwrap_or_default();
        // an unselected parent of a selected resource is extracted to feed it, never loaded
        // (dlt does the same)
        let feeds_only = !selected(r)
            && source
                .resources
                .iter()
                .any(|c| c.parent.as_deref() == Some(r.name.as_str()) && selected(c));
        if !selected(r) && !feeds_only {
            continue;
        }
        let wd = if feeds_only {
            "skip".to_owned()
        } else {
            o.write_disposition
                .clone()
                .unwrap_or_else(|| disposition_name(r.write_disposition).to_owned())
        };
        let cfg = |reason: String| PipelineError::Config {
            pipeline: spec.name.clone(),
            reason: format!("resource `{}`: {reason}", r.name),
        };
        let Some(write_disposition) = sluice_schema::WriteDisposition::parse(&wd) else {
            return Err(cfg(format!(
                "unknown write_disposition `{wd}` (append, replace, merge, skip)"
            )));
        };
        use sluice_schema::MergeStrategy as M;
        let merge_strategy = match &o.merge_strategy {
            Some(m) => match M::parse(m) {
                Some(parsed) => Some(parsed),
                None if write_disposition == sluice_schema::WriteDisposition::Merge => {
                    return Err(cfg(format!(
                        "unknown merge_strategy `{m}` (delete-insert, upsert, insert-only, scd2)"
                    )));
                }
                None => None,
            },
            None => r.merge_strategy.map(|m| match m {
                sluice_host::MergeStrategy::DeleteInsert => M::DeleteInsert,
                sluice_host::MergeStrategy::Upsert => M::Upsert,
                sluice_host::MergeStrategy::InsertOnly => M::InsertOnly,
                sluice_host::MergeStrategy::Scd2 => M::Scd2,
            }),
        };
        let primary_key = o
            .primary_key
            .clone()
            .unwrap_or_else(|| r.primary_key.clone());
        let merge_key = o.merge_key.clone().unwrap_or_else(|| r.merge_key.clone());
        if write_disposition == sluice_schema::WriteDisposition::Merge {
            let strategy = merge_strategy.unwrap_or_default();
            if matches!(strategy, M::Upsert | M::InsertOnly) && primary_key.is_empty() {
                return Err(cfg(format!(
                    "merge strategy `{}` needs a primary_key",
                    strategy.as_str()
                )));
            }
            if strategy == M::Upsert && !merge_key.is_empty() {
                return Err(cfg("merge strategy `upsert` takes no merge_key".into()));
            }
        }
        // a JSON Schema's columns first, then the connector's hints, then the pipeline file's
        let mut columns: Vec<ColumnHint> = contracts.json_hints(&r.name).to_vec();
        for c in &r.columns {
            columns.push(hint_from_wit(c).map_err(cfg)?);
        }
        columns.extend(o.columns.iter().map(|(name, c)| ColumnHint {
            name: name.clone(),
            ..c.clone()
        }));
        let incremental = match (&o.incremental, &r.incremental) {
            (Some(i), _) => Some(i.clone()),
            (None, Some(i)) => Some(incremental_from_connector(i).map_err(cfg)?),
            (None, None) => None,
        };
        if let Some(i) = &incremental {
            i.validate().map_err(cfg)?;
            if r.parent.is_some() {
                return Err(cfg(
                    "an incremental cursor needs a root resource (this one depends on another)"
                        .into(),
                ));
            }
        }
        out.push(PlannedResource {
            name: r.name.clone(),
            parent: r.parent.clone(),
            incremental,
            continues_run: false,
            hints: ResourceTable {
                resource: r.name.clone(),
                table: o
                    .table_name
                    .clone()
                    .or_else(|| r.table_name.clone())
                    .unwrap_or_else(|| r.name.clone()),
                write_disposition,
                merge_strategy,
                primary_key,
                merge_key,
                columns,
                max_nesting: o.max_table_nesting.or(r.max_nesting),
                deduplicated: o.deduplicated.unwrap_or(false),
                scd2: Scd2Options {
                    validity_column_names: o.validity_column_names.clone(),
                    active_record_timestamp: o.active_record_timestamp.clone(),
                    boundary_timestamp: o.boundary_timestamp.clone(),
                },
                schema_contract: None,
                source_contract: None,
                json_schema: None,
            },
        });
        if let Some(p) = out.last_mut() {
            contracts.apply(&mut p.hints);
        }
    }
    Ok(out)
}

fn stage_rank(stage: &str) -> usize {
    ["extract", "normalize", "load"]
        .iter()
        .position(|s| *s == stage)
        .unwrap_or(3)
}

/// `extract_all` under the run's time budget.
async fn extract_within(
    job: &extract::Job<'_>,
    writer: &std::cell::RefCell<extract::Writer<'_>>,
    budget: Duration,
    concurrency: usize,
) -> Result<IndexMap<String, sluice_host::HttpMetrics>, PipelineError> {
    match tokio::time::timeout(budget, extract_all(job, writer, concurrency)).await {
        Ok(r) => r,
        // a host call blocked past the budget (the page loop checks the deadline itself)
        Err(_) => Err(extract::run_time_exceeded(job)),
    }
}

/// Whether a run loads while it extracts: it has one resource (the pages of several load in
/// plan order once sealed) and runs on a multi-threaded runtime (the extraction blocks this
/// thread while the loader thread works).
fn loads_live(resources: &[PlannedResource]) -> bool {
    resources.len() == 1
        && tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

async fn extract_all(
    job: &extract::Job<'_>,
    writer: &std::cell::RefCell<extract::Writer<'_>>,
    concurrency: usize,
) -> Result<IndexMap<String, sluice_host::HttpMetrics>, PipelineError> {
    // root resources extract concurrently (each in its own instance, interleaved on this
    // task); dependents run inside their parent's extraction, page by page
    let roots: Vec<&PlannedResource> = job
        .resources
        .iter()
        .filter(|r| r.parent.is_none())
        .collect();
    let mut metrics = IndexMap::new();
    for chunk in roots.chunks(concurrency.max(1)) {
        let running = chunk
            .iter()
            .map(|root| extract::extract_resource(job, root, writer));
        for (root, r) in chunk
            .iter()
            .zip(futures_util::future::join_all(running).await)
        {
            metrics.insert(root.name.clone(), r?);
        }
    }
    Ok(metrics)
}
