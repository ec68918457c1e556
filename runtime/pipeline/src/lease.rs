//! One run of a pipeline at a time per destination: the run takes the destination's lease
//! ([`sluice_load::lease`]) before anything else — before its packages folder is opened,
//! before the state sync, before a pending package is loaded — and holds it to the end. A
//! second worker waits up to `limits.lease_wait_secs`, then stops with a message naming the
//! pipeline, the destination and the holder. A holder that dies releases the lease with its
//! process (PostgreSQL: with its session). The server ends a killed holder's session a moment
//! after the kill, so a holder that is gone — its process no longer runs on this host, or its
//! session already left `pg_stat_activity` — is waited for up to [`ENDING`] even when
//! `lease_wait_secs` is 0: a worker restarted straight after a crash takes over instead of
//! failing on the remains of its predecessor.

use std::time::{Duration, Instant};

use sluice_load::DestinationConfig;
use sluice_load::lease::{Attempt, Holder, Lease};

use crate::{PipelineError, Progress};

/// How often a waiting worker tries again.
const RETRY: Duration = Duration::from_millis(250);

/// How long a worker waits for a lease whose holder is gone to be released.
pub(crate) const ENDING: Duration = Duration::from_secs(10);

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
                let limit = if is_gone(holder.as_ref(), &me) {
                    wait.max(ENDING)
                } else {
                    wait
                };
                let holder = holder.map_or_else(|| "holder unknown".to_owned(), |h| h.describe());
                if started.elapsed() >= limit {
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

/// Whether the lease's holder has ended and only its release is pending: no holder is on
/// record any more, or it ran on this host under a process id that no longer runs.
fn is_gone(holder: Option<&Holder>, me: &Holder) -> bool {
    match holder {
        None => true,
        Some(h) => h.is_gone_from(me),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_gone_when_unknown_or_its_process_ended_on_this_host() {
        let me = Holder::this_process();
        assert!(is_gone(None, &me));
        assert!(!is_gone(Some(&me), &me), "this process runs");
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = child.id();
        child.wait().expect("wait");
        let ended = Holder { pid, ..me.clone() };
        assert!(is_gone(Some(&ended), &me), "an ended process on this host");
        let elsewhere = Holder {
            host: format!("{}-elsewhere", me.host),
            ..ended
        };
        assert!(
            !is_gone(Some(&elsewhere), &me),
            "another host's process is not judged"
        );
    }
}
