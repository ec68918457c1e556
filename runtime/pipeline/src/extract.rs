//! Extract: pull pages from a connector instance and write each to the package as it
//! arrives. The next page is requested only after the previous one is on disk, so memory
//! holds at most one page per resource whatever the source size.

use std::path::Path;

use sluice_host::{Connector, Page, RecordsFormat, Sandbox};

use crate::package::{PageEntry, write_synced};
use crate::state::LocalState;
use crate::{PipelineError, PlannedResource, Progress, io_err};

fn write_page(
    dir: &Path,
    resource: &str,
    seq: u64,
    page: &Page,
) -> Result<PageEntry, PipelineError> {
    let ext = match page.format {
        RecordsFormat::JsonArray => "json",
        RecordsFormat::Ndjson => "ndjson",
    };
    let rdir = dir.join(resource);
    std::fs::create_dir_all(&rdir).map_err(|e| io_err(&rdir, e))?;
    let file = format!("{resource}/{seq:08}.{ext}");
    write_synced(&dir.join(&file), &page.records)?;
    Ok(PageEntry {
        resource: resource.to_owned(),
        seq,
        file,
        format: ext.to_owned(),
        bytes: page.records.len() as u64,
        checkpoint: page.checkpoint.clone(),
    })
}

/// A page's records as one JSON array, for dependent resources.
fn as_json_array(page: &Page) -> Result<Vec<u8>, String> {
    match page.format {
        RecordsFormat::JsonArray => Ok(page.records.clone()),
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

/// Extract `root` (and the resources that depend on it) into `dir`.
#[allow(clippy::too_many_arguments)]
pub async fn extract_resource(
    connector: &Connector,
    source: &str,
    sandbox: &Sandbox,
    config: &str,
    local: &LocalState,
    resources: &[PlannedResource],
    root: &PlannedResource,
    dir: &Path,
    max_page: u64,
    progress: &dyn Progress,
) -> Result<(Vec<PageEntry>, u64), PipelineError> {
    let mut inst = connector.instantiate(sandbox.clone()).await?;
    let state = local.resource_state(source, &root.name);
    let ext = inst
        .open(&root.name, config, state.as_deref(), None, None)
        .await?;
    let children: Vec<&PlannedResource> = resources
        .iter()
        .filter(|r| r.parent.as_deref() == Some(root.name.as_str()))
        .collect();
    let mut entries = Vec::new();
    let mut child_seq = vec![0u64; children.len()];
    let mut seq = 0u64;
    let mut bytes = 0u64;
    loop {
        let page = inst.next(&ext).await?;
        for l in inst.take_logs() {
            progress.log(&l.level, &l.message);
        }
        let Some(page) = page else { break };
        if page.records.len() as u64 > max_page {
            return Err(PipelineError::Page {
                connector: connector.name.clone(),
                resource: root.name.clone(),
                page: seq,
                reason: format!(
                    "page of {} bytes exceeds the page size limit of {} MiB",
                    page.records.len(),
                    max_page >> 20
                ),
            });
        }
        entries.push(write_page(dir, &root.name, seq, &page)?);
        bytes += page.records.len() as u64;
        seq += 1;
        if seq == 2 {
            sluice_load::failpoint("extract.mid_stream");
        }
        progress.page(&root.name, seq, bytes);
        for (ci, child) in children.iter().enumerate() {
            let parent = as_json_array(&page).map_err(|reason| PipelineError::Page {
                connector: connector.name.clone(),
                resource: root.name.clone(),
                page: seq - 1,
                reason,
            })?;
            let cstate = local.resource_state(source, &child.name);
            let cext = inst
                .open(&child.name, config, cstate.as_deref(), None, Some(&parent))
                .await?;
            while let Some(cpage) = inst.next(&cext).await? {
                entries.push(write_page(dir, &child.name, child_seq[ci], &cpage)?);
                child_seq[ci] += 1;
                progress.page(&child.name, child_seq[ci], cpage.records.len() as u64);
            }
            inst.close(cext).await;
        }
    }
    inst.close(ext).await;
    Ok((entries, inst.http_metrics().requests))
}
