//! One run of a pipeline at a time per destination. A run holds its lease from before the
//! state sync until it ends; a second worker finds it taken and learns who holds it.
//!
//! - DuckDB and the local filesystem: an exclusive OS lock (`flock`) on a lease file beside
//!   the database file or in the dataset folder, holding the holder's description. The kernel
//!   releases it the moment the holder's process ends, SIGKILL included.
//! - PostgreSQL: a session advisory lock on a connection of its own, whose
//!   `application_name` describes the holder (read back through `pg_locks` and
//!   `pg_stat_activity`). The server releases it when the session ends; server-side TCP
//!   keepalives on that session end it within about a minute of a holder's machine vanishing.
//! - A bucket (`s3://`, `az://`): an object `<dataset>/.sluice-leases/<pipeline>.lease` created only if
//!   absent (`If-None-Match: *`), holding the holder and an expiry a minute ahead, renewed
//!   every 15 s with `If-Match` on its entity tag and deleted on release. A holder that dies
//!   stops renewing; another worker takes the lease over (again by `If-Match`) once it has
//!   expired. Object stores have no session to end, so this is the one lease that a holder
//!   frozen for over a minute can lose while it still runs.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::{LoadError, PgUrl, Result};

/// Who holds (or wants) a lease.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    /// RFC 3339
    pub started_at: String,
}

