//! Extract: pull pages from a connector instance and write each to the open package as it
//! arrives. The next page is requested only after the previous one is on disk, so memory
//! holds at most one page per resource whatever the source size.
//!
//! Incremental resources pass every page through their [`Tracker`] (window filter, boundary
//! dedup) and carry the cursor state in the page's checkpoint. With `limits.package_rows` /
//! `limits.package_mb` a long extraction seals and loads a package whenever the limit is
//! reached, so a run killed after hours resumes from its last committed checkpoint.

use std::cell::RefCell;
use std::path::PathBuf;

use serde_json::Value;
use sluice_host::{Connector, Page, RecordsFormat, Sandbox, Window};

use crate::incremental::Tracker;
use crate::package::{PackageManifest, Packages, PageEntry, StateHead, write_page};
use crate::sink::PackageSink;
use crate::state::LocalState;
use crate::{PipelineError, PlannedResource, Progress, io_err};

/// Records of a page as JSON values.
fn records_of(page: &Page) -> Result<Vec<Value>, String> {
    let fmt = match page.format {
        RecordsFormat::JsonArray => sluice_normalize::RecordsFormat::JsonArray,
        RecordsFormat::Ndjson => sluice_normalize::RecordsFormat::Ndjson,
        RecordsFormat::ArrowIpc => {
            return sluice_normalize::arrow_rows_json(&page.records).map_err(|e| e.to_string());
        }
    };
    sluice_normalize::parse_page(&page.records, fmt).map_err(|e| e.to_string())
}

/// The host's syntax check of a page a connector hands over, so that a sealed package always
/// normalizes: a malformed page fails the extraction here, naming its line or field, and
/// never reaches a package.
fn check_syntax(page: &Page) -> Result<(), sluice_normalize::NormalizeError> {
    match page.format {
        RecordsFormat::JsonArray => {
            sluice_normalize::check_page(&page.records, sluice_normalize::RecordsFormat::JsonArray)
        }
        RecordsFormat::Ndjson => {
            sluice_normalize::check_page(&page.records, sluice_normalize::RecordsFormat::Ndjson)
        }
        RecordsFormat::ArrowIpc => sluice_normalize::check_arrow_page(&page.records),
    }
}

/// How many records a page holds (only computed when a row limit needs it).
fn count_records(page: &Page) -> u64 {
    match page.format {
        RecordsFormat::Ndjson => page
            .records
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .count() as u64,
        RecordsFormat::JsonArray => {
            serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(&page.records)
                .map(|v| v.len() as u64)
                .unwrap_or(0)
        }
        RecordsFormat::ArrowIpc => sluice_normalize::arrow_row_count(&page.records).unwrap_or(0),
    }
}

/// A page's records as one JSON array, for dependent resources.
fn as_json_array(page: &Page) -> Result<Vec<u8>, String> {
    match page.format {
        RecordsFormat::JsonArray => Ok(page.records.clone()),
        RecordsFormat::ArrowIpc => {
            let rows =
                sluice_normalize::arrow_rows_json(&page.records).map_err(|e| e.to_string())?;
            serde_json::to_vec(&rows).map_err(|e| e.to_string())
        }
        RecordsFormat::Ndjson => {
            let mut out = vec![b'['];
            let mut first = true;
            for line in page.records.split(|b| *b == b'\n') {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                serde_json::from_slice::<serde::de::IgnoredAny>(line)
                    .map_err(|e| format!("invalid JSON record: {e}"))?;
                if !first {
                    out.push(b',');
                }
                out.extend_from_slice(line);
                first = false;
            }
            out.push(b']');
            Ok(out)
        }
    }
}

pub(crate) struct OpenPackage {
    /// the manifest so far (its pages are listed at the seal)
    pub(crate) manifest: PackageManifest,
    pub(crate) tmp: PathBuf,
    pub(crate) pages: Vec<PageEntry>,
    rows: u64,
    bytes: u64,
}

