//! The plan of a run: the pipeline file, the connector's declaration and the CLI overrides
//! become one validated, typed value, built once — destination, replace strategy, sandbox
//! (grants, secrets, limits), data contracts, and each resource with its disposition, keys and
//! cursor. Every validation error is raised here, before a lease is taken, a destination
//! opened or a page extracted. A run executes a `Plan` ([`crate::run_plan`]); `sluice plan`
//! and `sluice run --dry-run` print one.

use std::path::PathBuf;

use serde::Serialize;
use sluice_host::{Connector, Host, Sandbox};
use sluice_load::{DestinationConfig, ReplaceStrategy};

use crate::contracts::Contracts;
use crate::{PipelineError, PipelineSpec, PlannedResource, RunOptions, SecretSpec};

/// What a run of a pipeline will do: the part shown to users (serialized by `sluice plan
/// --json`) and the values the run executes.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub pipeline: String,
    pub dataset: String,
    /// without credentials
    pub destination: String,
    pub connector: String,
    pub component_digest: String,
    /// the source the connector declares for this configuration, and its version
    pub source: String,
    pub version: String,
    /// directories and files the connector may read (read-only)
    pub read: Vec<String>,
    pub allow_hosts: Vec<String>,
    pub allow_private_addresses: bool,
    /// secrets by name: where they go and how; never a value
    pub secrets: Vec<PlannedSecret>,
    /// database grants in words: name, URL without password, what may be read
    pub databases: Vec<String>,
    /// bucket grants in words: name, URL, how the host signs in (never a credential)
    pub buckets: Vec<String>,
    pub resources: Vec<PlannedResource>,
    pub memory_mb: u64,
    pub call_timeout_secs: u64,
    pub run_timeout_secs: u64,
    #[serde(skip)]
    pub(crate) run: Runnable,
}

/// The values a run executes (never shown: the sandbox holds secret values).
pub(crate) struct Runnable {
    pub spec: PipelineSpec,
    /// `<pipelines_dir>/<name>/`: packages, schemas and local state
    pub workdir: PathBuf,
    pub destination: DestinationConfig,
    pub replace: ReplaceStrategy,
    pub origin: Origin,
    pub contracts: Contracts,
    /// where schema-change notifications go (`[notifications]`)
    pub webhook: Option<String>,
}

/// Where a run's pages come from.
pub(crate) enum Origin {
    /// a sandboxed connector component
    Component(Box<ComponentRun>),
    /// the caller's own process hands the pages over ([`crate::run_in_process`]): a trusted
    /// source (the user's own data), so no sandbox
    InProcess {
        /// what made the pages, e.g. `python`
        name: String,
    },
}

/// A component as a run executes it.
pub(crate) struct ComponentRun {
    pub connector: Connector,
    pub sandbox: Sandbox,
    /// the pipeline file's `[config]` as the JSON the connector takes
    pub config_json: String,
    /// the linked read grants, removed with the plan
    _grants: Option<crate::grants::Staged>,
}

impl Runnable {
    /// The interfaces the run's component imports (none for an in-process source).
    pub fn imports(&self) -> Vec<String> {
        match &self.origin {
            Origin::Component(c) => c.connector.imports.clone(),
            Origin::InProcess { .. } => Vec::new(),
        }
    }

    /// What made a package, as the load records it: `name@version sha256:digest`.
    pub fn made_by(&self, version: &str) -> String {
        match &self.origin {
            Origin::Component(c) => format!(
                "{}@{version} sha256:{}",
                c.connector.name, c.connector.digest
            ),
            Origin::InProcess { name } => format!("{name}@{version} (in-process)"),
        }
    }
}

impl std::fmt::Debug for Runnable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runnable")
            .field("workdir", &self.workdir)
            .field("destination", &self.destination.describe())
            .field(
                "connector",
                &match &self.origin {
                    Origin::Component(c) => c.connector.name.as_str(),
                    Origin::InProcess { name } => name.as_str(),
                },
            )
            .finish_non_exhaustive()
    }
}

/// A secret as a plan shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PlannedSecret {
    pub name: String,
    pub host: String,
    pub scheme: String,
    /// `env VAR`, `env VAR (optional)` or `inline value`
    pub from: String,
}

