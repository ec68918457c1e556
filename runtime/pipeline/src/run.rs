//! A run, in one straight line: plan → lease → open the destination (recovering what a dead
//! run left) → sync schema and state → load pending packages → extract into a
//! [`PackageSink`](crate::sink::PackageSink) that normalizes and loads each package → export,
//! notify, write the trace. Each step is one function below; the values they share live in a
//! [`Session`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use sluice_load::Destination;
use sluice_schema::{Schema, SchemaUpdate};

use crate::package::{Packages, Pending, StateHead};
use crate::plan::{Origin, Runnable};
use crate::state::LocalState;
use crate::{
    PageFeed, PipelineError, Plan, PlannedResource, Progress, RunOptions, RunSummary, contracts,
    extract, io_err, lease, live, load, manage, package, sink, traces,
};

/// Run a pipeline: plan it, then execute the plan.
pub async fn run(
    opts: RunOptions,
    progress: Arc<dyn Progress>,
) -> Result<RunSummary, PipelineError> {
    let started = Instant::now();
    let started_at = traces::now();
    let plan = match crate::plan(&opts).await {
        Ok(plan) => plan,
        Err(e) => {
            let workdir = opts.pipelines_dir.join(&opts.spec.name);
            traces::record_unplanned(&workdir, started_at, &e);
            return Err(e);
        }
    };
    recorded(plan, progress, started, None).await
}

/// Execute `plan` and add the run to the pipeline's history, succeeded or failed.
pub(crate) async fn recorded(
    plan: Plan,
    progress: Arc<dyn Progress>,
    started: Instant,
    feed: Option<&mut dyn PageFeed>,
) -> Result<RunSummary, PipelineError> {
    let started_at = traces::now();
    let workdir = plan.run.workdir.clone();
    let imports = plan.run.imports();
    let result = execute(&plan, progress.clone(), started, feed).await;
    let record = traces::TraceRecord {
        started_at,
        finished_at: traces::now(),
        status: if result.is_ok() { "ok" } else { "failed" },
        error: result.as_ref().err().map(ToString::to_string),
        plan: Some(&plan),
        imports: &imports,
        summary: result.as_ref().ok(),
    };
    if let Err(e) = traces::record(&workdir, &record) {
        progress.log("warn", &format!("the run's record was not kept: {e}"));
    }
    result
}

/// Execute a plan: load pending packages, then extract, normalize and load new data.
pub async fn run_plan(
    plan: Plan,
    progress: Arc<dyn Progress>,
) -> Result<RunSummary, PipelineError> {
    recorded(plan, progress, Instant::now(), None).await
}

/// What the steps of a run share once the destination is open.
struct Session {
    dest: Box<dyn Destination>,
    local: LocalState,
    schema: Schema,
    summary: RunSummary,
    /// the load id of the newest committed state, as this run knows it
    head: StateHead,
}

async fn execute(
    plan: &Plan,
    progress: Arc<dyn Progress>,
    started: Instant,
    feed: Option<&mut dyn PageFeed>,
) -> Result<RunSummary, PipelineError> {
    let run = &plan.run;
    let spec = &run.spec;
    // one run of this pipeline at a time on its destination, from here to the end
    let _lease = lease::acquire(
        &lease::Target {
            pipeline: &spec.name,
            destination: &run.destination,
            dataset: &plan.dataset,
        },
        Duration::from_secs(spec.limits.lease_wait_secs),
        &*progress,
    )?;
    let packages = Packages::open(&run.workdir)?;
    let mut session = open_session(plan)?;
    load_pending(run, &packages, &mut session, &*progress)?;
    let t = Instant::now();
    let waited = extract_and_load(plan, &packages, &mut session, &progress, feed).await?;
    let summary = &mut session.summary;
    // extraction time without the waits on loads (a live load overlaps the rest)
    summary.stage_ms.insert(
        "extract".into(),
        t.elapsed().saturating_sub(waited).as_millis(),
    );
    summary
        .stage_ms
        .sort_by(|a, _, b, _| stage_rank(a).cmp(&stage_rank(b)));
    summary.schema_version = session.schema.version;
    finish(run, session, started).await
}

