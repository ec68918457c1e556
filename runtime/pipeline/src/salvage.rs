//! What a failed extraction keeps: the open package is sealed and loaded with every page that
//! is safe to commit, so the next run resumes after them instead of from the first page.
//!
//! Roots that finished keep all their pages. A root that failed keeps its pages, and its
//! dependents' pages, up to the last root page whose dependents were all written (the clean
//! mark) — and only when committing part of it cannot lose or double a row:
//! - every resource of its tree appends or merges (not `replace`, which would empty the
//!   table for part of the data, nor `scd2`, which would retire the rows not seen);
//! - the next run starts after the kept pages: the root merges on a key, or its last kept
//!   page carries state (an incremental cursor, a connector's checkpoint);
//! - no incremental cursor of the tree went backwards (the last value then says nothing of
//!   where the extraction stopped).
//!
//! A sink that loads pages as they land keeps a package whole or not at all.

use sluice_schema::{MergeStrategy, WriteDisposition};

use crate::PipelineError;
use crate::extract::Writer;
use crate::package::PageEntry;

/// What a failed extraction kept, per resource: pages committed.
#[derive(Debug, Default)]
pub struct Kept {
    pub pages: Vec<(String, u64)>,
}

impl Writer<'_> {
    /// `root` and the resources depending on it, at any depth.
    fn tree(&self, root: &str) -> Vec<String> {
        let mut out = vec![root.to_owned()];
        let mut i = 0;
        while i < out.len() {
            let parent = out[i].clone();
            out.extend(
                self.resources
                    .iter()
                    .filter(|r| r.parent.as_deref() == Some(parent.as_str()))
                    .map(|r| r.name.clone()),
            );
            i += 1;
        }
        out
    }

    /// Whether the pages of `tree` (a failed root first) up to their clean marks may be
    /// committed.
    fn resumable(&self, tree: &[String], pages: &[PageEntry]) -> bool {
        let planned = |n: &str| self.resources.iter().find(|r| r.name == n);
        let adds_rows = tree.iter().all(|n| {
            planned(n).is_some_and(|r| match r.hints.write_disposition {
                WriteDisposition::Append => true,
                WriteDisposition::Merge => r.hints.merge_strategy != Some(MergeStrategy::Scd2),
                _ => false,
            })
        });
        let ordered = !tree.iter().any(|n| self.unordered.contains(n));
        let root = &tree[0];
        let merges =
            planned(root).is_some_and(|r| r.hints.write_disposition == WriteDisposition::Merge);
        let clean = self.clean.get(root).copied().unwrap_or(0);
        let moves_state = pages
            .iter()
            .filter(|e| &e.resource == root && e.seq < clean)
            .max_by_key(|e| e.seq)
            .is_some_and(|e| e.checkpoint.is_some());
        adds_rows && ordered && (merges || moves_state)
    }

    /// After a failed extraction of the roots `failed`: seal and load the open package with
    /// the pages it may keep (see the module), or give it up when none may stay. Returns
    /// what was kept.
    pub fn salvage(&mut self, failed: &[String]) -> Result<Option<Kept>, PipelineError> {
        let Some(mut open) = self.open.take() else {
            return Ok(None);
        };
        let (mut partial, mut gone) = (Vec::new(), Vec::new());
        for root in failed {
            let tree = self.tree(root);
            if self.resumable(&tree, &open.pages) {
                partial.extend(tree);
            } else {
                gone.extend(tree);
            }
        }
        let keep = |e: &PageEntry| {
            if gone.contains(&e.resource) {
                return false;
            }
            !partial.contains(&e.resource)
                || e.seq < self.clean.get(&e.resource).copied().unwrap_or(0)
        };
        let (kept, dropped): (Vec<PageEntry>, Vec<PageEntry>) =
            open.pages.drain(..).partition(|e| keep(e));
        if kept.is_empty() || (!dropped.is_empty() && self.sink.streams()) {
            open.pages = kept.into_iter().chain(dropped).collect();
            self.open = Some(open);
            self.discard();
            return Ok(None);
        }
        for e in &dropped {
            let _ = std::fs::remove_file(open.tmp.join(&e.file));
        }
        // a resource with no page left is not part of the package: a `replace` one that
        // failed, or never started, would otherwise empty its table
        open.manifest
            .resources
            .retain(|r| kept.iter().any(|e| e.resource == r.name));
        let mut summary = Kept::default();
        for e in &kept {
            match summary.pages.iter_mut().find(|(r, _)| *r == e.resource) {
                Some((_, n)) => *n += 1,
                None => summary.pages.push((e.resource.clone(), 1)),
            }
        }
        open.pages = kept;
        self.open = Some(open);
        self.seal(false)?;
        Ok(Some(summary))
    }
}
