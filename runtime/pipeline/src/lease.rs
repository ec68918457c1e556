//! One run of a pipeline at a time per destination: the run takes the destination's lease
//! ([`sluice_load::lease`]) before anything else — before its packages folder is opened,
//! before the state sync, before a pending package is loaded — and holds it to the end. A
//! second worker waits up to `limits.lease_wait_secs`, then stops with a message naming the
//! pipeline, the destination and the holder. A holder that dies releases the lease with its
//! process (PostgreSQL: with its session).

use std::time::{Duration, Instant};

use sluice_load::DestinationConfig;
use sluice_load::lease::{Attempt, Holder, Lease};

use crate::{PipelineError, Progress};

/// How often a waiting worker tries again.
const RETRY: Duration = Duration::from_millis(250);

/// Where a lease is taken: pipeline, destination and dataset.
pub(crate) struct Target<'a> {
    pub pipeline: &'a str,
    pub destination: &'a DestinationConfig,
    pub dataset: &'a str,
}

/// Take the lease of the target's pipeline on its destination, waiting up to `wait`.
pub(crate) fn acquire(
    spec: &Target<'_>,
    wait: Duration,
    progress: &dyn Progress,
) -> Result<Lease, PipelineError> {
    let me = Holder::this_process();
    let config = spec.destination;
    let started = Instant::now();
    let mut told = false;
    loop {
        match attempt(config, spec, &me)? {
            Attempt::Held(l) => return Ok(l),
            Attempt::Busy(holder) => {
                let holder = holder.map_or_else(|| "holder unknown".to_owned(), |h| h.describe());
                if started.elapsed() >= wait {
                    return Err(PipelineError::Busy {
                        pipeline: spec.pipeline.to_owned(),
                        destination: config.describe(),
                        holder,
                        waited_secs: started.elapsed().as_secs(),
                    });
                }
                if !told {
                    progress.stage(
                        "lease",
                        &format!("waiting for the run of `{}` by {holder}", spec.pipeline),
                    );
                    told = true;
                }
                std::thread::sleep(RETRY);
            }
        }
    }
}

/// One attempt on the lease the destination kind uses.
fn attempt(
    config: &DestinationConfig,
    spec: &Target<'_>,
    me: &Holder,
) -> Result<Attempt, PipelineError> {
    config
        .try_lease(spec.dataset, spec.pipeline, me)
        .map_err(|source| PipelineError::Load {
            load_id: "-".into(),
            destination: config.describe(),
            source,
        })
}
