//! The wasm sandbox: compiles connector components once (cached on disk by content hash),
//! checks their imports, and runs them with nothing granted but what the pipeline says.
//!
//! Invariant: this is the only crate that names wasmtime; a connector reaches the world only
//! through the host functions defined here (`http` via [`Policy`], `log`), with a memory cap
//! and a deadline on every call.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sluice_host::HostError> {
//! use sluice_host::{Host, Sandbox};
//! let host = Host::new(std::path::Path::new("/tmp/sluice-cache"))?;
//! let connector = host.load("hello", &std::fs::read("hello.wasm").unwrap())?;
//! let mut instance = connector.instantiate(Sandbox::default()).await?;
//! let spec = instance.spec("{}").await?;
//! println!("{} offers {} resources", spec.name, spec.resources.len());
//! # Ok(()) }
//! ```

mod bindings;
mod budget;
pub mod declared;
mod http;
pub mod hygiene;
mod log_gate;
mod objects;
mod policy;
mod sql;
mod transport;
mod v0_1;
mod wasi_http;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::Digest as _;
use wasmtime::component::{Component, Linker, ResourceAny};
use wasmtime::{Config, Engine, Store, Trap};
use wasmtime_wasi::{FsPerms, ResourceTable, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

pub use bindings::types::{
    ColumnHint, ConnectorError, ErrorKind, Incremental, LastValueFunc, MergeStrategy,
    OnCursorMissing, Page, RecordsFormat, ResourceSpec, SourceSpec, Window, WriteDisposition,
};
pub use policy::{Policy, SecretGrant, SecretPlacement};

/// Interfaces a component may import. Everything else is refused at install.
const GRANTABLE: &[&str] = &[
    "sluice:connector/",
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
    "wasi:sockets/",
    "wasi:io/",
    "wasi:http/",
];

/// Milliseconds per epoch tick.
const TICK_MS: u64 = 10;

/// Errors of the sandbox; each names the connector and, where known, the resource.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot start the wasm engine: {0}")]
    Engine(String),
    #[error("connector `{connector}`: cannot compile the component: {reason}")]
    Compile { connector: String, reason: String },
    #[error(
        "connector `{connector}` imports what the host does not grant: {}; grantable are sluice:connector/{{log,http,sql,objects}}, wasi:http (through the pipeline's policy) and the WASI interfaces (linked with nothing granted)",
        imports.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
    )]
    Imports {
        connector: String,
        imports: Vec<String>,
    },
    #[error("connector `{connector}`: cannot grant read access to `{dir}`: {reason}")]
    Grant {
        connector: String,
        dir: String,
        reason: String,
    },
    #[error(
        "connector `{connector}`{}: {phase} exceeded the {limit_ms} ms time limit per call",
        at(resource)
    )]
    Timeout {
        connector: String,
        resource: Option<String>,
        phase: &'static str,
        limit_ms: u64,
    },
    #[error(
        "connector `{connector}`{}: {phase} exceeded the memory limit of {limit_mb} MiB",
        at(resource)
    )]
    Memory {
        connector: String,
        resource: Option<String>,
        phase: &'static str,
        limit_mb: u64,
    },
    #[error(
        "connector `{connector}`{}: {phase} broke the component contract: {reason}",
        at(resource)
    )]
    Contract {
        connector: String,
        resource: Option<String>,
        phase: &'static str,
        reason: String,
    },
    #[error("connector `{connector}`{}: {phase} trapped: {reason}", at(resource))]
    Trap {
        connector: String,
        resource: Option<String>,
        phase: &'static str,
        reason: String,
    },
    #[error("connector `{connector}`{}: {} error: {message}", at(resource), kind_name(*kind))]
    Connector {
        connector: String,
        resource: Option<String>,
        kind: ErrorKind,
        message: String,
        retryable: bool,
    },
    #[error("component cache `{path}`: {reason}")]
    Cache { path: String, reason: String },
    #[error(
        "connector `{connector}` declared an invalid {field} `{value}`: it {rule}; nothing was extracted"
    )]
    Declared {
        connector: String,
        field: String,
        /// the value escaped and cut to a readable length
        value: String,
        rule: String,
    },
}

/// Who is at fault, in words.
fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Config => "configuration",
        ErrorKind::Auth => "authentication",
        ErrorKind::External => "external system",
        ErrorKind::Data => "data",
        ErrorKind::Internal => "internal connector",
    }
}

fn at(resource: &Option<String>) -> String {
    resource
        .as_ref()
        .map(|r| format!(" resource `{r}`"))
        .unwrap_or_default()
}

