//! Loading while extracting: a loader thread normalizes and appends each page of a package
//! as soon as the extraction has it on disk, and commits once the package is sealed. The
//! thread, its channels and the extraction's end of them live here, behind [`LiveSink`].
//! A crash before the seal leaves no rows (the transaction never committed); a failed load
//! makes the writer seal the pages written so far and report the load's error.

use std::sync::mpsc::{Receiver, Sender, SyncSender};

use crate::PipelineError;
use crate::load::{Feed, LiveMsg, Loader};
use crate::package::{PackageManifest, PageEntry, Pending};
use crate::sink::PackageSink;

/// A package handed to the loader thread as it opens.
struct LivePackage {
    /// the manifest without pages
    header: PackageManifest,
    pages: Receiver<LiveMsg>,
    /// the load's outcome: committed (or rolled back, when the extraction gave up) or failed
    done: Sender<Result<(), PipelineError>>,
}

/// The extraction's end of one live load.
struct LiveFeed {
    /// closed when the load failed (its error waits in `done`) or to give the package up
    pages: Option<SyncSender<LiveMsg>>,
    done: Receiver<Result<(), PipelineError>>,
}

impl LiveFeed {
    /// The load's outcome, once its feed is closed or sealed.
    fn outcome(self) -> Result<(), PipelineError> {
        drop(self.pages);
        // the loader thread leaves `done` unanswered only by panicking, and the thread scope
        // of `with_live_loader` re-raises that panic
        self.done.recv().unwrap_or(Ok(()))
    }
}

/// The sink of a live run: each package's pages go to the loader thread as they land.
pub struct LiveSink {
    packages: Sender<LivePackage>,
    current: Option<LiveFeed>,
}

impl PackageSink for LiveSink {
    fn streams(&self) -> bool {
        true
    }

    fn opened(&mut self, header: &PackageManifest) {
        let (pages, feed) = std::sync::mpsc::sync_channel(2);
        let (done_tx, done) = std::sync::mpsc::channel();
        let sent = self.packages.send(LivePackage {
            header: header.clone(),
            pages: feed,
            done: done_tx,
        });
        // a loader thread that is gone leaves its feed closed: the seal reports it
        self.current = Some(LiveFeed {
            pages: sent.is_ok().then_some(pages),
            done,
        });
    }

    fn page(&mut self, entry: &PageEntry, bytes: Vec<u8>) -> bool {
        match self.current.as_ref().and_then(|l| l.pages.as_ref()) {
            // a full feed blocks: the loader is behind
            Some(feed) => feed
                .send(LiveMsg::Page {
                    entry: entry.clone(),
                    bytes,
                })
                .is_ok(),
            None => self.current.is_none(),
        }
    }

    fn sealed(&mut self, package: Pending) -> Result<(), PipelineError> {
        let Some(mut live) = self.current.take() else {
            return Ok(());
        };
        if let Some(feed) = live.pages.take() {
            // a feed closed by a failed load keeps its error in `done`
            let _ = feed.send(LiveMsg::Sealed(package));
        }
        live.outcome()
    }

    fn abandoned(&mut self) {
        if let Some(live) = self.current.take() {
            // closing the feed without a seal rolls the live load back
            let _ = live.outcome();
        }
    }
}

/// Run `body` with a [`LiveSink`] whose loader thread loads through `loader`; the thread is
/// joined before this returns, and its panic, if any, is raised here.
pub fn with_live_loader<R>(loader: Loader<'_>, body: impl FnOnce(LiveSink) -> R) -> R {
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel::<LivePackage>();
        let server = scope.spawn(move || serve(loader, rx));
        let result = body(LiveSink {
            packages: tx,
            current: None,
        });
        if let Err(panic) = server.join() {
            std::panic::resume_unwind(panic);
        }
        result
    })
}

/// The loader thread: load each live package until the extraction ends.
fn serve(mut loader: Loader<'_>, packages: Receiver<LivePackage>) {
    for p in packages {
        let outcome = loader.load_feed(&p.header, Feed::Live(p.pages));
        let _ = p.done.send(outcome);
    }
}
