//! The connectors Sluice ships, built from `connectors/` into wasm components by `build.rs`.
//!
//! Invariant: one explicit registry — every bundled connector is listed in [`BUNDLED`], and a
//! name resolves to exactly these bytes.

/// A connector component shipped inside the binary.
#[derive(Clone, Copy, Debug)]
pub struct Bundled {
    pub name: &'static str,
    pub description: &'static str,
    pub bytes: &'static [u8],
}

/// Reads JSON and NDJSON files from granted directories.
pub const FILES: Bundled = Bundled {
    name: "files",
    description: "JSON arrays and NDJSON files from directories granted read-only",
    bytes: include_bytes!(env!("SLUICE_COMPONENT_FILES")),
};

/// Deterministic GitHub-events-like records.
pub const SYNTHETIC: Bundled = Bundled {
    name: "synthetic",
    description: "deterministic GitHub-events-like nested records, no network",
    bytes: include_bytes!(env!("SLUICE_COMPONENT_SYNTHETIC")),
};

/// dlt's declarative REST API source.
pub const REST_API: Bundled = Bundled {
    name: "rest_api",
    description: "declarative REST API source (dlt's rest_api): paginators, auth by secret, parent/child, incremental",
    bytes: include_bytes!(env!("SLUICE_COMPONENT_REST_API")),
};

/// dlt's `sql_database` source: tables of a granted database through the host's `sql` reads.
pub const SQL_DATABASE: Bundled = Bundled {
    name: "sql_database",
    description: "tables of a database granted as [grants.databases.NAME] (PostgreSQL, SQLite), read by the host as Arrow",
    bytes: include_bytes!(env!("SLUICE_COMPONENT_SQL_DATABASE")),
};

/// The SDK's hello world.
pub const HELLO: Bundled = Bundled {
    name: "hello",
    description: "the SDK's hello-world connector",
    bytes: include_bytes!(env!("SLUICE_COMPONENT_HELLO")),
};

/// Connectors users can name in pipeline files.
pub const BUNDLED: &[Bundled] = &[FILES, SYNTHETIC, REST_API, SQL_DATABASE, HELLO];

/// Test component that tries to escape the sandbox (files, environment, HTTP).
pub const SANDBOX_PROBE: &[u8] = include_bytes!(env!("SLUICE_COMPONENT_SANDBOX_PROBE"));

/// Test component that uses standard `wasi:http/outgoing-handler`.
pub const WASI_HTTP_PROBE: &[u8] = include_bytes!(env!("SLUICE_COMPONENT_WASI_HTTP_PROBE"));

/// Test component importing an interface the host never grants.
pub const EVIL_IMPORT: &[u8] = include_bytes!(env!("SLUICE_COMPONENT_EVIL_IMPORT"));

/// Test component whose pages are Arrow IPC streams (every type dlt maps; a cursor stream).
pub const ARROW_PROBE: &[u8] = include_bytes!(env!("SLUICE_COMPONENT_ARROW_PROBE"));

/// Test component that asks the host's `sql` interface for whatever its config says.
pub const SQL_PROBE: &[u8] = include_bytes!(env!("SLUICE_COMPONENT_SQL_PROBE"));

/// The bundled connector called `name`.
pub fn find(name: &str) -> Option<Bundled> {
    BUNDLED.iter().copied().find(|b| b.name == name)
}