/// Plan a run of `opts` (its component, pipeline file and overrides).
pub async fn plan(opts: &RunOptions) -> Result<Plan, PipelineError> {
    let spec = &opts.spec;
    let destination = crate::destination_config(&spec.name, &spec.destination)?;
    let replace = crate::destination::parse_replace(&spec.name, spec.replace_strategy.as_deref())?;
    let host = Host::new(&opts.cache_dir)?;
    let (cname, bytes) = &opts.component;
    let connector = host.load(cname, bytes)?;
    crate::sandbox::check_pin(spec, cname, &connector.digest)?;
    let workdir = opts.pipelines_dir.join(&spec.name);
    let (sandbox, grants) = crate::sandbox::sandbox_for(spec, &opts.pipelines_dir, &workdir)?;
    let contracts = Contracts::from_spec(spec, opts.schema_contract)?;
    let webhook = crate::contracts::webhook_url(spec)?;
    let config_json = crate::toml_to_json(&spec.config).to_string();
    let source = connector
        .instantiate(sandbox.clone())
        .await?
        .spec(&config_json)
        .await?;
    if source.resources.is_empty() {
        return Err(PipelineError::Config {
            pipeline: spec.name.clone(),
            reason: format!(
                "connector `{}` offers no resources for this configuration (is `[config]` missing?)",
                source.name
            ),
        });
    }
    let resources = crate::resources::plan_resources(spec, &source, &contracts)?;
    check_merge_support(&spec.name, &destination, &resources)?;
    Ok(Plan {
        pipeline: spec.name.clone(),
        dataset: spec.dataset_name(),
        destination: destination.describe(),
        connector: cname.clone(),
        component_digest: connector.digest.clone(),
        source: source.name,
        version: source.version,
        read: sandbox.read_dirs.iter().map(read_grant).collect(),
        allow_hosts: spec.grants.allow_hosts.clone(),
        allow_private_addresses: spec.grants.allow_private_addresses,
        secrets: spec
            .secrets
            .iter()
            .map(|(name, s)| planned_secret(name, s))
            .collect(),
        databases: crate::sandbox::describe_databases(&sandbox.databases, spec),
        buckets: crate::sandbox::describe_buckets(spec),
        resources,
        memory_mb: spec.limits.memory_mb,
        call_timeout_secs: spec.limits.call_timeout_secs,
        run_timeout_secs: spec.limits.run_timeout_secs,
        run: Runnable {
            spec: spec.clone(),
            workdir,
            destination,
            replace,
            origin: Origin::Component(Box::new(ComponentRun {
                connector,
                sandbox,
                config_json,
                _grants: grants,
            })),
            contracts,
            webhook,
        },
    })
}

/// A read grant in words: a directory, or the files of a single-file grant.
fn read_grant(dir: &sluice_host::ReadDir) -> String {
    if dir.host.to_string_lossy() == dir.guest {
        return format!("{}/", dir.guest);
    }
    let files: Vec<String> = std::fs::read_dir(&dir.host)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| format!("{}/{}", dir.guest, e.file_name().to_string_lossy()))
        .collect();
    files.join(", ")
}

fn planned_secret(name: &str, s: &SecretSpec) -> PlannedSecret {
    let from = match (&s.env, &s.value) {
        (Some(var), _) if s.optional => format!("env {var} (optional)"),
        (Some(var), _) => format!("env {var}"),
        _ => "inline value".to_owned(),
    };
    let scheme = s.scheme.clone().unwrap_or_else(|| "api_key".into());
    let placed = match (&s.header, &s.query) {
        (Some(h), _) => format!("{scheme}, header {h}"),
        (_, Some(q)) => format!("{scheme}, query {q}"),
        _ => scheme,
    };
    PlannedSecret {
        name: name.to_owned(),
        host: s.host.clone().unwrap_or_else(|| "a database grant".into()),
        scheme: placed,
        from,
    }
}

/// Merge needs a SQL destination: refused while planning, before anything is extracted.
pub(crate) fn check_merge_support(
    pipeline: &str,
    destination: &DestinationConfig,
    resources: &[PlannedResource],
) -> Result<(), PipelineError> {
    if destination.supports_merge() {
        return Ok(());
    }
    match resources
        .iter()
        .find(|r| r.hints.write_disposition == sluice_schema::WriteDisposition::Merge)
    {
        Some(r) => Err(PipelineError::Config {
            pipeline: pipeline.to_owned(),
            reason: format!(
                "resource `{}`: merge needs a SQL destination (duckdb or postgres); {} takes append and replace",
                r.name,
                destination.describe()
            ),
        }),
        None => Ok(()),
    }
}
