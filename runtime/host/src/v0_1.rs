//! The previous contract, `sluice:connector@0.1.0` (`wit/v0.1.0/connector.wit`, frozen): its
//! bindings, its `log` and `http` imports served by the current ones, and its values converted
//! to and from the current contract's in this one place, so the rest of the host knows only
//! 0.2.0. 0.2.0 only added a case to `records-format`, so every 0.1.0 value has a 0.2.0 twin.

use wasmtime::component::{HasSelf, Linker};

use crate::State;
use crate::bindings::sluice::connector::{http as cur_http, log as cur_log, types as cur};

wasmtime::component::bindgen!({
    // the 0.2.0 package first: it brings the WASI deps the frozen 0.1.0 file refers to
    path: ["../../wit", "../../wit/v0.1.0"],
    world: "sluice:connector/connector@0.1.0",
    imports: { default: async },
    exports: { default: async },
});

use sluice::connector0_1_0::{http, log, types as old};

/// The export a 0.1.0 component has.
pub const SOURCE_EXPORT: &str = "sluice:connector/source@0.1.0";

pub fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    log::add_to_linker::<State, HasSelf<State>>(linker, |s| s)?;
    http::add_to_linker::<State, HasSelf<State>>(linker, |s| s)?;
    Ok(())
}

impl old::Host for State {}

impl log::Host for State {
    async fn log(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Trace => cur_log::Level::Trace,
            log::Level::Debug => cur_log::Level::Debug,
            log::Level::Info => cur_log::Level::Info,
            log::Level::Warn => cur_log::Level::Warn,
            log::Level::Error => cur_log::Level::Error,
        };
        cur_log::Host::log(self, level, message).await
    }
}

impl http::Host for State {
    async fn fetch(&mut self, req: http::Request) -> Result<http::Response, http::HttpError> {
        let req = cur_http::Request {
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: req.body,
            timeout_ms: req.timeout_ms,
            secrets: req.secrets,
        };
        match cur_http::Host::fetch(self, req).await {
            Ok(r) => Ok(http::Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }),
            Err(e) => Err(match e {
                cur_http::HttpError::Denied(s) => http::HttpError::Denied(s),
                cur_http::HttpError::Timeout => http::HttpError::Timeout,
                cur_http::HttpError::TooLarge(n) => http::HttpError::TooLarge(n),
                cur_http::HttpError::RateLimited(ms) => http::HttpError::RateLimited(ms),
                cur_http::HttpError::Transport(s) => http::HttpError::Transport(s),
            }),
        }
    }
}

pub fn window(w: &cur::Window) -> old::Window {
    old::Window {
        start_value: w.start_value.clone(),
        end_value: w.end_value.clone(),
        last_value: w.last_value.clone(),
    }
}

pub fn page(p: old::Page) -> cur::Page {
    cur::Page {
        records: p.records,
        format: match p.format {
            old::RecordsFormat::JsonArray => cur::RecordsFormat::JsonArray,
            old::RecordsFormat::Ndjson => cur::RecordsFormat::Ndjson,
        },
        checkpoint: p.checkpoint,
    }
}

pub fn error(e: old::ConnectorError) -> cur::ConnectorError {
    cur::ConnectorError {
        kind: match e.kind {
            old::ErrorKind::Config => cur::ErrorKind::Config,
            old::ErrorKind::Auth => cur::ErrorKind::Auth,
            old::ErrorKind::External => cur::ErrorKind::External,
            old::ErrorKind::Data => cur::ErrorKind::Data,
            old::ErrorKind::Internal => cur::ErrorKind::Internal,
        },
        message: e.message,
        retryable: e.retryable,
    }
}

pub fn spec(s: old::SourceSpec) -> cur::SourceSpec {
    cur::SourceSpec {
        name: s.name,
        version: s.version,
        description: s.description,
        config_schema: s.config_schema,
        resources: s.resources.into_iter().map(resource).collect(),
    }
}

fn resource(r: old::ResourceSpec) -> cur::ResourceSpec {
    cur::ResourceSpec {
        name: r.name,
        table_name: r.table_name,
        description: r.description,
        write_disposition: match r.write_disposition {
            old::WriteDisposition::Append => cur::WriteDisposition::Append,
            old::WriteDisposition::Replace => cur::WriteDisposition::Replace,
            old::WriteDisposition::Merge => cur::WriteDisposition::Merge,
            old::WriteDisposition::Skip => cur::WriteDisposition::Skip,
        },
        merge_strategy: r.merge_strategy.map(|m| match m {
            old::MergeStrategy::DeleteInsert => cur::MergeStrategy::DeleteInsert,
            old::MergeStrategy::Upsert => cur::MergeStrategy::Upsert,
            old::MergeStrategy::Scd2 => cur::MergeStrategy::Scd2,
            old::MergeStrategy::InsertOnly => cur::MergeStrategy::InsertOnly,
        }),
        primary_key: r.primary_key,
        merge_key: r.merge_key,
        columns: r.columns.into_iter().map(column).collect(),
        incremental: r.incremental.map(incremental),
        max_nesting: r.max_nesting,
        parent: r.parent,
        selected: r.selected,
    }
}

fn column(c: old::ColumnHint) -> cur::ColumnHint {
    cur::ColumnHint {
        name: c.name,
        data_type: c.data_type,
        nullable: c.nullable,
        primary_key: c.primary_key,
        merge_key: c.merge_key,
        unique: c.unique,
        dedup_sort: c.dedup_sort,
        hard_delete: c.hard_delete,
        precision: c.precision,
        scale: c.scale,
        timezone: c.timezone,
    }
}

fn incremental(i: old::Incremental) -> cur::Incremental {
    cur::Incremental {
        cursor_path: i.cursor_path,
        initial_value: i.initial_value,
        end_value: i.end_value,
        last_value_func: match i.last_value_func {
            old::LastValueFunc::Max => cur::LastValueFunc::Max,
            old::LastValueFunc::Min => cur::LastValueFunc::Min,
        },
        lag: i.lag,
        on_cursor_missing: match i.on_cursor_missing {
            old::OnCursorMissing::Raise => cur::OnCursorMissing::Raise,
            old::OnCursorMissing::Keep => cur::OnCursorMissing::Keep,
            old::OnCursorMissing::Drop => cur::OnCursorMissing::Drop,
        },
    }
}
