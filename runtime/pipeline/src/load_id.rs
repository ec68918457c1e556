//! Load ids: dlt's form (seconds since the epoch with microseconds), strictly increasing
//! within the process and newer than every package on disk.

use crate::{PipelineError, package};

/// dlt's load id: seconds since the epoch with fractions.
pub(crate) fn new_load_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64;
    // strictly increasing within the process, even for packages sealed in the same µs
    let mut prev = LAST.load(Ordering::Relaxed);
    let micros = loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(p) => prev = p,
        }
    };
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

/// A load id newer than every package on disk (a clock that stepped back never reorders).
pub(crate) fn new_load_id_after(packages: &package::Packages) -> Result<String, PipelineError> {
    let id = new_load_id();
    let newest = packages
        .pending()?
        .last()
        .and_then(|p| p.load_id.parse::<f64>().ok());
    Ok(match newest {
        Some(n) if id.parse::<f64>().unwrap_or(0.0) <= n => {
            let micros = (n * 1e6).round() as u64 + 1;
            format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
        }
        _ => id,
    })
}
