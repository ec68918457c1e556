//! The pipeline file (`PIPELINE.toml`): what the pipeline is. Flags say how a run behaves.
//!
//! ```toml
//! name = "github_demo"
//! dataset = "github"                 # default: <name>_dataset
//! destination = "duckdb"             # or "duckdb:/path/to/file.duckdb",
//!                                    # "postgres://user@host:5432/db" (password: PGPASSWORD),
//!                                    # "file:///dir" (Parquet; "file:///dir?format=jsonl")
//! replace_strategy = "truncate-and-insert"   # or "insert-from-staging"
//!
//! [connector]
//! name = "synthetic"                 # a bundled connector, or:
//! # path = "connectors/my.wasm"      # a component file
//! # digest = "<sha256>"              # refuse any other component
//!
//! [config]                           # handed to the connector as JSON
//! rows = 50000
//!
//! [grants]
//! allow_read = ["./data"]            # directories the connector may read, read-only
//! allow_hosts = ["https://api.github.com"]
//!
//! [limits]
//! memory_mb = 512
//! call_timeout_secs = 30
//! concurrency = 4                    # resources extracted at once
//!
//! schema_contract = "evolve"         # the source's data contract (see below)
//!
//! [schema]
//! import = "schemas/github.schema.yaml"   # dlt-format schema merged in when it changes
//! export = "schemas/export"               # <dir>/<schema>.schema.yaml written after each run
//! preferred_types = { "re:_at$" = "timestamp", "amount" = "decimal" }
//! fast_path = true                      # pages that fit the schema skip the general path
//! arrow_dlt_load_id = false             # Arrow pages get `_dlt_load_id` (dlt's default: no)
//! arrow_dlt_id = false                  # Arrow pages get `_dlt_id` (dlt's default: no)
//!
//! [notifications]
//! webhook_url_env = "SLACK_WEBHOOK_URL"   # or webhook_url = "https://…"; schema changes
//!                                         # are posted there (Slack incoming-webhook JSON)
//!
//! [resources.events]                 # per-resource overrides
//! table_name = "events"
//! write_disposition = "merge"        # append | replace | merge | skip
//! merge_strategy = "delete-insert"   # delete-insert | upsert | insert-only | scd2
//! primary_key = ["id"]
//! merge_key = ["day"]
//! schema_contract = { columns = "freeze", data_type = "discard_row" }
//! json_schema = "schemas/event.json" # columns and contract from a JSON Schema
//! [resources.events.columns.seq]     # column hints
//! dedup_sort = "desc"
//! [resources.events.columns.deleted]
//! hard_delete = true
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sluice_schema::SchemaContract;

use crate::PipelineError;

/// The pipeline file as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// the pipeline file this was read from (no grant may expose it)
    #[serde(skip)]
    pub file: Option<PathBuf>,
    pub name: String,
    pub dataset: Option<String>,
    #[serde(default = "default_destination")]
    pub destination: String,
    /// how `replace` empties tables: `truncate-and-insert` (default) or `insert-from-staging`
    pub replace_strategy: Option<String>,
    pub connector: ConnectorSpec,
    #[serde(default = "empty_table")]
    pub config: toml::Value,
    #[serde(default)]
    pub grants: Grants,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceOverride>,
    /// secrets the host injects into requests to one granted host; connectors name them,
    /// never see them
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretSpec>,
    /// the data contract of the whole source (below resource contracts)
    pub schema_contract: Option<SchemaContract>,
    #[serde(default)]
    pub schema: SchemaOptions,
    #[serde(default)]
    pub notifications: Notifications,
}

/// Schema files and settings of a pipeline.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaOptions {
    /// a schema in dlt's YAML (or JSON) format, merged into the pipeline's schema whenever
    /// the file changes
    pub import: Option<PathBuf>,
    /// directory the schema is written to (`<schema>.schema.yaml`) after every run
    pub export: Option<PathBuf>,
    /// column name (or `re:<regex>`) → data type of new columns
    #[serde(default)]
    pub preferred_types: indexmap::IndexMap<String, String>,
    /// normalize pages that fit the schema as it stands on the fast path (simd-json tape
    /// straight into Arrow); `false` sends every page through the general path. The output
    /// is the same either way.
    #[serde(default = "yes")]
    pub fast_path: bool,
    /// add `_dlt_load_id` to the rows of Arrow pages (dlt's `add_dlt_load_id`; off, as in dlt)
    #[serde(default)]
    pub arrow_dlt_load_id: bool,
    /// add a unique `_dlt_id` to the rows of Arrow pages (dlt's `add_dlt_id`; off, as in dlt;
    /// an scd2 table always gets its row hash)
    #[serde(default)]
    pub arrow_dlt_id: bool,
}

