//! Where the engine's messages go in Python: a run's stages and its connector's lines
//! ([`PyLog`], a [`Progress`]) and the engine's own warnings (`tracing` events at the level
//! `SLUICE_LOG` sets, `warn` by default) all reach Python's `logging`, logger `sluice`, so an
//! application sees them where it configured logging, as dlt's are.

use std::io::Write;

use pyo3::prelude::*;
use sluice_pipeline::Progress;

/// Python's level number for a level name.
fn level_no(level: &str) -> i32 {
    match level.to_ascii_lowercase().as_str() {
        "error" => 40,
        "warn" | "warning" => 30,
        "info" => 20,
        _ => 10,
    }
}

/// Log `message` at `level` to the `sluice` logger (taking the GIL for it).
pub fn emit(level: &str, message: &str) {
    Python::attach(|py| {
        let logged = py
            .import("logging")
            .and_then(|m| m.call_method1("getLogger", ("sluice",)))
            .and_then(|l| l.call_method1("log", (level_no(level), message)));
        if let Err(e) = logged {
            e.print(py);
        }
    });
}

/// A run's stages (INFO) and its connector's lines (at their level), to Python's logging.
pub struct PyLog;

impl Progress for PyLog {
    fn stage(&self, stage: &str, detail: &str) {
        emit("info", &format!("{stage}: {detail}"));
    }

    fn log(&self, level: &str, message: &str) {
        emit(level, message);
    }
}

/// Send the engine's `tracing` events to Python's logging (once per process; an
/// application that set its own subscriber keeps it).
pub fn forward_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_writer(|| Line(Vec::new()))
        .try_init();
}

/// One formatted event (`LEVEL message fields`), logged when dropped.
struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let (level, message) = text.split_once(' ').unwrap_or(("INFO", text));
        emit(level, message.trim_start());
    }
}