pub type Result<T, E = HostError> = std::result::Result<T, E>;

/// What a connector instance is granted, and its limits.
#[derive(Clone, Debug)]
pub struct Sandbox {
    /// memory cap in bytes (default 512 MiB)
    pub memory_bytes: usize,
    /// deadline of each call into the guest (default 30 s)
    pub call_timeout: Duration,
    /// directories granted read-only
    pub read_dirs: Vec<ReadDir>,
    /// network policy for `http`
    pub policy: Arc<Policy>,
    /// log lines an instance may write; later ones are dropped after one warning
    pub max_log_lines: usize,
    /// log lines per second an instance may write (bursts up to one second's worth); lines
    /// over it are dropped and counted in a warning
    pub max_log_lines_per_sec: u32,
    /// `wasi:http` requests one instance may have awaiting their response at once; more wait
    pub max_http_in_flight: usize,
    /// databases the `sql` import may read (nothing granted: every call is refused)
    pub databases: sluice_sql::Databases,
    /// buckets the `objects` import may read (nothing granted: every call is refused)
    pub buckets: sluice_objects::Buckets,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox {
            memory_bytes: 512 << 20,
            call_timeout: Duration::from_secs(30),
            read_dirs: Vec::new(),
            policy: Arc::new(Policy::deny_all()),
            max_log_lines: 10_000,
            max_log_lines_per_sec: 1_000,
            max_http_in_flight: 16,
            databases: sluice_sql::Databases::default(),
            buckets: sluice_objects::Buckets::default(),
        }
    }
}

/// A directory granted read-only: `host` is opened, and the guest sees it at `guest`. Usually
/// both are the same absolute path; a grant of single files opens a private folder of links
/// to them at the path of their real directory, so the guest sees those files and nothing
/// else beside them.
#[derive(Clone, Debug)]
pub struct ReadDir {
    pub host: PathBuf,
    pub guest: String,
}

impl ReadDir {
    /// `dir`, seen by the guest at its own path.
    pub fn same(dir: PathBuf) -> ReadDir {
        let guest = dir.to_string_lossy().into_owned();
        ReadDir { host: dir, guest }
    }
}

/// A log line from a connector.
#[derive(Clone, Debug)]
pub struct LogLine {
    pub level: String,
    pub message: String,
}

/// HTTP counters of one instance.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct HttpMetrics {
    pub requests: u64,
    pub retries: u64,
    pub bytes: u64,
    pub denied: u64,
}

impl HttpMetrics {
    /// What was counted between `earlier` and these counters (of the same instance).
    pub fn since(&self, earlier: &HttpMetrics) -> HttpMetrics {
        HttpMetrics {
            requests: self.requests.saturating_sub(earlier.requests),
            retries: self.retries.saturating_sub(earlier.retries),
            bytes: self.bytes.saturating_sub(earlier.bytes),
            denied: self.denied.saturating_sub(earlier.denied),
        }
    }

    /// Add `other`'s counts to these.
    pub fn add(&mut self, other: &HttpMetrics) {
        self.requests += other.requests;
        self.retries += other.retries;
        self.bytes += other.bytes;
        self.denied += other.denied;
    }
}

pub(crate) struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    budget: budget::StoreBudget,
    pub(crate) policy: Arc<Policy>,
    pub(crate) client: reqwest::Client,
    /// for OAuth2 token requests to the endpoint the pipeline file names
    pub(crate) token_client: reqwest::Client,
    pub(crate) connector: String,
    pub(crate) logs: Vec<LogLine>,
    /// the log limits and what they let through
    pub(crate) log_gate: log_gate::LogGate,
    pub(crate) metrics: HttpMetrics,
    http_ctx: wasmtime_wasi_http::WasiHttpCtx,
    hooks: wasi_http::PolicyHooks,
    /// what the `sql` import may read
    pub(crate) databases: sluice_sql::Databases,
    /// what the `objects` import may read
    pub(crate) buckets: sluice_objects::Buckets,
}

impl State {
    /// Report the lines the log rate dropped since the last report, if any.
    pub(crate) fn flush_rate_warning(&mut self) {
        if let Some(message) = self.log_gate.rate_warning() {
            self.logs.push(LogLine {
                level: "warn".into(),
                message,
            });
        }
    }
}

