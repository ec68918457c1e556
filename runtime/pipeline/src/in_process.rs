//! Sources that are not components: pages the caller's own process hands over (a Python
//! iterator of records, an Arrow stream), planned, packaged and loaded exactly as a
//! component's are — same packages, lease, contracts, dispositions and state transaction —
//! without a sandbox, because the code making the pages is the caller's own.
//!
//! The feed's pages are built by the host's own encoders (NDJSON from records, Arrow IPC
//! from batches), so they skip the syntax check a component's pages pass.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use sluice_host::{Page, SourceSpec};

use crate::contracts::Contracts;
use crate::extract::Writer;
use crate::plan::{Origin, Runnable};
use crate::{PipelineError, PipelineSpec, Plan, Progress, RunSummary};

/// Pages of one resource, handed over in-process.
pub trait PageFeed {
    /// The next page, or `None` at the end. An error ends the extraction with that reason:
    /// packages sealed before it stay committed, the open one is discarded.
    fn next_page(&mut self) -> Result<Option<Page>, String>;
}

/// A run of an in-process source.
pub struct InProcessOptions {
    /// name, destination, dataset, limits, contracts and the resource's overrides
    /// (`[resources.NAME]`: disposition, keys, column hints); its `connector` is not used
    pub spec: PipelineSpec,
    pub pipelines_dir: PathBuf,
    /// what the source declares: its name (the schema's), version and resources
    pub source: SourceSpec,
    /// the name a load records as its maker, e.g. `python`
    pub made_by: String,
    /// the run's data contract: overrides every resource's and the source's
    pub schema_contract: Option<sluice_schema::SchemaContract>,
}

/// Plan and run an in-process source: `feed` hands over the pages of its one resource.
pub async fn run_in_process(
    opts: InProcessOptions,
    feed: &mut dyn PageFeed,
    progress: Arc<dyn Progress>,
) -> Result<RunSummary, PipelineError> {
    let started = Instant::now();
    let started_at = crate::traces::now();
    let workdir = opts.pipelines_dir.join(&opts.spec.name);
    let plan = match plan_in_process(opts) {
        Ok(plan) => plan,
        Err(e) => {
            crate::traces::record_unplanned(&workdir, started_at, &e);
            return Err(e);
        }
    };
    crate::run::recorded(plan, progress, started, Some(feed)).await
}

/// The plan of an in-process run: destination, contracts and the resource's hints, checked
/// as a component's are.
fn plan_in_process(opts: InProcessOptions) -> Result<Plan, PipelineError> {
    let spec = &opts.spec;
    if opts.source.resources.len() != 1 {
        return Err(PipelineError::Config {
            pipeline: spec.name.clone(),
            reason: format!(
                "an in-process source hands over one resource, not {}",
                opts.source.resources.len()
            ),
        });
    }
    // the names become tables and columns: held to the rules a component's declaration meets
    sluice_host::declared::check_spec(&opts.source).map_err(|r| PipelineError::Config {
        pipeline: spec.name.clone(),
        reason: format!("{} `{}`: {}", r.field, r.value, r.rule),
    })?;
    let destination = crate::destination_config(&spec.name, &spec.destination)?;
    let replace = crate::destination::parse_replace(&spec.name, spec.replace_strategy.as_deref())?;
    let contracts = Contracts::from_spec(spec, opts.schema_contract)?;
    let webhook = crate::contracts::webhook_url(spec)?;
    let resources = crate::resources::plan_resources(spec, &opts.source, &contracts)?;
    crate::plan::check_merge_support(&spec.name, &destination, &resources)?;
    Ok(Plan {
        pipeline: spec.name.clone(),
        dataset: spec.dataset_name(),
        destination: destination.describe(),
        connector: opts.made_by.clone(),
        component_digest: String::new(),
        source: opts.source.name.clone(),
        version: opts.source.version.clone(),
        read: Vec::new(),
        allow_hosts: Vec::new(),
        allow_private_addresses: false,
        secrets: Vec::new(),
        databases: Vec::new(),
        buckets: Vec::new(),
        resources,
        memory_mb: 0,
        call_timeout_secs: 0,
        run_timeout_secs: spec.limits.run_timeout_secs,
        run: Runnable {
            spec: spec.clone(),
            workdir: opts.pipelines_dir.join(&spec.name),
            destination,
            replace,
            origin: Origin::InProcess { name: opts.made_by },
            contracts,
            webhook,
        },
    })
}

/// Write each page the feed hands over into the package of the run's one resource.
pub(crate) fn extract_fed(
    name: &str,
    feed: &mut dyn PageFeed,
    writer: &RefCell<Writer<'_>>,
    progress: &dyn Progress,
) -> Result<(), PipelineError> {
    let Some(resource) = writer.borrow().resources.first().map(|r| r.name.clone()) else {
        return Ok(());
    };
    let (mut seq, mut bytes) = (0u64, 0u64);
    loop {
        let page = feed.next_page().map_err(|reason| PipelineError::Page {
            connector: name.to_owned(),
            resource: resource.clone(),
            page: seq + 1,
            reason,
        })?;
        let Some(page) = page else { return Ok(()) };
        bytes += page.records.len() as u64;
        writer.borrow_mut().write(&resource, seq, page, None)?;
        seq += 1;
        progress.page(&resource, seq, bytes);
    }
}
