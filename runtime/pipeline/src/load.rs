//! Normalize and load one package inside one destination transaction.
//!
//! A package's pages come either from its files once it is sealed ([`Feed::Sealed`]: pending
//! packages, and runs of several resources, whose pages load in plan order) or from the
//! extraction as it writes them ([`Feed::Live`]: a run of one resource, where arrival order is
//! page order). A live package commits only after the extraction sealed it, so a crash before
//! the seal leaves nothing in the destination and an unsealed package that the next run drops.

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use serde_json::Value;
use sluice_load::{Commit, Destination};
use sluice_normalize::{Normalizer, RecordsFormat};
use sluice_schema::{Schema, WriteDisposition};

use crate::package::{PackageManifest, Packages, PageEntry, Pending};
use crate::state::LocalState;
use crate::{PipelineError, Progress, RunSummary, io_err};

/// Everything loading a package touches: the destination, the schema and local state it
/// advances, the run summary it adds to.
pub struct Loader<'a> {
    pub packages: &'a Packages,
    /// `name@version sha256:digest`, recorded in `_dlt_loads.component`
    pub component: String,
    pub schema: &'a mut Schema,
    pub dest: &'a mut dyn Destination,
    pub local: &'a mut LocalState,
    pub pipeline: String,
    pub summary: &'a mut RunSummary,
    pub progress: &'a dyn Progress,
    /// the pipeline file's current data contracts (they apply to pending packages too)
    pub contracts: &'a crate::contracts::Contracts,
    /// how pages are normalized
    pub normalize: NormalizeSettings,
    /// the load id of the pipeline's newest committed state, as this run knows it
    pub head: StateHead,
}

pub use crate::package::StateHead;

/// How the pages of a package are normalized: the fast path for pages that fit the schema
/// (`[schema] fast_path`) and how far they may grow it (`limits.max_columns`, `max_tables`).
#[derive(Clone, Copy, Debug)]
pub struct NormalizeSettings {
    pub fast_path: bool,
    pub caps: sluice_normalize::SchemaCaps,
}

impl NormalizeSettings {
    pub fn of(spec: &crate::PipelineSpec) -> NormalizeSettings {
        NormalizeSettings {
            fast_path: spec.schema.fast_path,
            caps: sluice_normalize::SchemaCaps {
                max_columns: spec.limits.max_columns.max(1),
                max_tables: spec.limits.max_tables.max(1),
                max_depth: spec.limits.max_nesting_depth.max(1),
                max_key_bytes: spec.limits.max_identifier_bytes.max(1),
            },
        }
    }
}

/// Where a package's pages come from.
pub enum Feed<'f> {
    /// a sealed package: its pages are read from its files, in manifest order
    Sealed(&'f Pending),
    /// pages as the extraction writes them, ending with [`LiveMsg::Sealed`]; a feed that
    /// closes without it was given up (the extraction failed) and is rolled back
    Live(Receiver<LiveMsg>),
}

/// What the extraction hands a live load.
pub enum LiveMsg {
    /// a page, already on disk in the open package
    Page { entry: PageEntry, bytes: Vec<u8> },
    /// the extraction sealed the package: its manifest lists every page sent
    Sealed(Pending),
}

impl Loader<'_> {
    /// Normalize `pending` and load it; on success the package is removed and local schema
    /// and state mirror what was committed.
    pub fn load(&mut self, pending: &Pending) -> Result<(), PipelineError> {
        self.load_feed(&pending.manifest, Feed::Sealed(pending))
    }

    /// Load the package described by `header` (its manifest without pages) from `feed`: it
    /// is committed, or rolled back when a live feed was given up.
    pub fn load_feed(
        &mut self,
        header: &PackageManifest,
        feed: Feed<'_>,
    ) -> Result<(), PipelineError> {
        let db_path = self.dest.describe();
        load_package(PackageLoad {
            packages: self.packages,
            m: header,
            feed,
            component: &self.component,
            schema: self.schema,
            dest: self.dest,
            local: self.local,
            pipeline: &self.pipeline,
            db_path: &db_path,
            summary: self.summary,
            progress: self.progress,
            contracts: self.contracts,
            options: &PackageOptions {
                normalize: self.normalize,
                head: &self.head,
            },
        })
    }
}