/// Writes pages into packages, sealing and loading one whenever the package limits are
/// reached (and once at the end).
pub struct Writer<'a> {
    packages: &'a Packages,
    source: String,
    version: String,
    pub(crate) resources: Vec<PlannedResource>,
    max_rows: Option<u64>,
    max_bytes: Option<u64>,
    pub(crate) open: Option<OpenPackage>,
    /// where the packages go once opened, paged and sealed
    pub(crate) sink: Box<dyn PackageSink + 'a>,
    /// per resource, its pages written up to the last point where a root page and every
    /// dependent page for it were in (what a failed extraction may keep, `salvage.rs`)
    pub(crate) clean: std::collections::HashMap<String, u64>,
    /// resources whose rows came out of cursor order: their state cannot resume a failed
    /// extraction
    pub(crate) unordered: std::collections::HashSet<String>,
    /// the newest committed state, stamped into each package as it opens
    head: StateHead,
    pub packages_loaded: usize,
    /// time the extraction waited on loads: sealed packages', and a live load's full feed
    pub waited: std::time::Duration,
}

impl<'a> Writer<'a> {
    pub fn new(
        packages: &'a Packages,
        source: &str,
        version: &str,
        resources: Vec<PlannedResource>,
        limits: &crate::Limits,
        sink: Box<dyn PackageSink + 'a>,
        head: StateHead,
    ) -> Self {
        Writer {
            packages,
            source: source.to_owned(),
            version: version.to_owned(),
            resources,
            max_rows: limits.package_rows,
            max_bytes: limits.package_mb.map(|m| m << 20),
            open: None,
            sink,
            clean: Default::default(),
            unordered: Default::default(),
            head,
            packages_loaded: 0,
            waited: std::time::Duration::ZERO,
        }
    }

    /// Start a package and tell the sink.
    fn open_package(&mut self) -> Result<OpenPackage, PipelineError> {
        let load_id = crate::new_load_id_after(self.packages)?;
        let tmp = self.packages.begin(&load_id)?;
        let mut resources = self.resources.clone();
        for r in &mut resources {
            r.continues_run = self.packages_loaded > 0;
        }
        let mut manifest = PackageManifest::new(&load_id, &self.source, &self.version, resources);
        manifest.extracted_from = Some(crate::package::StateBase {
            state_load_id: self.head.lock().ok().and_then(|h| h.clone()),
        });
        self.sink.opened(&manifest);
        Ok(OpenPackage {
            manifest,
            tmp,
            pages: Vec::new(),
            rows: 0,
            bytes: 0,
        })
    }

    /// Write `page` into the open package (opening one if needed) and hand it to a live load:
    /// the page is consumed, so its buffer moves to the loader instead of being copied.
    pub(crate) fn write(
        &mut self,
        resource: &str,
        seq: u64,
        page: Page,
        rows: Option<u64>,
    ) -> Result<(), PipelineError> {
        if self.open.is_none() {
            self.open = Some(self.open_package()?);
        }
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        let ext = match page.format {
            RecordsFormat::JsonArray => "json",
            RecordsFormat::Ndjson => "ndjson",
            RecordsFormat::ArrowIpc => "arrow",
        };
        // named by the resource's index, never by its (connector-chosen) name
        let index = self
            .resources
            .iter()
            .position(|r| r.name == resource)
            .unwrap_or(self.resources.len());
        let rdir = open.tmp.join(format!("r{index:04}"));
        std::fs::create_dir_all(&rdir).map_err(|e| io_err(&rdir, e))?;
        let file = format!("r{index:04}/{seq:08}.{ext}");
        write_page(&open.tmp.join(&file), &page.records)?;
        let entry = PageEntry {
            resource: resource.to_owned(),
            seq,
            file,
            format: ext.to_owned(),
            bytes: page.records.len() as u64,
            checkpoint: page.checkpoint.clone(),
        };
        open.bytes += page.records.len() as u64;
        open.rows += match (rows, self.max_rows) {
            (Some(n), _) => n,
            (None, Some(_)) => count_records(&page),
            (None, None) => 0,
        };
        // a sink that is behind blocks here (counted as waiting, not extracting)
        let sent = std::time::Instant::now();
        let failed = !self.sink.page(&entry, page.records);
        self.waited += sent.elapsed();
        open.pages.push(entry);
        let full = self.max_rows.is_some_and(|m| open.rows >= m)
            || self.max_bytes.is_some_and(|m| open.bytes >= m);
        // a live load that failed ends the package here: sealed with the pages written so
        // far (a whole package, its state that of its last page), the load's error reported
        if full || failed {
            self.seal(false)?;
        }
        Ok(())
    }