impl wasmtime_wasi_http::WasiHttpView for State {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The engine and the on-disk cache of compiled components.
pub struct Host {
    engine: Engine,
    cache_dir: PathBuf,
    linker: Arc<Linker<State>>,
    ticker: Arc<Ticker>,
}

/// The thread that advances the engine's epoch every [`TICK_MS`]: call timeouts and run
/// deadlines interrupt guests by it. The host and every connector it loaded hold it, so it
/// runs as long as any of them can run a guest, and stops when the last is dropped.
struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Host {
    /// An engine whose compiled components are cached under `cache_dir`.
    pub fn new(cache_dir: &Path) -> Result<Host> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        // guest stacks: deep enough for real parsers, bounded so recursion traps cleanly
        config.max_wasm_stack(2 << 20);
        let engine = Engine::new(&config).map_err(|e| HostError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| HostError::Engine(format!("{e:#}")))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| HostError::Engine(format!("{e:#}")))?;
        bindings::add_to_linker(&mut linker).map_err(|e| HostError::Engine(format!("{e:#}")))?;
        v0_1::add_to_linker(&mut linker).map_err(|e| HostError::Engine(format!("{e:#}")))?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = ticker_stop.clone();
            std::thread::Builder::new()
                .name("sluice-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(TICK_MS));
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| HostError::Engine(e.to_string()))?;
        }
        Ok(Host {
            engine,
            cache_dir: cache_dir.to_owned(),
            linker: Arc::new(linker),
            ticker: Arc::new(Ticker { stop: ticker_stop }),
        })
    }

    /// Where the compiled artifact of `bytes` is cached.
    pub fn cache_path(&self, bytes: &[u8]) -> PathBuf {
        self.cache_path_of(&hex(&sha2::Sha256::digest(bytes)))
    }

    /// The cache path of a component by its sha256 (hex) and this engine's compatibility, so
    /// a load hashes the component once (it is 20 MB for a Python one).
    fn cache_path_of(&self, digest: &str) -> PathBuf {
        let mut compat = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&self.engine.precompile_compatibility_hash(), &mut compat);
        let compat = std::hash::Hasher::finish(&compat);
        self.cache_dir.join(format!("{digest}-{compat:016x}.cwasm"))
    }

    /// Load a component: from the cache when compiled before, else compile and cache it.
    /// Checks its imports against what the host grants.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<Connector> {
        let digest = hex(&sha2::Sha256::digest(bytes));
        let path = self.cache_path_of(&digest);
        let (component, from_cache) = match self.deserialize(&path) {
            Some(c) => (c, true),
            None => {
                let compiled =
                    self.engine
                        .precompile_component(bytes)
                        .map_err(|e| HostError::Compile {
                            connector: name.to_owned(),
                            reason: format!("{e:#}"),
                        })?;
                self.store_cache(&path, &compiled)?;
                let component = self.deserialize(&path).ok_or_else(|| HostError::Cache {
                    path: path.display().to_string(),
                    reason: "cannot read back the compiled component".into(),
                })?;
                (component, false)
            }
        };
        let ty = component.component_type();
        let denied: Vec<String> = ty
            .imports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .filter(|n| !GRANTABLE.iter().any(|g| n.starts_with(g)))
            .collect();
        if !denied.is_empty() {
            return Err(HostError::Imports {
                connector: name.to_owned(),
                imports: denied,
            });
        }
        let imports = ty
            .imports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        let contract = Contract::of_exports(ty.exports(&self.engine).map(|(n, _)| n));
        Ok(Connector {
            name: name.to_owned(),
            digest,
            from_cache,
            imports,
            contract,
            component,
            engine: self.engine.clone(),
            linker: self.linker.clone(),
            _ticker: self.ticker.clone(),
        })
    }

    fn store_cache(&self, path: &Path, compiled: &[u8]) -> Result<()> {
        let err = |e: std::io::Error| HostError::Cache {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(&self.cache_dir).map_err(err)?;
        // a name of its own per write: threads of one process may compile the same component
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
        std::fs::write(&tmp, compiled).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }

    #[allow(unsafe_code)]
    fn deserialize(&self, path: &Path) -> Option<Component> {
        if !path.exists() {
            return None;
        }
        // SAFETY: the file was written by `store_cache` from `Engine::precompile_component`
        // into the host's private cache directory, keyed by the component's sha256 and the
        // engine's compatibility hash; wasmtime additionally checks its header and version.
        unsafe { Component::deserialize_file(&self.engine, path) }.ok()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The version of the contract a component was built against. The host runs each version it
/// ever released; the rest of the host sees the current one's values ([`v0_1`] converts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// `sluice:connector@0.1.0`
    V0_1,
    /// `sluice:connector@0.2.0` (before `objects`): linked by the current bindings, as the
    /// component model resolves 0.2.0 names to the compatible 0.2.2 ones
    V0_2_0,
    /// `sluice:connector@0.2.1` (before `http.fetch-all`): linked the same way
    V0_2_1,
    /// `sluice:connector@0.2.2`, the current one
    V0_2_2,
}

/// The export a 0.2.0 component has.
const SOURCE_EXPORT_0_2_0: &str = "sluice:connector/source@0.2.0";
/// The export a 0.2.1 component has.
const SOURCE_EXPORT_0_2_1: &str = "sluice:connector/source@0.2.1";

impl Contract {
    /// The version whose `source` a component exports; the current one when it exports none
    /// (instantiating then fails, naming the missing export).
    fn of_exports<'a>(exports: impl Iterator<Item = &'a str>) -> Contract {
        let mut contract = Contract::V0_2_2;
        for name in exports {
            if name == v0_1::SOURCE_EXPORT {
                contract = Contract::V0_1;
            } else if name == SOURCE_EXPORT_0_2_0 {
                contract = Contract::V0_2_0;
            } else if name == SOURCE_EXPORT_0_2_1 {
                contract = Contract::V0_2_1;
            }
        }
        contract
    }

    /// The package version, as in the WIT (`0.2.2`).
    pub fn version(self) -> &'static str {
        match self {
            Contract::V0_1 => "0.1.0",
            Contract::V0_2_0 => "0.2.0",
            Contract::V0_2_1 => "0.2.1",
            Contract::V0_2_2 => "0.2.2",
        }
    }
}