/// Open the destination under the lease: discard what a dead holder left half-done, remember
/// the pipeline, bring local schema and state up to the destination's.
fn open_session(plan: &Plan) -> Result<Session, PipelineError> {
    let run = &plan.run;
    let spec = &run.spec;
    let load_err = |destination: String| {
        move |source| PipelineError::Load {
            load_id: "-".into(),
            destination,
            source,
        }
    };
    let mut dest = run
        .destination
        .build(&plan.dataset, &spec.name, run.replace)
        .map_err(load_err(plan.destination.clone()))?;
    let where_ = dest.describe();
    for id in dest.recover().map_err(load_err(where_.clone()))? {
        tracing::warn!(
            pipeline = spec.name,
            "discarded the interrupted load {id} of a run that died"
        );
    }
    manage::remember(&run.workdir, spec)?;
    let mut local = LocalState::load(&run.workdir)?;
    let mut schema = manage::sync_local(&mut *dest, &mut local, &spec.name)?;
    let schema_imported = contracts::apply_schema_options(spec, &mut schema)?;
    let head = dest
        .stored_state(&spec.name)
        .map_err(load_err(where_.clone()))?
        .map(|s| s.load_id);
    let summary = RunSummary {
        pipeline: spec.name.clone(),
        dataset: plan.dataset.clone(),
        destination: where_,
        connector: plan.connector.clone(),
        connector_version: plan.version.clone(),
        component_digest: plan.component_digest.clone(),
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
    Ok(Session {
        dest,
        local,
        schema,
        summary,
        head: Arc::new(std::sync::Mutex::new(head)),
    })
}

/// The loader of a package made by connector version `version`.
fn loader<'a>(
    run: &'a Runnable,
    packages: &'a Packages,
    session: &'a mut Session,
    progress: &'a dyn Progress,
    version: &str,
) -> load::Loader<'a> {
    load::Loader {
        packages,
        component: run.made_by(version),
        schema: &mut session.schema,
        dest: &mut *session.dest,
        local: &mut session.local,
        pipeline: run.spec.name.clone(),
        summary: &mut session.summary,
        progress,
        contracts: &run.contracts,
        normalize: load::NormalizeSettings::of(&run.spec),
        head: session.head.clone(),
    }
}