    /// Seal the open package and load it. With `at_end` and nothing open, a package is still
    /// made when the run must change the destination without pages (a `replace` resource).
    pub fn seal(&mut self, at_end: bool) -> Result<(), PipelineError> {
        let started = std::time::Instant::now();
        let result = self.seal_open(at_end);
        self.waited += started.elapsed();
        result
    }

    fn seal_open(&mut self, at_end: bool) -> Result<(), PipelineError> {
        let open = match self.open.take() {
            Some(o) => o,
            None => {
                let needs_load = at_end
                    && self.packages_loaded == 0
                    && self.resources.iter().any(|r| {
                        r.hints.write_disposition == sluice_schema::WriteDisposition::Replace
                            && r.incremental.is_none()
                    });
                if !needs_load {
                    return Ok(());
                }
                self.open_package()?
            }
        };
        let mut manifest = open.manifest;
        let mut pages = open.pages;
        // plan order, then page order: the same schema whatever the extraction interleaving
        pages.sort_by_key(|e| {
            (
                self.resources.iter().position(|r| r.name == e.resource),
                e.seq,
            )
        });
        manifest.pages = pages;
        let pkg = match self.packages.commit(&open.tmp, &manifest) {
            Ok(pkg) => pkg,
            Err(e) => {
                self.sink.abandoned();
                return Err(e);
            }
        };
        sluice_load::failpoint("package.after_seal");
        self.sink.sealed(pkg)?;
        self.packages_loaded += 1;
        if !at_end {
            sluice_load::failpoint("extract.after_checkpoint_package");
        }
        Ok(())
    }

    /// A root page and its dependents' pages for it are all written: the streams' page
    /// counts are a point a failed extraction may keep up to.
    pub(crate) fn mark_clean(&mut self, marks: Vec<(String, u64, bool)>) {
        for (resource, seq, unordered) in marks {
            if unordered {
                self.unordered.insert(resource.clone());
            }
            self.clean.insert(resource, seq);
        }
    }

    /// Drop the open package after a failed extraction (committed packages stay committed).
    pub fn discard(&mut self) {
        if let Some(open) = self.open.take() {
            self.sink.abandoned();
            self.packages.discard(&open.tmp);
        }
    }
}

/// What one resource extraction needs.
pub struct Job<'r> {
    pub pipeline: &'r str,
    pub connector: &'r Connector,
    pub source: &'r str,
    pub sandbox: &'r Sandbox,
    pub config: &'r str,
    pub local: &'r LocalState,
    pub resources: &'r [PlannedResource],
    pub max_page: u64,
    /// largest checkpoint, bytes
    pub max_state: u64,
    /// when the run's extraction must have ended (limits.run_timeout_secs)
    pub deadline: std::time::Instant,
    pub run_timeout_secs: u64,
    pub progress: &'r dyn Progress,
}

/// The resource state to commit with a page: the connector's checkpoint (or the state so
/// far) with the incremental cursor state set under `incremental.<cursor_path>`.
fn merge_checkpoint(base: &Option<Value>, tracker: Option<(&Tracker, &str)>) -> Option<String> {
    let Some(inc) = tracker.and_then(|(t, path)| t.state().map(|s| (s, path))) else {
        return base.as_ref().map(Value::to_string);
    };
    let (inc, path) = inc;
    let mut st = match base {
        Some(Value::Object(m)) => Value::Object(m.clone()),
        Some(other) => serde_json::json!({ "connector": other }),
        None => serde_json::json!({}),
    };
    st["incremental"][path] = inc;
    Some(st.to_string())
}