fn yes() -> bool {
    true
}

impl Default for SchemaOptions {
    fn default() -> Self {
        SchemaOptions {
            import: None,
            export: None,
            preferred_types: Default::default(),
            fast_path: true,
            arrow_dlt_load_id: false,
            arrow_dlt_id: false,
        }
    }
}

/// Where schema changes are announced.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    /// a Slack incoming-webhook URL (or any endpoint taking `{"text": …}`); it is a secret
    pub webhook_url: Option<String>,
    /// the environment variable holding the webhook URL (keeps the secret out of the file)
    pub webhook_url_env: Option<String>,
}

/// One secret: where its value comes from, which host it may go to and how the host sends
/// it (the auth scheme). Connectors name it; they never see it.
///
/// ```toml
/// [secrets.github_token]
/// env = "GITHUB_TOKEN"                 # or value = "…" (keep secrets out of files)
/// optional = true                      # unset: requests go without it
/// host = "https://api.github.com"
/// scheme = "bearer"                    # Authorization: Bearer <value>
///
/// [secrets.key]                        # scheme = "api_key" (the default)
/// env = "API_KEY"
/// host = "https://api.example.com"
/// header = "X-Api-Key"                 # or query = "api_key"; prefix = "Token "
///
/// [secrets.password]                   # HTTP basic: Authorization: Basic base64(user:value)
/// env = "API_PASSWORD"
/// host = "https://api.example.com"
/// scheme = "http_basic"
/// username = "bob"
///
/// [secrets.shop_password]              # no host: only a `[grants.databases]` or
/// env = "SHOP_PASSWORD"                # `[grants.buckets]` entry may name it
///
/// [secrets.client_secret]              # OAuth2 client credentials, exchanged by the host
/// env = "CLIENT_SECRET"
/// host = "https://api.example.com"
/// scheme = "oauth2_client_credentials"
/// token_url = "https://auth.example.com/oauth/token"
/// client_id = "my-client"
/// token_request = { scope = "read" }  # extra form fields
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    pub env: Option<String>,
    pub value: Option<String>,
    /// with `env`: when the variable is unset, requests naming the secret go without it
    /// (public APIs that take a token for higher rate limits)
    #[serde(default)]
    pub optional: bool,
    /// the host the secret goes to; none for a secret only a database grant names
    pub host: Option<String>,
    /// `api_key` (default), `bearer`, `http_basic`, `oauth2_client_credentials`
    pub scheme: Option<String>,
    pub header: Option<String>,
    #[serde(default)]
    pub prefix: String,
    pub query: Option<String>,
    /// `http_basic`: the user name (the secret is the password)
    pub username: Option<String>,
    /// `http_basic`: a fixed password when the secret is the user name (Freshdesk's API key
    /// goes as the user name with the password `X`)
    pub password: Option<String>,
    /// `oauth2_client_credentials`: the token endpoint
    pub token_url: Option<String>,
    /// `oauth2_client_credentials`: the client id (the secret is the client secret)
    pub client_id: Option<String>,
    /// `oauth2_client_credentials`: extra form fields of the token request
    #[serde(default)]
    pub token_request: BTreeMap<String, String>,
}

fn default_destination() -> String {
    "duckdb".into()
}

fn empty_table() -> toml::Value {
    toml::Value::Table(Default::default())
}

/// Which component runs the pipeline.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSpec {
    /// a bundled connector (`files`, `synthetic`, `hello`)
    pub name: Option<String>,
    /// a component file, relative to the pipeline file
    pub path: Option<PathBuf>,
    /// sha256 the component must have
    pub digest: Option<String>,
    /// an `oci://registry/namespace/name:tag` reference, run at the digest `sluice.lock`
    /// (beside the pipeline file) recorded when it was added
    pub oci: Option<String>,
    /// public keys (PEM, cosign's format) whose signatures on registry components the
    /// pipeline trusts, relative to the pipeline file
    #[serde(default)]
    pub trusted_keys: Vec<PathBuf>,
    /// run registry components that are unsigned or signed by no trusted key
    #[serde(default)]
    pub allow_unsigned: bool,
    /// the registry user (with `registry_secret`; else SLUICE_REGISTRY_USER)
    pub registry_user: Option<String>,
    /// a secret without a host holding the registry password or token (else
    /// SLUICE_REGISTRY_PASSWORD)
    pub registry_secret: Option<String>,
}