/// A guest's exports, in the version it was built against.
enum Guest {
    Current(bindings::Connector),
    V0_1(v0_1::Connector),
}

/// A compiled, import-checked connector component.
pub struct Connector {
    pub name: String,
    /// sha256 of the component bytes, hex
    pub digest: String,
    /// whether the compiled artifact came from the disk cache
    pub from_cache: bool,
    /// what the component imports
    pub imports: Vec<String>,
    /// the contract version it was built against
    pub contract: Contract,
    component: Component,
    engine: Engine,
    linker: Arc<Linker<State>>,
    /// keeps the epoch advancing while the connector exists (its timeouts depend on it)
    _ticker: Arc<Ticker>,
}

impl Connector {
    /// A fresh instance in its own store, granted only what `sandbox` says.
    pub async fn instantiate(&self, sandbox: Sandbox) -> Result<Instance> {
        let mut wasi = WasiCtxBuilder::new();
        // file reads of granted directories run on the calling thread instead of a hop to
        // tokio's blocking pool and back for every read (they are local and short)
        wasi.allow_blocking_current_thread(true);
        for dir in &sandbox.read_dirs {
            wasi.preopened_dir(&dir.host, &dir.guest, FsPerms::ReadOnly)
                .map_err(|e| HostError::Grant {
                    connector: self.name.clone(),
                    dir: dir.guest.clone(),
                    reason: format!("{e:#}"),
                })?;
        }
        let client = transport::checked_client(&sandbox.policy)
            .map_err(|e| HostError::Engine(e.to_string()))?;
        let token_client =
            transport::trusted_client().map_err(|e| HostError::Engine(e.to_string()))?;
        let state = State {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            budget: budget::StoreBudget::new(sandbox.memory_bytes),
            policy: sandbox.policy.clone(),
            client: client.clone(),
            token_client: token_client.clone(),
            connector: self.name.clone(),
            logs: Vec::new(),
            log_gate: log_gate::LogGate::new(
                sandbox.max_log_lines,
                sandbox.max_log_lines_per_sec,
                std::time::Instant::now(),
            ),
            metrics: HttpMetrics::default(),
            http_ctx: wasmtime_wasi_http::WasiHttpCtx::new(),
            hooks: wasi_http::PolicyHooks::new(
                sandbox.policy.clone(),
                client,
                token_client,
                &self.name,
                sandbox.max_http_in_flight,
            ),
            databases: sandbox.databases.clone(),
            buckets: sandbox.buckets.clone(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.budget);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(deadline_ticks(sandbox.call_timeout));
        // start functions run guest code: the epoch stops it, this stops a blocked host call.
        // The instance is made before its exports are typed, so a component's start functions
        // always run under the store's budget and deadline, whatever it exports.
        let instantiating = async {
            let instance = self
                .linker
                .instantiate_async(&mut store, &self.component)
                .await?;
            Ok::<_, wasmtime::Error>(match self.contract {
                Contract::V0_2_0 | Contract::V0_2_1 | Contract::V0_2_2 => {
                    Guest::Current(bindings::Connector::new(&mut store, &instance)?)
                }
                Contract::V0_1 => Guest::V0_1(v0_1::Connector::new(&mut store, &instance)?),
            })
        };
        let guest = match tokio::time::timeout(host_call_limit(&sandbox), instantiating).await {
            Ok(r) => r.map_err(|e| classify(&self.name, None, "instantiate", &sandbox, e))?,
            Err(_) => {
                return Err(HostError::Timeout {
                    connector: self.name.clone(),
                    resource: None,
                    phase: "instantiate",
                    limit_ms: sandbox.call_timeout.as_millis() as u64,
                });
            }
        };
        Ok(Instance {
            name: self.name.clone(),
            store,
            guest,
            sandbox,
        })
    }
}

fn deadline_ticks(d: Duration) -> u64 {
    (d.as_millis() as u64 / TICK_MS).max(1)
}

/// How long a call may take in host time: the guest deadline plus a grace of a few ticks, so
/// the epoch trap (which names the call) normally fires first.
fn host_call_limit(sandbox: &Sandbox) -> Duration {
    sandbox.call_timeout + Duration::from_millis(50 * TICK_MS)
}

fn classify(
    connector: &str,
    resource: Option<&str>,
    phase: &'static str,
    sandbox: &Sandbox,
    err: wasmtime::Error,
) -> HostError {
    let resource = resource.map(str::to_owned);
    if err
        .chain()
        .any(|c| c.downcast_ref::<budget::OverBudget>().is_some())
    {
        return HostError::Memory {
            connector: connector.to_owned(),
            resource,
            phase,
            limit_mb: (sandbox.memory_bytes >> 20) as u64,
        };
    }
    if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return HostError::Timeout {
            connector: connector.to_owned(),
            resource,
            phase,
            limit_ms: sandbox.call_timeout.as_millis() as u64,
        };
    }
    if let Some(reason) = contract_breach(&err.root_cause().to_string()) {
        return HostError::Contract {
            connector: connector.to_owned(),
            resource,
            phase,
            reason: hygiene::escape_controls(&sandbox.policy.redact(&reason)),
        };
    }
    let reason = format!("{err:#}");
    HostError::Trap {
        connector: connector.to_owned(),
        resource,
        phase,
        reason: hygiene::escape_controls(&sandbox.policy.redact(&reason)),
    }
}