/// The checks every page passes, of a root resource or a dependent one: the run's deadline,
/// the page size limit, and the state checkpoint's size and syntax. Returns the checkpoint
/// as JSON.
fn admit_page(
    job: &Job<'_>,
    resource: &str,
    seq: u64,
    page: &Page,
) -> Result<Option<Value>, PipelineError> {
    let page_err = |reason: String| PipelineError::Page {
        connector: job.connector.name.clone(),
        resource: resource.to_owned(),
        page: seq + 1,
        reason,
    };
    if std::time::Instant::now() > job.deadline {
        return Err(run_time_exceeded(job));
    }
    if page.records.len() as u64 > job.max_page {
        return Err(page_err(format!(
            "page of {} bytes exceeds the page size limit of {} MiB (limits.max_page_mb)",
            page.records.len(),
            job.max_page >> 20
        )));
    }
    check_syntax(page).map_err(|e| page_err(e.to_string()))?;
    let Some(cp) = &page.checkpoint else {
        return Ok(None);
    };
    if cp.len() as u64 > job.max_state {
        return Err(page_err(format!(
            "state checkpoint of {} bytes exceeds the state size limit of {} KiB (limits.max_state_kb)",
            cp.len(),
            job.max_state >> 10
        )));
    }
    serde_json::from_str(cp)
        .map(Some)
        .map_err(|e| page_err(format!("state checkpoint is not valid JSON: {e}")))
}

/// The error of a run past its time budget.
pub fn run_time_exceeded(job: &Job<'_>) -> PipelineError {
    PipelineError::Config {
        pipeline: job.pipeline.to_owned(),
        reason: format!(
            "connector `{}` exceeded the run time limit of {} s (limits.run_timeout_secs); \
             packages committed before it stay, the open one is discarded",
            job.connector.name, job.run_timeout_secs
        ),
    }
}

/// HTTP counters per resource.
pub type ResourceHttp = Vec<(String, sluice_host::HttpMetrics)>;

/// What a run keeps of one resource across its pages (a dependent one's across all its
/// parent's pages): the page count, the incremental tracker and window, the state so far, its
/// own HTTP counts, and its own dependents.
struct Stream<'p> {
    res: &'p PlannedResource,
    seq: u64,
    bytes: u64,
    tracker: Option<Tracker>,
    window: Option<Window>,
    /// the resource's committed state, as the connector is opened with it
    committed: Option<String>,
    /// the resource state as of the last page: the committed one, then each checkpoint
    state_so_far: Option<Value>,
    last_checkpoint: Option<String>,
    http: sluice_host::HttpMetrics,
    dependents: Vec<Stream<'p>>,
}