/// What the connector is granted.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// directories, read-only, seen at their absolute path
    #[serde(default)]
    pub allow_read: Vec<PathBuf>,
    /// single files, read-only, seen at their absolute path with nothing else of their
    /// directory (what `sluice load FILE` grants)
    #[serde(default)]
    pub allow_read_files: Vec<PathBuf>,
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    #[serde(default)]
    pub allow_private_addresses: bool,
    /// databases the connector may read through the host's `sql` interface, by grant name
    #[serde(default)]
    pub databases: BTreeMap<String, DatabaseGrantSpec>,
    /// buckets the connector may read through the host's `objects` interface, by grant name
    #[serde(default)]
    pub buckets: BTreeMap<String, BucketGrantSpec>,
}

/// One `[grants.buckets.NAME]`: where the objects are (the connector sees only NAME and keys
/// below the URL's prefix) and how the host signs in.
///
/// ```toml
/// [secrets.s3_key_id]                  # no `host`: never sent over HTTP
/// env = "LOADER_KEY_ID"
/// [secrets.s3_secret]
/// env = "LOADER_SECRET"
///
/// [grants.buckets.raw]
/// url = "s3://raw-data/exports"        # or "file:///srv/exports"
/// region = "eu-west-1"                 # default: AWS_REGION, else us-east-1
/// endpoint = "http://127.0.0.1:9000"   # an S3-compatible server; default: AWS
/// access_key_id = "s3_key_id"          # names of secrets; without them the host signs with
/// secret_access_key = "s3_secret"      # the AWS environment (AWS_ACCESS_KEY_ID, …)
/// # session_token = "s3_token"
/// # anonymous = true                   # a public bucket: unsigned requests
///
/// [grants.buckets.gcs]                 # Google Cloud Storage
/// url = "gs://bucket/exports"
/// service_account_key = "gcs_key"      # the JSON key's secret; default: the environment
/// # endpoint = "http://127.0.0.1:4443" # a GCS-compatible server (with a key or `anonymous`)
///
/// [grants.buckets.blobs]               # Azure Blob Storage
/// url = "az://container/exports"
/// account = "mystorageaccount"         # default: AZURE_STORAGE_ACCOUNT_NAME
/// access_key = "azure_key"             # the account key's secret; default: the environment
/// # endpoint = "http://127.0.0.1:10000/devstoreaccount1"   # Azurite
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketGrantSpec {
    pub url: String,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    #[serde(default)]
    pub anonymous: bool,
    /// Azure: the storage account
    pub account: Option<String>,
    /// Azure: the name of the secret holding the account key
    pub access_key: Option<String>,
    /// Google Cloud Storage: the name of the secret holding a service account's JSON key
    pub service_account_key: Option<String>,
}

/// One `[grants.databases.NAME]`: where the database is (the connector sees only NAME), the
/// secret holding its password, and what may be read.
///
/// ```toml
/// [secrets.shop_password]              # no `host`: never sent over HTTP
/// env = "SHOP_PASSWORD"
///
/// [grants.databases.shop]
/// url = "postgres://loader@127.0.0.1:5432/shop?sslmode=verify-full&sslrootcert=ca.pem"
/// # url = "sqlite:///srv/data/shop.db"  # a SQLite file, read-only
/// password = "shop_password"           # the name of a secret
/// schemas = ["public"]                 # default: public (PostgreSQL), main (SQLite)
/// tables = ["orders", "customer*", "sales.refunds"]   # default: every table of `schemas`
/// statement_timeout_secs = 300
/// [grants.databases.shop.queries]      # your own SQL, read as tables of schema `query`
/// big_orders = "SELECT * FROM orders WHERE total > 1000"
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseGrantSpec {
    pub url: String,
    pub password: Option<String>,
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(default)]
    pub tables: Vec<String>,
    #[serde(default)]
    pub queries: BTreeMap<String, String>,
    #[serde(default = "default_statement_timeout")]
    pub statement_timeout_secs: u64,
}

fn default_statement_timeout() -> u64 {
    300
}

