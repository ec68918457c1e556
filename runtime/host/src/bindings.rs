//! Host side of the WIT contract: generated bindings and the `log` and `http` imports.

use wasmtime::component::{HasSelf, Linker};

use crate::State;
use crate::log_gate::Verdict;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "sluice:connector/connector",
    imports: { default: async },
    exports: { default: async },
    with: { "sluice:connector/sql.rows": sluice_sql::Rows },
});

pub use sluice::connector::types;
use sluice::connector::{http, log, objects, sql};

/// Longest log message kept, in bytes.
const MAX_LOG_BYTES: usize = 4096;

pub fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    log::add_to_linker::<State, HasSelf<State>>(linker, |s| s)?;
    http::add_to_linker::<State, HasSelf<State>>(linker, |s| s)?;
    sql::add_to_linker::<State, HasSelf<State>>(linker, |s| s)?;
    objects::add_to_linker::<State, HasSelf<State>>(linker, |s| s)?;
    Ok(())
}

impl types::Host for State {}

impl log::Host for State {
    async fn log(&mut self, level: log::Level, message: String) {
        // a total per instance, not per drain (a connector logging a little on every page
        // forever is held to it too), and a rate
        match self.log_gate.admit(std::time::Instant::now()) {
            Verdict::Keep => self.flush_rate_warning(),
            Verdict::Drop => return,
            Verdict::DropTotalReached(warning) => {
                self.flush_rate_warning();
                self.logs.push(crate::LogLine {
                    level: "warn".into(),
                    message: warning,
                });
                return;
            }
        }
        // redacted, then escaped: no terminal control or fake line reaches the user
        let mut message = crate::hygiene::escape_controls(&self.policy.redact(&message));
        if message.len() > MAX_LOG_BYTES {
            let mut cut = MAX_LOG_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let level = match level {
            log::Level::Trace => "trace",
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        }
        .to_owned();
        tracing::info!(target: "connector", connector = %self.connector, %level, "{message}");
        self.logs.push(crate::LogLine { level, message });
    }
}

impl http::Host for State {
    async fn fetch(&mut self, req: http::Request) -> Result<http::Response, http::HttpError> {
        crate::http::fetch(self, req).await
    }

    async fn fetch_all(
        &mut self,
        reqs: Vec<http::Request>,
    ) -> Vec<Result<http::Response, http::HttpError>> {
        crate::http::fetch_all(self, reqs).await
    }
}