impl Holder {
    /// This process, now.
    pub fn this_process() -> Holder {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown-host".into());
        Holder {
            host,
            pid: std::process::id(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }

    /// Whether this holder's process has ended on `me`'s host (a holder elsewhere, or `me`
    /// itself, is never taken to be gone).
    pub fn is_gone_from(&self, me: &Holder) -> bool {
        self.host == me.host && self.pid != me.pid && !process_runs(self.pid)
    }

    /// `host h, pid 123, started 2026-…`
    pub fn describe(&self) -> String {
        format!(
            "host {}, pid {}, started {}",
            self.host, self.pid, self.started_at
        )
    }
}

/// Whether process `pid` runs on this host (`/proc`; elsewhere every process is taken to run).
fn process_runs(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

/// A held lease; released when dropped (or when the process ends).
pub struct Lease {
    _inner: Inner,
}

enum Inner {
    File(std::fs::File),
    /// the lease session: closing it releases the advisory lock
    Postgres(Box<crate::Postgres>),
    /// the renewing thread: ends (deleting the lease object) when the sender is dropped
    Bucket {
        stop: Option<std::sync::mpsc::Sender<()>>,
        renewer: Option<std::thread::JoinHandle<()>>,
    },
}

impl Drop for Lease {
    /// Release at once (the session's close would release it too, a moment later).
    fn drop(&mut self) {
        match &mut self._inner {
            Inner::File(f) => {
                let _ = f.unlock();
            }
            Inner::Postgres(session) => {
                let _ = crate::postgres::wait(
                    session
                        .client()
                        .query_one("select pg_advisory_unlock_all()", &[]),
                );
            }
            Inner::Bucket { stop, renewer } => {
                drop(stop.take());
                if let Some(t) = renewer.take() {
                    let _ = t.join();
                }
            }
        }
    }
}

/// The outcome of one attempt.
pub enum Attempt {
    Held(Lease),
    /// taken by someone else: who, when it can be told
    Busy(Option<Holder>),
}

/// The lease file of `pipeline` for a DuckDB database file.
pub fn duckdb_lease_path(db: &Path, pipeline: &str) -> PathBuf {
    let name = db
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "db".into());
    db.with_file_name(format!(".{name}.{pipeline}.sluice-lease"))
}

/// The lease file of `pipeline` for a filesystem dataset folder (hidden from its tables).
pub fn filesystem_lease_path(dataset_dir: &Path, pipeline: &str) -> PathBuf {
    dataset_dir
        .join(".sluice-leases")
        .join(format!("{pipeline}.lease"))
}

/// Try to take the file lease at `path` once.
pub fn try_file(path: &Path, holder: &Holder) -> Result<Attempt> {
    let err = |e: std::io::Error| LoadError::Open {
        destination: format!("lease file `{}`", path.display()),
        source: e.into(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(err)?;
    match file.try_lock() {
        Ok(()) => {
            let text = serde_json::to_vec(holder).map_err(|e| err(e.into()))?;
            file.set_len(0).map_err(err)?;
            file.rewind().map_err(err)?;
            file.write_all(&text).map_err(err)?;
            file.sync_data().map_err(err)?;
            Ok(Attempt::Held(Lease {
                _inner: Inner::File(file),
            }))
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            Ok(Attempt::Busy(serde_json::from_str(&text).ok()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(err(e)),
    }
}

/// How long a bucket lease lives unless renewed, and how often its holder renews it.
const BUCKET_LEASE_TTL_SECS: i64 = 60;
const BUCKET_RENEW: std::time::Duration = std::time::Duration::from_secs(15);

/// A bucket lease object.
#[derive(serde::Serialize, serde::Deserialize)]
struct BucketLease {
    holder: Holder,
    /// Unix seconds
    expires_at: i64,
}

fn bucket_lease_body(holder: &Holder) -> Vec<u8> {
    serde_json::to_vec(&BucketLease {
        holder: holder.clone(),
        expires_at: chrono::Utc::now().timestamp() + BUCKET_LEASE_TTL_SECS,
    })
    .unwrap_or_default()
}

/// Try to take `pipeline`'s lease in the dataset of `tree` once: create the lease object, or
/// take over one whose holder stopped renewing it.
pub(crate) fn try_bucket(
    tree: crate::bucket_tree::BucketTree,
    pipeline: &str,
    holder: &Holder,
) -> Result<Attempt> {
    use crate::bucket_tree::Written;
    let rel = format!(".sluice-leases/{pipeline}.lease");
    let body = bucket_lease_body(holder);
    if let Written::Done(tag) = tree.write_if(&rel, &body, None)? {
        return Ok(Attempt::Held(renewed(tree, rel, tag, holder.clone())));
    }
    let Some((bytes, tag)) = tree.read_tagged(&rel)? else {
        // released between the two requests: the next attempt takes it
        return Ok(Attempt::Busy(None));
    };
    let current: Option<BucketLease> = serde_json::from_slice(&bytes).ok();
    let now = chrono::Utc::now().timestamp();
    match current {
        // a holder that stopped renewing, or whose process ended on this host, has lost it
        Some(c) if c.expires_at > now && !c.holder.is_gone_from(holder) => {
            Ok(Attempt::Busy(Some(c.holder)))
        }
        c => match tree.write_if(&rel, &body, tag.or_else(|| Some("*".into())))? {
            Written::Done(tag) => Ok(Attempt::Held(renewed(tree, rel, tag, holder.clone()))),
            Written::Lost => Ok(Attempt::Busy(c.map(|c| c.holder))),
        },
    }
}

/// A held bucket lease: a thread renews it until the lease is dropped, then deletes it
/// (unless another holder took it over meanwhile).
fn renewed(
    tree: crate::bucket_tree::BucketTree,
    rel: String,
    mut tag: Option<String>,
    holder: Holder,
) -> Lease {
    use crate::bucket_tree::Written;
    use std::sync::mpsc::RecvTimeoutError;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let renewer = std::thread::Builder::new()
        .name("sluice-lease".into())
        .spawn(move || {
            let mut ours = true;
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(BUCKET_RENEW) {
                if !ours {
                    continue;
                }
                match tree.write_if(&rel, &bucket_lease_body(&holder), tag.clone()) {
                    Ok(Written::Done(t)) => tag = t,
                    Ok(Written::Lost) => ours = false,
                    // a failed renewal is tried again at the next tick
                    Err(_) => {}
                }
            }
            if ours && matches!(tree.read_tagged(&rel), Ok(Some((_, t))) if t == tag) {
                let _ = crate::tree::Tree::remove(&tree, &rel);
            }
        })
        .ok();
    Lease {
        _inner: Inner::Bucket {
            stop: Some(stop),
            renewer,
        },
    }
}

/// The advisory-lock key of `pipeline` in `dataset`.
fn pg_key(dataset: &str, pipeline: &str) -> String {
    format!("sluice-lease:{dataset}:{pipeline}")
}

/// What `application_name` says about the holder (PostgreSQL keeps 63 bytes of it).
fn pg_app_name(holder: &Holder) -> String {
    let mut s = format!(
        "sluice {} {} {}",
        holder.pid, holder.started_at, holder.host
    );
    s.truncate(63);
    s
}

fn pg_holder(app: &str) -> Option<Holder> {
    let mut parts = app.strip_prefix("sluice ")?.splitn(3, ' ');
    Some(Holder {
        pid: parts.next()?.parse().ok()?,
        started_at: parts.next()?.to_owned(),
        host: parts.next()?.to_owned(),
    })
}

/// Try to take the PostgreSQL lease of `pipeline` in `dataset` once, on a session of its own.
pub fn try_postgres(
    url: &PgUrl,
    dataset: &str,
    pipeline: &str,
    holder: &Holder,
) -> Result<Attempt> {
    let session = crate::Postgres::connect_lease_session(url, &pg_app_name(holder))?;
    let key = pg_key(dataset, pipeline);
    let took: bool = crate::postgres::wait(session.client().query_one(
        "select pg_try_advisory_lock(hashtextextended($1, 0))",
        &[&key],
    ))
    .map_err(|e| LoadError::sql("taking the pipeline lease", e))?
    .get(0);
    if took {
        return Ok(Attempt::Held(Lease {
            _inner: Inner::Postgres(Box::new(session)),
        }));
    }
    let row = crate::postgres::wait(session.client().query_opt(
        "select a.application_name::text from pg_locks l join pg_stat_activity a on a.pid = l.pid \
         where l.locktype = 'advisory' and l.granted \
         and l.objsubid = 1 and ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended($1, 0) \
         limit 1",
        &[&key],
    ))
    .map_err(|e| LoadError::sql("reading the pipeline lease's holder", e))?;
    Ok(Attempt::Busy(
        row.and_then(|r| r.get::<_, Option<String>>(0))
            .and_then(|a| pg_holder(&a)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_lease_is_exclusive_and_tells_its_holder() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = duckdb_lease_path(&dir.path().join("x.duckdb"), "p");
        let me = Holder::this_process();
        let Attempt::Held(lease) = try_file(&path, &me).expect("first") else {
            panic!("the first attempt takes it");
        };
        // another open file description of the same file: flock conflicts within a process too
        match try_file(&path, &me).expect("second") {
            Attempt::Busy(Some(h)) => assert_eq!(h, me),
            _ => panic!("the second attempt finds it busy, with its holder"),
        }
        drop(lease);
        assert!(matches!(
            try_file(&path, &me).expect("third"),
            Attempt::Held(_)
        ));
    }

    #[test]
    fn the_postgres_holder_round_trips_through_application_name() {
        let h = Holder {
            host: "worker-7".into(),
            pid: 4242,
            started_at: "2026-12-04T17:00:00Z".into(),
        };
        assert_eq!(pg_holder(&pg_app_name(&h)), Some(h));
    }
}