/// Limits of the sandbox and the run. Defaults are documented in the README.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub memory_mb: u64,
    pub call_timeout_secs: u64,
    pub concurrency: usize,
    /// largest page a connector may return, MiB
    pub max_page_mb: u64,
    /// seal and load a package every this many records (checkpointed extraction)
    pub package_rows: Option<u64>,
    /// seal and load a package every this many MiB of pages
    pub package_mb: Option<u64>,
    /// a run of one resource normalizes and loads each page while it extracts (false: each
    /// package loads once sealed, after its extraction)
    pub load_while_extracting: bool,
    /// largest resource state (checkpoint) a connector may commit, KiB
    pub max_state_kb: u64,
    /// log lines one connector instance may write (then one warning, and the rest dropped)
    pub max_log_lines: usize,
    /// log lines per second one connector instance may write (bursts up to one second's
    /// worth); lines over it are dropped and counted in a warning
    pub max_log_lines_per_sec: u32,
    /// longest the extraction of one run may take, seconds (packages sealed before it stay)
    pub run_timeout_secs: u64,
    /// longest one HTTP request may take across retries and their waits, seconds
    pub http_retry_budget_secs: u64,
    /// requests per second per host (`"api.github.com" = 5`, or `"host:port"`), shared by all
    /// resources; none by default
    pub http_rate_per_second: BTreeMap<String, f64>,
    /// one HTTP request's timeout, seconds: the default and the cap on what a connector asks
    pub http_timeout_secs: u64,
    /// largest header section of a request or response, KiB
    pub http_max_header_kb: usize,
    /// largest response body (and request body over `wasi:http`), MiB
    pub http_max_body_mb: u64,
    /// `wasi:http` requests one connector instance may have awaiting a response at once
    pub http_in_flight: usize,
    /// requests in flight to one host at once, for the whole pipeline (all resources and
    /// instances, `http` and `wasi:http` alike); 1 sends them one at a time
    pub http_per_host: usize,
    /// most columns one table may have (PostgreSQL's own limit is 1,600)
    pub max_columns: usize,
    /// most data tables (nested ones included) one schema may have
    pub max_tables: usize,
    /// deepest nesting of objects and lists in a record that may create columns
    pub max_nesting_depth: usize,
    /// longest key in such a record, bytes (the destination then shortens names to its limit)
    pub max_identifier_bytes: usize,
    /// how long a run waits for another run of the same pipeline on the same destination
    /// to end, seconds (0: stop at once with a message naming the holder)
    pub lease_wait_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mb: 512,
            call_timeout_secs: 30,
            concurrency: 4,
            max_page_mb: 256,
            package_rows: None,
            package_mb: None,
            load_while_extracting: true,
            max_state_kb: 1024,
            max_log_lines: 10_000,
            max_log_lines_per_sec: 1_000,
            run_timeout_secs: 6 * 3600,
            http_retry_budget_secs: 300,
            http_rate_per_second: BTreeMap::new(),
            http_timeout_secs: 60,
            http_max_header_kb: 64,
            http_max_body_mb: 64,
            http_in_flight: 16,
            http_per_host: 32,
            max_columns: 1_600,
            max_tables: 1_000,
            max_nesting_depth: 64,
            max_identifier_bytes: 1_024,
            lease_wait_secs: 0,
        }
    }
}

/// Per-resource overrides of what the connector declares.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceOverride {
    pub table_name: Option<String>,
    pub write_disposition: Option<String>,
    pub merge_strategy: Option<String>,
    pub primary_key: Option<Vec<String>>,
    pub merge_key: Option<Vec<String>>,
    pub max_table_nesting: Option<u32>,
    pub selected: Option<bool>,
    /// merge: the data is unique by primary key already; skip deduplication
    pub deduplicated: Option<bool>,
    /// scd2: `[valid_from, valid_to]` column names
    pub validity_column_names: Option<[String; 2]>,
    /// scd2: `valid_to` of active rows instead of NULL (e.g. `9999-12-31`)
    pub active_record_timestamp: Option<String>,
    /// scd2: validity boundary instead of the load's creation time
    pub boundary_timestamp: Option<String>,
    /// column hints by column name (the name is the key)
    #[serde(default)]
    pub columns: BTreeMap<String, sluice_schema::ColumnHint>,
    /// column hints of nested tables (dlt's `nested_hints`):
    /// `[[resources.R.nested]]` with `path = ["items"]` and
    /// `columns = [{ name = "on", data_type = "date" }]`
    #[serde(default)]
    pub nested: Vec<sluice_normalize::NestedHints>,
    /// a host-side incremental cursor (overrides the connector's)
    pub incremental: Option<crate::IncrementalSpec>,
    /// the data contract of this resource's tables
    pub schema_contract: Option<SchemaContract>,
    /// a JSON Schema file: the resource's columns and, by default, its contract
    pub json_schema: Option<PathBuf>,
}