impl<'p> Stream<'p> {
    fn new(job: &Job<'p>, res: &'p PlannedResource) -> Result<Stream<'p>, PipelineError> {
        let committed = job.local.resource_state(job.source, &res.name);
        let tracker = tracker_for(job, res, committed.as_deref())?;
        let window = tracker.as_ref().map(|t| {
            let (start_value, end_value, last_value) = t.window();
            Window {
                start_value,
                end_value,
                last_value,
            }
        });
        let state_so_far: Option<Value> = committed
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        let dependents = job
            .resources
            .iter()
            .filter(|r| r.parent.as_deref() == Some(res.name.as_str()))
            .map(|r| Stream::new(job, r))
            .collect::<Result<_, _>>()?;
        Ok(Stream {
            res,
            seq: 0,
            bytes: 0,
            tracker,
            window,
            last_checkpoint: state_so_far.as_ref().map(Value::to_string),
            state_so_far,
            committed,
            http: sluice_host::HttpMetrics::default(),
            dependents,
        })
    }

    fn page_err(&self, job: &Job<'_>, reason: String) -> PipelineError {
        PipelineError::Page {
            connector: job.connector.name.clone(),
            resource: self.res.name.clone(),
            page: self.seq + 1,
            reason,
        }
    }

    /// A page through the checks, the incremental filter and the checkpoint: the page to
    /// write and its row count (incremental resources), or `None` when it changes nothing (no
    /// new rows, no new state: an empty incremental run stays a no-op, dlt#3998).
    fn admit(
        &mut self,
        job: &Job<'_>,
        mut page: Page,
    ) -> Result<Option<(Page, Option<u64>)>, PipelineError> {
        if let Some(cp) = admit_page(job, &self.res.name, self.seq, &page)? {
            self.state_so_far = Some(cp);
        }
        let mut rows = None;
        if let (Some(t), Some(spec)) = (self.tracker.as_mut(), &self.res.incremental) {
            let kept = keep_new(&mut page, t, self.res);
            rows = Some(kept.map_err(|e| self.page_err(job, e))?);
            let t = self
                .tracker
                .as_ref()
                .map(|t| (t, spec.cursor_path.as_str()));
            page.checkpoint = merge_checkpoint(&self.state_so_far, t);
        }
        if rows == Some(0) && page.checkpoint == self.last_checkpoint {
            return Ok(None);
        }
        self.last_checkpoint.clone_from(&page.checkpoint);
        Ok(Some((page, rows)))
    }

    /// HTTP counts of the dependents, at every depth.
    fn dependents_http(&self) -> sluice_host::HttpMetrics {
        let mut sum = sluice_host::HttpMetrics::default();
        for d in &self.dependents {
            sum.add(&d.http);
            sum.add(&d.dependents_http());
        }
        sum
    }

    /// (resource, HTTP counts) of this stream and its dependents, parents first.
    fn http_entries(&self, out: &mut ResourceHttp) {
        out.push((self.res.name.clone(), self.http.clone()));
        for d in &self.dependents {
            d.http_entries(out);
        }
    }

    /// (resource, pages written, rows out of cursor order) of this stream and its dependents.
    fn marks(&self, out: &mut Vec<(String, u64, bool)>) {
        let unordered = self.tracker.as_ref().is_some_and(Tracker::went_backwards);
        out.push((self.res.name.clone(), self.seq, unordered));
        for d in &self.dependents {
            d.marks(out);
        }
    }

    fn warn_overflow(&self) {
        if self.tracker.as_ref().is_some_and(Tracker::overflowed) {
            tracing::warn!(
                resource = %self.res.name,
                "more than {} rows share the last cursor value; rows beyond that many at this exact value may load again next run",
                crate::incremental::MAX_BOUNDARY_HASHES
            );
        }
        self.dependents.iter().for_each(Stream::warn_overflow);
    }
}

pub async fn extract_resource(
    job: &Job<'_>,
    root: &PlannedResource,
    writer: &RefCell<Writer<'_>>,
) -> Result<ResourceHttp, PipelineError> {
    let mut inst = job.connector.instantiate(job.sandbox.clone()).await?;
    let mut stream = Stream::new(job, root)?;
    let ext = inst
        .open(
            &root.name,
            job.config,
            stream.committed.as_deref(),
            stream.window.as_ref(),
            None,
        )
        .await;
    // the connector's log lines reach the run even when the call failed: they often say why
    forward_logs(&mut inst, job.progress);
    let ext = ext?;
    pages(job, &mut inst, &mut stream, &ext, writer).await?;
    stream.warn_overflow();
    let closed = inst.close(ext).await;
    forward_logs(&mut inst, job.progress);
    closed?;
    // the root's own requests: all the instance made but its dependents'
    stream.http = inst.http_metrics().since(&stream.dependents_http());
    let mut out = Vec::new();
    stream.http_entries(&mut out);
    Ok(out)
}

/// The pages of one open extraction of `stream`'s resource, each written to the package, and
/// each page's records handed to the resource's dependents (at any depth) in this instance.
async fn pages(
    job: &Job<'_>,
    inst: &mut sluice_host::Instance,
    stream: &mut Stream<'_>,
    ext: &sluice_host::Extraction,
    writer: &RefCell<Writer<'_>>,
) -> Result<(), PipelineError> {
    loop {
        // checked between pages too: a connector that never yields would starve a timer
        if std::time::Instant::now() > job.deadline {
            return Err(run_time_exceeded(job));
        }
        let before = inst.http_metrics();
        let page = inst.next(ext).await;
        stream.http.add(&inst.http_metrics().since(&before));
        forward_logs(inst, job.progress);
        let Some(page) = page? else { break };
        let Some((page, rows)) = stream.admit(job, page)? else {
            continue;
        };
        stream.bytes += page.records.len() as u64;
        // the dependents' input, read before the page moves into the package
        let parent = if stream.dependents.is_empty() || page.records.is_empty() {
            None
        } else {
            Some(as_json_array(&page).map_err(|reason| stream.page_err(job, reason))?)
        };
        writer
            .borrow_mut()
            .write(&stream.res.name, stream.seq, page, rows)?;
        stream.seq += 1;
        if stream.seq == 2 && stream.res.parent.is_none() {
            sluice_load::failpoint("extract.mid_stream");
        }
        job.progress
            .page(&stream.res.name, stream.seq, stream.bytes);
        if let Some(parent) = parent {
            for dep in &mut stream.dependents {
                Box::pin(extract_dependent(job, inst, dep, &parent, writer)).await?;
            }
        }
        if stream.res.parent.is_none() {
            let mut marks = Vec::new();
            stream.marks(&mut marks);
            writer.borrow_mut().mark_clean(marks);
        }
    }
    Ok(())
}

