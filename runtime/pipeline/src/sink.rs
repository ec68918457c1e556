//! Where extracted packages go: the seam between extract and load. The extraction writes
//! pages into packages on disk and tells a [`PackageSink`] as each package opens, takes a page
//! and is sealed or given up; it knows nothing of loading. Two sinks exist: [`SealedSink`]
//! loads each package once sealed, and `live::LiveSink` hands each page to a loader thread as
//! it lands. A source that is not a component — records or Arrow batches handed over
//! in-process — writes packages through the same `extract::Writer` into the same sinks.

use crate::PipelineError;
use crate::load::Loader;
use crate::package::{PackageManifest, PageEntry, Pending};

/// What becomes of the packages an extraction writes.
pub trait PackageSink {
    /// A package opened: its manifest, without pages yet.
    fn opened(&mut self, header: &PackageManifest);
    /// A page of the open package is on disk; the page's bytes move to the sink. Returns
    /// false once the open package's load has failed (the writer then seals early, and
    /// [`PackageSink::sealed`] reports the load's error).
    fn page(&mut self, entry: &PageEntry, bytes: Vec<u8>) -> bool;
    /// The open package is sealed: load it (or finish its live load).
    fn sealed(&mut self, package: Pending) -> Result<(), PipelineError>;
    /// The open package is given up (a live load rolls back).
    fn abandoned(&mut self);
    /// Whether pages are loaded as they land: a package such a sink took in is kept whole or
    /// not at all (none of its pages can be taken back).
    fn streams(&self) -> bool {
        false
    }
}

/// Each package is loaded once sealed: several resources extract interleaved, and their pages
/// load in plan order, so the schema does not depend on the interleaving.
pub struct SealedSink<'a> {
    pub loader: Loader<'a>,
}

impl PackageSink for SealedSink<'_> {
    fn opened(&mut self, _header: &PackageManifest) {}

    fn page(&mut self, _entry: &PageEntry, _bytes: Vec<u8>) -> bool {
        true
    }

    fn sealed(&mut self, package: Pending) -> Result<(), PipelineError> {
        self.loader.load(&package)
    }

    fn abandoned(&mut self) {}
}

/// `sink` as the writer holds it.
pub fn boxed<'a>(sink: impl PackageSink + 'a) -> Box<dyn PackageSink + 'a> {
    Box::new(sink)
}