/// One package's load: the package, where its pages come from, and the run's context.
struct PackageLoad<'p, 'f> {
    packages: &'p Packages,
    m: &'p PackageManifest,
    feed: Feed<'f>,
    /// `name@version sha256:digest` of the component, for `_dlt_loads`
    component: &'p str,
    schema: &'p mut Schema,
    dest: &'p mut dyn Destination,
    local: &'p mut LocalState,
    pipeline: &'p str,
    /// the destination as shown in errors
    db_path: &'p str,
    summary: &'p mut RunSummary,
    progress: &'p dyn Progress,
    contracts: &'p crate::contracts::Contracts,
    options: &'p PackageOptions<'p>,
}

/// What a package's load takes besides the run's context.
struct PackageOptions<'h> {
    normalize: NormalizeSettings,
    head: &'h StateHead,
}

/// Why a package may not load.
enum Overtaken {
    Load(sluice_load::LoadError),
    /// another worker committed newer state: the load id of the newest
    By(Option<String>),
}

/// Compare-and-swap: a package that carries state loads only while the state it was
/// extracted from is still the destination's newest for the pipeline. Runs under the
/// pipeline's lease, so nothing commits between this check and the package's commit.
fn check_base(
    m: &PackageManifest,
    dest: &mut dyn sluice_load::Destination,
    pipeline: &str,
) -> Result<(), Overtaken> {
    let Some(base) = &m.extracted_from else {
        return Ok(());
    };
    if !m.carries_state() {
        return Ok(());
    }
    let newest = dest
        .stored_state(pipeline)
        .map_err(Overtaken::Load)?
        .map(|s| s.load_id);
    if newest == base.state_load_id {
        Ok(())
    } else {
        Err(Overtaken::By(newest))
    }
}

/// One page's batches on their way from the normalizer to the destination.
struct PageBatches {
    /// the work schema after the page (absent when the page made no rows)
    schema: Option<std::sync::Arc<Schema>>,
    batches: Vec<(String, RecordBatch)>,
    /// rows normalized so far in the package
    rows: u64,
    /// the page's size in bytes
    bytes: u64,
}

/// The next page of a feed, or its end (with the sealed package, unless given up).
enum Next {
    Page(PageEntry, Vec<u8>),
    End(Option<Pending>),
}

impl Feed<'_> {
    fn next(&mut self, pos: &mut usize) -> Result<Next, PipelineError> {
        match self {
            Feed::Sealed(p) => {
                let Some(entry) = p.manifest.pages.get(*pos) else {
                    return Ok(Next::End(Some((*p).clone())));
                };
                *pos += 1;
                let path = p.dir.join(&entry.file);
                let bytes = std::fs::read(&path).map_err(|e| io_err(&path, e))?;
                Ok(Next::Page(entry.clone(), bytes))
            }
            Feed::Live(rx) => Ok(match rx.recv() {
                Ok(LiveMsg::Page { entry, bytes }) => Next::Page(entry, bytes),
                Ok(LiveMsg::Sealed(p)) => Next::End(Some(p)),
                Err(_) => Next::End(None),
            }),
        }
    }
}