/// The canonical ABI checks wasmtime makes on what a guest passes or returns, in words: a
/// handle it does not hold, or a list or string outside its memory. `None` for other errors.
fn contract_breach(root: &str) -> Option<String> {
    let why = if root.contains("handle index") {
        "a resource handle it does not hold (never issued, or already dropped)"
    } else if root.contains("out of bounds of memory") {
        "a value whose pointer and length lie outside its memory"
    } else {
        return None;
    };
    Some(format!("it handed the host {why} ({root})"))
}

/// An extraction opened in an instance.
pub struct Extraction {
    resource: String,
    handle: ResourceAny,
}

impl Extraction {
    pub fn resource(&self) -> &str {
        &self.resource
    }
}

/// A running connector instance.
pub struct Instance {
    name: String,
    store: Store<State>,
    guest: Guest,
    sandbox: Sandbox,
}

impl Instance {
    fn arm(&mut self) {
        self.store
            .set_epoch_deadline(deadline_ticks(self.sandbox.call_timeout));
    }

    fn connector_error(&self, resource: Option<&str>, e: ConnectorError) -> HostError {
        HostError::Connector {
            connector: self.name.clone(),
            resource: resource.map(str::to_owned),
            kind: e.kind,
            message: hygiene::escape_controls(&self.sandbox.policy.redact(&e.message)),
            retryable: e.retryable,
        }
    }

    async fn guarded<F, T>(
        &mut self,
        resource: Option<&str>,
        phase: &'static str,
        f: F,
    ) -> Result<T>
    where
        F: AsyncFnOnce(&mut Self) -> wasmtime::Result<T>,
    {
        self.arm();
        // epoch deadlines stop guest code; this stops a call blocked in a host function
        let limit = host_call_limit(&self.sandbox);
        let out = tokio::time::timeout(limit, f(self)).await;
        match out {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(classify(&self.name, resource, phase, &self.sandbox, e)),
            Err(_) => Err(HostError::Timeout {
                connector: self.name.clone(),
                resource: resource.map(str::to_owned),
                phase,
                limit_ms: self.sandbox.call_timeout.as_millis() as u64,
            }),
        }
    }