/// Finish what an earlier run left: load each pending package, or set it aside when another
/// worker's newer state covers its rows.
fn load_pending(
    run: &Runnable,
    packages: &Packages,
    session: &mut Session,
    progress: &dyn Progress,
) -> Result<(), PipelineError> {
    let pending = packages.pending()?;
    if let Some(p) = pending.first() {
        // pending packages were made by the same connector unless the pipeline changed it
        progress.stage("load", &format!("pending package {}", p.load_id));
    }
    for p in &pending {
        match loader(run, packages, session, progress, &p.connector_version).load(p) {
            Ok(()) => session.summary.pending_packages_loaded += 1,
            Err(e @ PipelineError::Overtaken { .. }) => {
                set_aside(packages, session, progress, p, &e.to_string())?
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Set an overtaken package aside, with what an interrupted attempt at it left in the
/// destination.
fn set_aside(
    packages: &Packages,
    session: &mut Session,
    progress: &dyn Progress,
    p: &Pending,
    reason: &str,
) -> Result<(), PipelineError> {
    session
        .dest
        .discard(&p.load_id)
        .map_err(|source| PipelineError::Load {
            load_id: p.load_id.clone(),
            destination: session.summary.destination.clone(),
            source,
        })?;
    let to = packages.set_aside(p, reason)?;
    tracing::warn!("{reason} ({})", to.display());
    progress.log("warn", reason);
    session.summary.packages_set_aside.push(p.load_id.clone());
    Ok(())
}

/// Extract into packages; each is normalized and loaded when sealed (at the package limits and
/// at the end), in one destination transaction — or page by page on a loader thread when the
/// run loads while it extracts. Returns the time the extraction waited on loads.
async fn extract_and_load(
    plan: &Plan,
    packages: &Packages,
    session: &mut Session,
    progress: &Arc<dyn Progress>,
    feed: Option<&mut dyn PageFeed>,
) -> Result<Duration, PipelineError> {
    let run = &plan.run;
    let spec = &run.spec;
    let resources = &plan.resources;
    progress.stage("extract", &format!("{} resource(s)", resources.len()));
    let committed = session.local.clone();
    let head = session.head.clone();
    let budget = Duration::from_secs(spec.limits.run_timeout_secs.max(1));
    let mut source = match (&run.origin, feed) {
        (Origin::Component(c), _) => Source::Component(extract::Job {
            pipeline: &spec.name,
            connector: &c.connector,
            source: &plan.source,
            sandbox: &c.sandbox,
            config: &c.config_json,
            local: &committed,
            resources,
            max_page: spec.limits.max_page_mb << 20,
            max_state: spec.limits.max_state_kb << 10,
            deadline: Instant::now() + budget,
            run_timeout_secs: spec.limits.run_timeout_secs.max(1),
            progress: &**progress,
        }),
        (Origin::InProcess { name }, Some(feed)) => Source::Fed(name, feed),
        (Origin::InProcess { name }, None) => {
            return Err(PipelineError::Config {
                pipeline: spec.name.clone(),
                reason: format!("the in-process source `{name}` handed over no pages"),
            });
        }
    };
    let new_writer = |sink| {
        std::cell::RefCell::new(extract::Writer::new(
            packages,
            &plan.source,
            &plan.version,
            resources.clone(),
            &spec.limits,
            sink,
            head.clone(),
        ))
    };
    let loader = loader(run, packages, session, &**progress, &plan.version);
    let concurrency = spec.limits.concurrency;
    let (requests, waited) = if spec.limits.load_while_extracting && loads_live(resources) {
        // one resource: a loader thread normalizes and loads each page while the extraction
        // goes on (this thread blocks on it; the runtime's workers drive the I/O)
        live::with_live_loader(loader, |sink| {
            let writer = new_writer(sink::boxed(sink));
            let extracted = tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(source.extract(
                    &writer,
                    budget,
                    concurrency,
                    &**progress,
                ))
            });
            seal_or_salvage(writer.into_inner(), extracted, &**progress)
        })?
    } else {
        let writer = new_writer(sink::boxed(sink::SealedSink { loader }));
        let extracted = source
            .extract(&writer, budget, concurrency, &**progress)
            .await;
        seal_or_salvage(writer.into_inner(), extracted, &**progress)?
    };
    let summary = &mut session.summary;
    summary.http_requests = requests.values().map(|m| m.requests).sum();
    summary.http = requests
        .into_iter()
        .filter(|(_, m)| *m != sluice_host::HttpMetrics::default())
        .collect();
    Ok(waited)
}

/// Where a run's pages come from: a component's extraction, or an in-process feed.
enum Source<'j, 'f> {
    Component(extract::Job<'j>),
    Fed(&'j str, &'f mut dyn PageFeed),
}

impl Source<'_, '_> {
    /// Write every page into `writer`; HTTP counts per resource.
    async fn extract(
        &mut self,
        writer: &std::cell::RefCell<extract::Writer<'_>>,
        budget: Duration,
        concurrency: usize,
        progress: &dyn Progress,
    ) -> Result<IndexMap<String, sluice_host::HttpMetrics>, Failed> {
        match self {
            Source::Component(job) => extract_within(job, writer, budget, concurrency).await,
            Source::Fed(name, feed) => {
                crate::in_process::extract_fed(name, &mut **feed, writer, progress)
                    .map(|()| IndexMap::new())
                    .map_err(|error| Failed {
                        error,
                        // the one resource is unfinished: nothing of its open package is kept
                        roots: writer
                            .borrow()
                            .resources
                            .iter()
                            .map(|r| r.name.clone())
                            .collect(),
                    })
            }
        }
    }
}

/// How an extraction failed: the error, and the roots it left unfinished.
struct Failed {
    error: PipelineError,
    roots: Vec<String>,
}

/// Seal the last package of a finished extraction; after a failed one, commit what may be
/// kept of it (`salvage.rs`), say so, and return the extraction's error.
fn seal_or_salvage<R>(
    mut writer: extract::Writer<'_>,
    extracted: Result<R, Failed>,
    progress: &dyn Progress,
) -> Result<(R, Duration), PipelineError> {
    let failed = match extracted {
        Ok(r) => {
            return match writer.seal(true) {
                Ok(()) => Ok((r, writer.waited)),
                Err(e) => {
                    writer.discard();
                    Err(e)
                }
            };
        }
        Err(failed) => failed,
    };
    match writer.salvage(&failed.roots) {
        Ok(Some(kept)) => {
            let pages: Vec<String> = kept
                .pages
                .iter()
                .map(|(r, n)| format!("{r}: {n} page{}", if *n == 1 { "" } else { "s" }))
                .collect();
            progress.log(
                "warn",
                &format!(
                    "the extraction failed; what came before the failure is loaded ({}), with its state, so the next run goes on from there",
                    pages.join(", ")
                ),
            );
        }
        Ok(None) => {}
        Err(e) => progress.log(
            "warn",
            &format!("the extraction failed, and loading what came before it failed too: {e}"),
        ),
    }
    Err(failed.error)
}

/// After the loads: export the schema, notify of schema changes, write the trace.
async fn finish(
    run: &Runnable,
    session: Session,
    started: Instant,
) -> Result<RunSummary, PipelineError> {
    let mut summary = session.summary;
    if let Some(dir) = &run.spec.schema.export {
        contracts::export_schema(dir, &session.schema)?;
    }
    if let Some(url) = &run.webhook
        && (!summary.schema_update.is_empty() || !summary.discarded.is_empty())
    {
        let outcome = contracts::notify(url, &contracts::schema_change_message(&summary)).await;
        tracing::info!("{outcome}");
        summary.notifications.push(outcome);
    }
    summary.duration_ms = started.elapsed().as_millis();
    sluice_load::failpoint("run.before_trace");
    // the machine-readable trace of the last run, beside the local state
    let trace = run.workdir.join("trace.json");
    let text = serde_json::to_vec_pretty(&summary).map_err(|e| io_err(&trace, e))?;
    package::write_synced(&trace, &text)?;
    Ok(summary)
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
) -> Result<IndexMap<String, sluice_host::HttpMetrics>, Failed> {
    match tokio::time::timeout(budget, extract_all(job, writer, concurrency)).await {
        Ok(r) => r,
        // a host call blocked past the budget (the page loop checks the deadline itself)
        Err(_) => Err(Failed {
            error: extract::run_time_exceeded(job),
            roots: job
                .resources
                .iter()
                .filter(|r| r.parent.is_none())
                .map(|r| r.name.clone())
                .collect(),
        }),
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
) -> Result<IndexMap<String, sluice_host::HttpMetrics>, Failed> {
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
        let mut failed: Option<Failed> = None;
        for (root, r) in chunk
            .iter()
            .zip(futures_util::future::join_all(running).await)
        {
            match (r, failed.as_mut()) {
                (Ok(m), _) => metrics.extend(m),
                (Err(_), Some(f)) => f.roots.push(root.name.clone()),
                (Err(error), None) => {
                    failed = Some(Failed {
                        error,
                        roots: vec![root.name.clone()],
                    })
                }
            }
        }
        if let Some(f) = failed {
            return Err(f);
        }
    }
    Ok(metrics)
}