impl PipelineSpec {
    /// Read a pipeline file, apply `--set KEY=VALUE` overrides, and resolve relative paths
    /// against the file's directory.
    pub fn from_file(path: &Path, sets: &[String]) -> Result<PipelineSpec, PipelineError> {
        let text = std::fs::read_to_string(path).map_err(|e| PipelineError::Spec {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut spec =
            Self::from_toml(&text, sets, base).map_err(|reason| PipelineError::Spec {
                path: path.display().to_string(),
                reason,
            })?;
        spec.file = Some(path.to_owned());
        Ok(spec)
    }

    /// Parse pipeline TOML, apply overrides, resolve paths against `base`.
    pub fn from_toml(text: &str, sets: &[String], base: &Path) -> Result<PipelineSpec, String> {
        let value: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
        Self::from_value(value, sets, base)
    }

    /// A pipeline built as a value (`sluice load`), with overrides applied and paths resolved
    /// against `base`: the same checks as a file, without a text round trip.
    pub fn from_value(
        mut value: toml::Value,
        sets: &[String],
        base: &Path,
    ) -> Result<PipelineSpec, String> {
        for set in sets {
            apply_set(&mut value, set)?;
        }
        let mut spec: PipelineSpec = value
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())?;
        let abs = |p: &PathBuf| {
            if p.is_absolute() {
                p.clone()
            } else {
                base.join(p)
            }
        };
        spec.grants.allow_read = spec.grants.allow_read.iter().map(abs).collect();
        spec.grants.allow_read_files = spec.grants.allow_read_files.iter().map(abs).collect();
        spec.connector.path = spec.connector.path.as_ref().map(abs);
        spec.connector.trusted_keys = spec.connector.trusted_keys.iter().map(abs).collect();
        spec.schema.import = spec.schema.import.as_ref().map(abs);
        spec.schema.export = spec.schema.export.as_ref().map(abs);
        for r in spec.resources.values_mut() {
            r.json_schema = r.json_schema.as_ref().map(abs);
        }
        for g in spec.grants.databases.values_mut() {
            if let Some(path) = crate::db_grants::sqlite_path(&g.url) {
                g.url = format!("sqlite://{}", abs(&path).display());
            }
        }
        Ok(spec)
    }

    /// The dataset name (dlt: `<pipeline>_dataset` by default).
    pub fn dataset_name(&self) -> String {
        self.dataset
            .clone()
            .unwrap_or_else(|| format!("{}_dataset", self.name))
    }
}

/// Top-level keys of the pipeline file; any other `--set` key is a connector config key.
const TOP_LEVEL: [&str; 13] = [
    "name",
    "dataset",
    "destination",
    "replace_strategy",
    "connector",
    "config",
    "grants",
    "limits",
    "resources",
    "secrets",
    "schema_contract",
    "schema",
    "notifications",
];

/// Apply `a.b.c=value`: value parsed as TOML when it parses, else taken as a string. A key
/// that does not start with a top-level key of the pipeline file is one of the connector's
/// config (`client.base_url=…` sets `config.client.base_url`).
pub fn apply_set(root: &mut toml::Value, set: &str) -> Result<(), String> {
    let (key, raw) = set
        .split_once('=')
        .ok_or_else(|| format!("`--set {set}`: expected KEY=VALUE"))?;
    let first = key.split('.').next().unwrap_or_default();
    let key = if TOP_LEVEL.contains(&first) {
        key.to_owned()
    } else {
        format!("config.{key}")
    };
    let key = key.as_str();
    let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = root;
    for (i, part) in parts.iter().enumerate() {
        let table = cur
            .as_table_mut()
            .ok_or_else(|| format!("`--set {key}`: `{}` is not a table", parts[..i].join(".")))?;
        if i + 1 == parts.len() {
            table.insert((*part).to_owned(), parsed);
            return Ok(());
        }
        cur = table
            .entry((*part).to_owned())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
    Ok(())
}

/// TOML → JSON (connector config travels as JSON).
pub fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => serde_json::Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_keys_outside_the_file_layout_go_to_the_connector_config() {
        let text = "name = \"p\"\n[connector]\nname = \"rest_api\"\n[config.client]\nbase_url = \"https://a\"\n";
        let sets = [
            "client.base_url=http://127.0.0.1:9/v1/".to_owned(),
            "limits.memory_mb=256".to_owned(),
            "rows=10".to_owned(),
            "grants.allow_hosts=[\"http://127.0.0.1:9\"]".to_owned(),
        ];
        let spec = PipelineSpec::from_toml(text, &sets, Path::new(".")).expect("valid");
        assert_eq!(
            spec.config["client"]["base_url"].as_str(),
            Some("http://127.0.0.1:9/v1/")
        );
        assert_eq!(spec.config["rows"].as_integer(), Some(10));
        assert_eq!(spec.limits.memory_mb, 256);
        assert_eq!(
            spec.grants.allow_hosts,
            vec!["http://127.0.0.1:9".to_owned()]
        );
        assert!(PipelineSpec::from_toml(text, &["no_equals".to_owned()], Path::new(".")).is_err());
    }
}