    /// The connector's spec for `config` (JSON), after checking everything it declares
    /// ([`declared::check_spec`]).
    pub async fn spec(&mut self, config: &str) -> Result<SourceSpec> {
        let config = config.to_owned();
        let r = self
            .guarded(None, "spec", async |me: &mut Self| match &me.guest {
                Guest::Current(g) => {
                    g.sluice_connector_source()
                        .call_spec(&mut me.store, &config)
                        .await
                }
                Guest::V0_1(g) => Ok(g
                    .sluice_connector0_1_0_source()
                    .call_spec(&mut me.store, &config)
                    .await?
                    .map(v0_1::spec)
                    .map_err(v0_1::error)),
            })
            .await?;
        let spec = r.map_err(|e| self.connector_error(None, e))?;
        declared::check_spec(&spec).map_err(|r| HostError::Declared {
            connector: self.name.clone(),
            field: r.field,
            value: r.value,
            rule: r.rule,
        })?;
        Ok(spec)
    }

    /// Open an extraction of `resource`.
    pub async fn open(
        &mut self,
        resource: &str,
        config: &str,
        state: Option<&str>,
        window: Option<&Window>,
        parent_records: Option<&[u8]>,
    ) -> Result<Extraction> {
        let (res, config) = (resource.to_owned(), config.to_owned());
        let state = state.map(str::to_owned);
        let window = window.cloned();
        let parent = parent_records.map(<[u8]>::to_vec);
        let r = self
            .guarded(Some(resource), "open", async |me: &mut Self| {
                match &me.guest {
                    Guest::Current(g) => {
                        g.sluice_connector_source()
                            .call_open(
                                &mut me.store,
                                &res,
                                &config,
                                state.as_deref(),
                                window.as_ref(),
                                parent.as_deref(),
                            )
                            .await
                    }
                    Guest::V0_1(g) => Ok(g
                        .sluice_connector0_1_0_source()
                        .call_open(
                            &mut me.store,
                            &res,
                            &config,
                            state.as_deref(),
                            window.as_ref().map(v0_1::window).as_ref(),
                            parent.as_deref(),
                        )
                        .await?
                        .map_err(v0_1::error)),
                }
            })
            .await?;
        let handle = r.map_err(|e| self.connector_error(Some(resource), e))?;
        Ok(Extraction {
            resource: resource.to_owned(),
            handle,
        })
    }

    /// The next page of an extraction, or `None` when it is exhausted.
    pub async fn next(&mut self, ext: &Extraction) -> Result<Option<Page>> {
        let handle = ext.handle;
        let r = self
            .guarded(
                Some(&ext.resource),
                "next",
                async |me: &mut Self| match &me.guest {
                    Guest::Current(g) => {
                        g.sluice_connector_source()
                            .extraction()
                            .call_next(&mut me.store, handle)
                            .await
                    }
                    Guest::V0_1(g) => Ok(g
                        .sluice_connector0_1_0_source()
                        .extraction()
                        .call_next(&mut me.store, handle)
                        .await?
                        .map(|p| p.map(v0_1::page))
                        .map_err(v0_1::error)),
                },
            )
            .await?;
        r.map_err(|e| self.connector_error(Some(&ext.resource), e))
    }

    /// Release an extraction. The guest's destructor runs under the call deadline like every
    /// other call; a destructor that traps or loops fails the run.
    pub async fn close(&mut self, ext: Extraction) -> Result<()> {
        let handle = ext.handle;
        self.guarded(Some(&ext.resource), "close", async |me: &mut Self| {
            handle.resource_drop_async(&mut me.store).await
        })
        .await
    }

    /// Log lines written since the last call.
    pub fn take_logs(&mut self) -> Vec<LogLine> {
        let state = self.store.data_mut();
        state.flush_rate_warning();
        std::mem::take(&mut state.logs)
    }

    /// HTTP counters of this instance.
    pub fn http_metrics(&self) -> HttpMetrics {
        let d = self.store.data();
        let mut m = d.metrics.clone();
        m.requests += d.hooks.requests.load(std::sync::atomic::Ordering::Relaxed);
        m.denied += d.hooks.denied.load(std::sync::atomic::Ordering::Relaxed);
        m.bytes += d.hooks.bytes.load(std::sync::atomic::Ordering::Relaxed);
        m
    }
}
