//! Normalize and load one package inside one destination transaction.
//!
//! A package's pages come either from its files once it is sealed ([`Feed::Sealed`]: pending
//! packages, and runs of several resources, whose pages load in plan order) or from the
//! extraction as it writes them ([`Feed::Live`]: a run of one resource, where arrival order is
//! page order). A live package commits only after the extraction sealed it, so a crash before
//! the seal leaves nothing in the destination and an unsealed package that the next run drops.

use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use serde_json::Value;
use sluice_load::{Commit, Destination};
use sluice_normalize::{Normalizer, RecordsFormat, ResourceTable};
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
    /// dlt's columns on Arrow pages (`[schema] arrow_dlt_load_id`, `arrow_dlt_id`)
    pub arrow_ids: sluice_normalize::ArrowIds,
}

impl NormalizeSettings {
    pub fn of(spec: &crate::PipelineSpec) -> NormalizeSettings {
        NormalizeSettings {
            fast_path: spec.schema.fast_path,
            arrow_ids: sluice_normalize::ArrowIds {
                load_id: spec.schema.arrow_dlt_load_id,
                row_id: spec.schema.arrow_dlt_id,
            },
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
        if let Feed::Sealed(pending) = &feed
            && self.preflight(pending)?
        {
            // committed before a crash removed the package: nothing to apply twice
            return self.packages.finish(pending);
        }
        let mut work = self.open(header, &feed)?;
        let sealed = match self.stream(header, feed, &mut work) {
            Ok(Some(sealed)) => sealed,
            Ok(None) => {
                // the extraction gave the package up: nothing of it stays
                let _ = self.dest.rollback();
                return Ok(());
            }
            Err(e) => {
                let _ = self.dest.rollback();
                return Err(e);
            }
        };
        *self.summary.stage_ms.entry("normalize".into()).or_default() +=
            work.normalizing.as_millis();
        let t = Instant::now();
        self.progress
            .stage("load", &format!("package {}", header.load_id));
        self.commit(&sealed, &mut work)?;
        work.loading += t.elapsed();
        self.report(&header.load_id, &work);
        Ok(())
    }

    fn load_err(&self, load_id: &str) -> impl Fn(sluice_load::LoadError) -> PipelineError + use<> {
        let (load_id, destination) = (load_id.to_owned(), self.dest.describe());
        let pipeline = self.pipeline.clone();
        move |source| PipelineError::PackageLoad {
            pipeline: pipeline.clone(),
            load_id: load_id.clone(),
            destination: destination.clone(),
            source,
        }
    }

    /// Whether a sealed package was committed already; an error when another worker's newer
    /// state overtook it.
    fn preflight(&mut self, pending: &Pending) -> Result<bool, PipelineError> {
        let m = &pending.manifest;
        let lerr = self.load_err(&m.load_id);
        if self.dest.is_loaded(&m.load_id).map_err(&lerr)? {
            return Ok(true);
        }
        check_base(m, &mut *self.dest, &self.pipeline).map_err(|e| match e {
            Overtaken::Load(source) => lerr(source),
            Overtaken::By(newest) => PipelineError::Overtaken {
                load_id: m.load_id.clone(),
                extracted_from: m
                    .extracted_from
                    .as_ref()
                    .and_then(|b| b.state_load_id.clone()),
                newest,
            },
        })?;
        Ok(false)
    }

    /// Begin the package in the destination and set up its normalization.
    fn open(&mut self, m: &PackageManifest, feed: &Feed<'_>) -> Result<Work, PipelineError> {
        let load_id = &m.load_id;
        let lerr = self.load_err(load_id);
        if matches!(feed, Feed::Live(_)) {
            self.progress
                .stage("load", &format!("package {load_id}, while extracting"));
        } else {
            self.progress
                .stage("normalize", &format!("package {load_id}"));
        }
        let mut normalizer = Normalizer::new(load_id, m.salt, self.dest.max_identifier_len());
        normalizer.set_fast_path(self.normalize.fast_path);
        normalizer.set_caps(self.normalize.caps);
        normalizer.set_arrow_ids(self.normalize.arrow_ids);
        self.dest.begin(load_id).map_err(&lerr)?;
        let mut largest = 0;
        if let Feed::Sealed(pending) = feed {
            largest = m
                .pages
                .iter()
                .filter_map(|p| std::fs::metadata(pending.dir.join(&p.file)).ok())
                .map(|meta| meta.len())
                .max()
                .unwrap_or(0);
            self.dest.expect_largest_page(largest).map_err(&lerr)?;
        }
        // the package's resources under the pipeline file's current contracts, once
        let hints: Vec<ResourceTable> = m
            .resources
            .iter()
            .map(|r| {
                let mut h = r.hints.clone();
                self.contracts.apply(&mut h);
                h
            })
            .collect();
        // the chains this package replaces from scratch (later packages of a run append)
        let replaced: Vec<String> = m
            .resources
            .iter()
            .zip(&hints)
            .filter(|(r, _)| {
                r.hints.write_disposition == WriteDisposition::Replace && !r.continues_run
            })
            .map(|(_, rt)| normalizer.root_table_name(rt))
            .collect();
        self.dest.replaces(&replaced);
        Ok(Work {
            normalizer,
            schema: self.schema.clone(),
            hints,
            checkpoints: Vec::new(),
            largest,
            normalizing: Duration::ZERO,
            loading: Duration::ZERO,
        })
    }

    /// Normalize the feed's pages (a scoped thread, itself parallel) one page ahead of the
    /// destination's appends (this thread): batches go through a channel of two pages, in
    /// order. Returns the sealed package, or `None` when the extraction gave it up.
    fn stream(
        &mut self,
        m: &PackageManifest,
        feed: Feed<'_>,
        work: &mut Work,
    ) -> Result<Option<Pending>, PipelineError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<PageBatches>(2);
        let lerr = self.load_err(&m.load_id);
        let producer = Producer {
            m,
            feed,
            pipeline: &self.pipeline,
            normalizer: &mut work.normalizer,
            schema: &mut work.schema,
            hints: &work.hints,
            checkpoints: &mut work.checkpoints,
            normalizing: &mut work.normalizing,
        };
        let dest = &mut *self.dest;
        let progress = self.progress;
        let (largest, loading) = (&mut work.largest, &mut work.loading);
        let (normalized, written) = std::thread::scope(|scope| {
            let producer = scope.spawn(move || producer.run(tx));
            let mut written = Ok(());
            for page in rx.iter() {
                let w = Instant::now();
                written = write_page(dest, &page, largest).map_err(&lerr);
                *loading += w.elapsed();
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
        normalized.and_then(|sealed| written.map(|()| sealed))
    }

    /// Commit the sealed package with its schema and state; then local schema and state
    /// mirror it and the package leaves the disk.
    fn commit(&mut self, sealed: &Pending, work: &mut Work) -> Result<(), PipelineError> {
        let m = &sealed.manifest;
        let load_id = &m.load_id;
        let (roots, append_only) = chains(m, work);
        work.normalizer.finish(&mut work.schema);
        work.schema.bump_version();
        let mut new_state = self.local.with_checkpoints(
            &self.pipeline,
            &self.summary.dataset,
            &work.schema.name,
            &m.source,
            &work.checkpoints,
        );
        let state_row = self.local.state_row(&mut new_state, &self.pipeline);
        let commit = Commit {
            schema: &work.schema,
            roots: &roots,
            append_only: &append_only,
            state: state_row.as_ref(),
            component: Some(&self.component),
        };
        sluice_load::failpoint("load.before_commit");
        if let Err(e) = self.dest.commit(&commit) {
            let _ = self.dest.rollback();
            return Err(self.load_err(load_id)(e));
        }
        sluice_load::failpoint("load.after_db_commit");
        if state_row.is_some()
            && let Ok(mut head) = self.head.lock()
        {
            *head = Some(load_id.clone());
        }
        self.local.save(&work.schema, new_state)?;
        std::mem::swap(self.schema, &mut work.schema);
        sluice_load::failpoint("load.after_local_save");
        self.packages.finish(sealed)
    }

    /// Add a committed package's figures to the run summary.
    fn report(&mut self, load_id: &str, work: &Work) {
        let summary = &mut *self.summary;
        let normalizer = &work.normalizer;
        *summary.stage_ms.entry("load".into()).or_default() += work.loading.as_millis();
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
        summary.load_ids.push(load_id.to_owned());
    }
}

/// What a package's load builds up as its pages are normalized.
struct Work {
    normalizer: Normalizer,
    /// the schema as the package evolves it (the run's schema once committed)
    schema: Schema,
    /// the package's resources under the pipeline file's current contracts
    hints: Vec<ResourceTable>,
    /// the newest state checkpoint of each resource
    checkpoints: Vec<(String, Value)>,
    /// the largest page so far (bytes)
    largest: u64,
    /// time spent normalizing, and in the destination (appends, then the commit)
    normalizing: Duration,
    loading: Duration,
}

/// Every resource's chain, in plan order (replace chains empty even without new rows), and
/// the roots applied as `append` (a later package of a run adds to what the first replaced).
fn chains(m: &PackageManifest, work: &mut Work) -> (Vec<String>, Vec<String>) {
    let mut roots: Vec<String> = Vec::new();
    let mut append_only: Vec<String> = Vec::new();
    for (r, rt) in m.resources.iter().zip(&work.hints) {
        if r.hints.write_disposition == WriteDisposition::Skip {
            continue;
        }
        // an incremental resource without new rows leaves its tables alone (dlt#3998)
        if r.incremental.is_some() && !m.pages.iter().any(|p| p.resource == r.name) {
            continue;
        }
        if work.normalizer.refuses_root(&work.schema, rt) {
            // a contract refused the new table: nothing of it is created
            continue;
        }
        let root = work
            .normalizer
            .ensure_root_table(&mut work.schema, &r.hints);
        if r.continues_run && r.hints.write_disposition == WriteDisposition::Replace {
            append_only.push(root.clone());
        }
        if !roots.contains(&root) {
            roots.push(root);
        }
    }
    (roots, append_only)
}

/// Append one normalized page's batches to the open package.
fn write_page(
    dest: &mut dyn Destination,
    page: &PageBatches,
    largest: &mut u64,
) -> Result<(), sluice_load::LoadError> {
    if page.bytes > *largest {
        // a live feed learns its page sizes as they come
        *largest = page.bytes;
        dest.expect_largest_page(*largest)?;
    }
    let Some(schema) = &page.schema else {
        return Ok(());
    };
    for (table, batch) in &page.batches {
        let Some(t) = schema.tables.get(table) else {
            continue;
        };
        dest.write_batch(schema, t, batch)?;
        sluice_load::failpoint("load.mid_staging");
    }
    Ok(())
}

/// Normalizes a feed's pages on the producer thread.
struct Producer<'p, 'f> {
    m: &'p PackageManifest,
    feed: Feed<'f>,
    pipeline: &'p str,
    normalizer: &'p mut Normalizer,
    schema: &'p mut Schema,
    hints: &'p [ResourceTable],
    checkpoints: &'p mut Vec<(String, Value)>,
    normalizing: &'p mut Duration,
}

impl Producer<'_, '_> {
    /// Normalize each page and send its batches; the end of the feed (sealed, or given up)
    /// ends it. The channel closes when this returns.
    fn run(mut self, tx: SyncSender<PageBatches>) -> Result<Option<Pending>, PipelineError> {
        let mut pos = 0;
        loop {
            let (page, bytes) = match self.feed.next(&mut pos)? {
                Next::Page(page, bytes) => (page, bytes),
                Next::End(sealed) => return Ok(sealed),
            };
            let n = Instant::now();
            let Some(out) = self.page(&page, &bytes)? else {
                continue;
            };
            *self.normalizing += n.elapsed();
            if tx.send(out).is_err() {
                // the destination failed: its error is the one reported
                return Ok(None);
            }
        }
    }

    /// One page normalized into batches (`None`: its resource is not loaded), its state
    /// checkpoint kept.
    fn page(
        &mut self,
        page: &PageEntry,
        bytes: &[u8],
    ) -> Result<Option<PageBatches>, PipelineError> {
        let Some((r, rt)) = self
            .m
            .resources
            .iter()
            .zip(self.hints)
            .find(|(r, _)| r.name == page.resource)
        else {
            return Ok(None);
        };
        if r.hints.write_disposition == WriteDisposition::Skip {
            return Ok(None);
        }
        let fmt = match page.format.as_str() {
            "ndjson" => Some(RecordsFormat::Ndjson),
            "arrow" => None,
            _ => Some(RecordsFormat::JsonArray),
        };
        let nerr = |source| PipelineError::Normalize {
            pipeline: self.pipeline.to_owned(),
            load_id: self.m.load_id.clone(),
            resource: r.name.clone(),
            page: page.seq + 1,
            source,
        };
        match fmt {
            Some(fmt) => self
                .normalizer
                .add_page_bytes(self.schema, rt, page.seq, bytes, fmt),
            None => self
                .normalizer
                .add_arrow_page(self.schema, rt, page.seq, bytes),
        }
        .map_err(nerr)?;
        let batches = self.normalizer.take_batches(self.schema).map_err(nerr)?;
        if let Some(cp) = &page.checkpoint {
            let v: Value = serde_json::from_str(cp).map_err(|e| PipelineError::Page {
                connector: self.m.source.clone(),
                resource: r.name.clone(),
                page: page.seq + 1,
                reason: format!("state checkpoint is not valid JSON: {e}"),
            })?;
            self.checkpoints.retain(|(n, _)| n != &r.name);
            self.checkpoints.push((r.name.clone(), v));
        }
        Ok(Some(PageBatches {
            // the schema as the batches left it (what the destination creates from)
            schema: (!batches.is_empty()).then(|| std::sync::Arc::new(self.schema.clone())),
            batches,
            rows: self.normalizer.row_counts().values().sum(),
            bytes: bytes.len() as u64,
        }))
    }
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