fn load_package(job: PackageLoad<'_, '_>) -> Result<(), PipelineError> {
    let PackageLoad {
        packages,
        m,
        mut feed,
        component,
        schema,
        dest,
        local,
        pipeline,
        db_path,
        summary,
        progress,
        contracts,
        options,
    } = job;
    let settings = options.normalize;
    let load_id = &m.load_id;
    let lerr = |source| PipelineError::Load {
        load_id: load_id.clone(),
        destination: db_path.to_owned(),
        source,
    };
    if let Feed::Sealed(pending) = &feed
        && dest.is_loaded(load_id).map_err(lerr)?
    {
        // committed before a crash removed the package: nothing to apply twice
        return packages.finish(pending);
    }
    if let Feed::Sealed(_) = &feed {
        check_base(m, &mut *dest, pipeline).map_err(|e| match e {
            Overtaken::Load(source) => lerr(source),
            Overtaken::By(newest) => PipelineError::Overtaken {
                load_id: load_id.clone(),
                extracted_from: m
                    .extracted_from
                    .as_ref()
                    .and_then(|b| b.state_load_id.clone()),
                newest,
            },
        })?;
    }
    let live = matches!(feed, Feed::Live(_));
    // time spent in the destination (appends, then the commit) and normalizing
    let mut loading = Duration::ZERO;
    let mut normalizing = Duration::ZERO;
    if live {
        progress.stage("load", &format!("package {load_id}, while extracting"));
    } else {
        progress.stage("normalize", &format!("package {load_id}"));
    }
    let mut work = schema.clone();
    let mut normalizer = Normalizer::new(load_id, m.salt, dest.max_identifier_len());
    normalizer.set_fast_path(settings.fast_path);
    normalizer.set_caps(settings.caps);
    dest.begin(load_id).map_err(lerr)?;
    let mut largest = 0;
    if let Feed::Sealed(pending) = &feed {
        largest = m
            .pages
            .iter()
            .filter_map(|p| std::fs::metadata(pending.dir.join(&p.file)).ok())
            .map(|meta| meta.len())
            .max()
            .unwrap_or(0);
        dest.expect_largest_page(largest).map_err(lerr)?;
    }
    let mut checkpoints: Vec<(String, Value)> = Vec::new();
    // the package's resources under the pipeline file's current contracts, once
    let hints: Vec<sluice_normalize::ResourceTable> = m
        .resources
        .iter()
        .map(|r| {
            let mut h = r.hints.clone();
            contracts.apply(&mut h);
            h
        })
        .collect();
    // the chains this package replaces from scratch (later packages of a run append to them)
    let replaced: Vec<String> = m
        .resources
        .iter()
        .zip(&hints)
        .filter(|(r, _)| r.hints.write_disposition == WriteDisposition::Replace && !r.continues_run)
        .map(|(_, rt)| normalizer.root_table_name(rt))
        .collect();
    dest.replaces(&replaced);
    // Normalizing (a scoped thread, itself parallel) runs one page ahead of the destination's
    // appends (this thread): batches go through a channel of two pages, in order.
    let (tx, rx) = std::sync::mpsc::sync_channel::<PageBatches>(2);
    let (normalized, written) = std::thread::scope(|scope| {
        let producer = scope.spawn(|| -> Result<Option<Pending>, PipelineError> {
            // owned here, so the channel closes when normalizing ends
            let tx = tx;
            let mut pos = 0;
            loop {
                let (page, bytes) = match feed.next(&mut pos)? {
                    Next::Page(page, bytes) => (page, bytes),
                    Next::End(sealed) => return Ok(sealed),
                };
                let Some((r, rt)) = m
                    .resources
                    .iter()
                    .zip(&hints)
                    .find(|(r, _)| r.name == page.resource)
                else {
                    continue;
                };
                if r.hints.write_disposition == WriteDisposition::Skip {
                    continue;
                }
                let n = Instant::now();
                let fmt = if page.format == "ndjson" {
                    RecordsFormat::Ndjson
                } else {
                    RecordsFormat::JsonArray
                };
                let nerr = |source| PipelineError::Normalize {
                    pipeline: pipeline.to_owned(),
                    load_id: load_id.clone(),
                    resource: r.name.clone(),
                    page: page.seq + 1,
                    source,
                };
                normalizer
                    .add_page_bytes(&mut work, rt, page.seq, &bytes, fmt)
                    .map_err(nerr)?;
                let batches = normalizer.take_batches(&work).map_err(nerr)?;
                if let Some(cp) = &page.checkpoint {
                    let v: Value = serde_json::from_str(cp).map_err(|e| PipelineError::Page {
                        connector: m.source.clone(),
                        resource: r.name.clone(),
                        page: page.seq + 1,
                        reason: format!("state checkpoint is not valid JSON: {e}"),
                    })?;
                    checkpoints.retain(|(n, _)| n != &r.name);
                    checkpoints.push((r.name.clone(), v));
                }
                let out = PageBatches {
                    // the schema as the batches left it (what the destination creates from)
                    schema: (!batches.is_empty()).then(|| std::sync::Arc::new(work.clone())),
                    batches,
                    rows: normalizer.row_counts().values().sum(),
                    bytes: bytes.len() as u64,
                };
                normalizing += n.elapsed();
                if tx.send(out).is_err() {
                    // the destination failed: its error is the one reported
                    return Ok(None);
                }
            }
        });
        let mut written = Ok(());
        for page in rx.iter() {
            let w = Instant::now();
            if page.bytes > largest {
                // a live feed learns its page sizes as they come
                largest = page.bytes;
                written = dest.expect_largest_page(largest).map_err(lerr);
            }
            if let Some(schema) = page.schema.as_ref().filter(|_| written.is_ok()) {
                for (table, batch) in &page.batches {
                    let Some(t) = schema.tables.get(table) else {
                        continue;
                    };
                    written = dest.write_batch(schema, t, batch).map_err(lerr);
                    if written.is_err() {
                        break;
                    }
                    sluice_load::failpoint("load.mid_staging");
                }
            }
            loading += w.elapsed();
            if written.is_err() {
                break;
            }
            progress.rows(page.rows);
        }
        // a failed destination stops the producer at its next page
        drop(rx);
        let normalized = producer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (normalized, written)
    });
    let sealed = match normalized.and_then(|sealed| written.map(|()| sealed)) {
        Ok(Some(sealed)) => sealed,
        Ok(None) => {
            // the extraction gave the package up: nothing of it stays
            let _ = dest.rollback();
            return Ok(());
        }
        Err(e) => {
            let _ = dest.rollback();
            return Err(e);
        }
    };
    let m = &sealed.manifest;
    *summary.stage_ms.entry("normalize".into()).or_default() += normalizing.as_millis();
    let t = Instant::now();
    progress.stage("load", &format!("package {load_id}"));
    // every resource's chain, in plan order (replace chains empty even without new rows)
    let mut roots: Vec<String> = Vec::new();
    let mut append_only: Vec<String> = Vec::new();
    for (r, rt) in m.resources.iter().zip(&hints) {
        if r.hints.write_disposition == WriteDisposition::Skip {
            continue;
        }
        // an incremental resource without new rows leaves its tables alone (dlt#3998)
        if r.incremental.is_some() && !m.pages.iter().any(|p| p.resource == r.name) {
            continue;
        }
        if normalizer.refuses_root(&work, rt) {
            // a contract refused the new table: nothing of it is created
            continue;
        }
        let root = normalizer.ensure_root_table(&mut work, &r.hints);
        // a later package of the same run adds to what the first one replaced
        if r.continues_run && r.hints.write_disposition == WriteDisposition::Replace {
            append_only.push(root.clone());
        }
        if !roots.contains(&root) {
            roots.push(root);
        }
    }
    normalizer.finish(&mut work);
    work.bump_version();
    let mut new_state = local.with_checkpoints(
        pipeline,
        &summary.dataset,
        &work.name,
        &m.source,
        &checkpoints,
    );
    let state_row = local.state_row(&mut new_state, pipeline);
    let commit = Commit {
        schema: &work,
        roots: &roots,
        append_only: &append_only,
        state: state_row.as_ref(),
        component: Some(component),
    };
    sluice_load::failpoint("load.before_commit");
    if let Err(e) = dest.commit(&commit) {
        let _ = dest.rollback();
        return Err(lerr(e));
    }
    sluice_load::failpoint("load.after_db_commit");
    if state_row.is_some()
        && let Ok(mut head) = options.head.lock()
    {
        *head = Some(load_id.clone());
    }
    local.save(&work, new_state)?;
    *schema = work;
    sluice_load::failpoint("load.after_local_save");
    packages.finish(&sealed)?;
    *summary.stage_ms.entry("load".into()).or_default() += (loading + t.elapsed()).as_millis();
    for (t, n) in normalizer.row_counts() {
        *summary.tables.entry(t.clone()).or_default() += n;
    }
    summary
        .schema_update
        .extend(normalizer.schema_update().clone());
    summary.normalize_paths.add(normalizer.path_stats());
    for (t, c) in normalizer.collisions() {
        let s = summary.key_collisions.entry(t.clone()).or_default();
        s.rows += c.rows;
        for name in &c.columns {
            if !s.columns.contains(name) {
                s.columns.push(name.clone());
            }
        }
    }
    for (t, d) in normalizer.discards() {
        let s = summary.discarded.entry(t.clone()).or_default();
        s.rows += d.rows;
        s.values += d.values;
        for c in &d.columns {
            if !s.columns.contains(c) {
                s.columns.push(c.clone());
            }
        }
    }
    summary.load_ids.push(load_id.clone());
    Ok(())
}