/// The incremental tracker of `root`, resuming from the cursor in its committed state.
fn tracker_for(
    job: &Job<'_>,
    root: &PlannedResource,
    committed: Option<&str>,
) -> Result<Option<Tracker>, PipelineError> {
    let Some(spec) = &root.incremental else {
        return Ok(None);
    };
    let prior = committed
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|v| {
            v.pointer("/incremental")
                .and_then(|i| i.get(&spec.cursor_path))
                .cloned()
        });
    Tracker::new(spec.clone(), prior.as_ref())
        .map(Some)
        .map_err(|reason| PipelineError::Config {
            pipeline: job.source.to_owned(),
            reason: format!("resource `{}`: {reason}", root.name),
        })
}

/// Keep the page's records the cursor has not seen (as NDJSON, or Arrow for an Arrow page);
/// returns how many.
fn keep_new(page: &mut Page, t: &mut Tracker, root: &PlannedResource) -> Result<u64, String> {
    let records = records_of(page)?;
    if page.format == RecordsFormat::ArrowIpc {
        let mut keep = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            keep.push(
                t.keep(r, &root.hints.primary_key)
                    .map_err(|e| format!("record {}: {e}", i + 1))?,
            );
        }
        page.records =
            sluice_normalize::arrow_filter(&page.records, &keep).map_err(|e| e.to_string())?;
        return Ok(keep.iter().filter(|k| **k).count() as u64);
    }
    let mut out = Vec::with_capacity(page.records.len());
    let mut n = 0;
    for (i, r) in records.iter().enumerate() {
        let keep = t
            .keep(r, &root.hints.primary_key)
            .map_err(|e| format!("record {}: {e}", i + 1))?;
        if keep {
            serde_json::to_writer(&mut out, r).map_err(|e| e.to_string())?;
            out.push(b'\n');
            n += 1;
        }
    }
    page.records = out;
    page.format = RecordsFormat::Ndjson;
    Ok(n)
}

/// Extract dependent resource `dep` for one page of its parent's records (`parent`, a JSON
/// array), in the parent's instance, with its own window and state.
async fn extract_dependent(
    job: &Job<'_>,
    inst: &mut sluice_host::Instance,
    dep: &mut Stream<'_>,
    parent: &[u8],
    writer: &RefCell<Writer<'_>>,
) -> Result<(), PipelineError> {
    let before = inst.http_metrics();
    let cext = inst
        .open(
            &dep.res.name,
            job.config,
            dep.committed.as_deref(),
            dep.window.as_ref(),
            Some(parent),
        )
        .await;
    dep.http.add(&inst.http_metrics().since(&before));
    forward_logs(inst, job.progress);
    let cext = cext?;
    pages(job, inst, dep, &cext, writer).await?;
    let before = inst.http_metrics();
    let closed = inst.close(cext).await;
    dep.http.add(&inst.http_metrics().since(&before));
    forward_logs(inst, job.progress);
    Ok(closed?)
}

/// Hand the connector's buffered log lines to the run's progress sink.
fn forward_logs(inst: &mut sluice_host::Instance, progress: &dyn Progress) {
    for l in inst.take_logs() {
        progress.log(&l.level, &l.message);
    }
}
