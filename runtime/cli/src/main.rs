//! `sluice`: run pipelines of sandboxed wasm connectors into DuckDB, PostgreSQL or files.
//!
//! Exit codes: 0 success; 1 the run failed (the message names stage and place; data committed
//! by earlier runs is untouched); 2 invalid command line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sluice_cli::{component, data_dir};
use sluice_pipeline::{PipelineSpec, Progress, RunOptions, RunSummary};

// The normalizer allocates many small strings across rayon threads; mimalloc's thread-local
// free lists cut the time glibc malloc spent consolidating (measured in BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Load data through sandboxed wasm connectors into DuckDB, PostgreSQL or Parquet files"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline file
    Run {
        /// the pipeline file (TOML)
        pipeline_file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Show what a run of a pipeline file would do — connector and digest, grants, secrets
    /// by name, destination, resources with disposition, keys and cursor — without
    /// extracting or loading anything (= `run --dry-run`)
    Plan {
        /// the pipeline file (TOML)
        pipeline_file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Load a JSON, NDJSON, CSV, TSV or Parquet file (local, S3, GCS or Azure) into a table (the `df.to_sql()` of Sluice)
    Load {
        /// a JSON array, NDJSON, CSV or TSV file, gzip- or zstd-compressed or not (CSV:
        /// separator, quote and header sniffed), or a glob of them (`'data/**/*.csv.gz'`:
        /// its folder is granted read-only), or `s3://bucket/key`, `gs://bucket/key`,
        /// `az://container/key` or a glob of keys (the folder before the first wildcard is
        /// granted; credentials from the AWS environment — AWS_ACCESS_KEY_ID,
        /// AWS_ENDPOINT_URL, … —, the Google one — GOOGLE_APPLICATION_CREDENTIALS,
        /// GOOGLE_SERVICE_ACCOUNT_KEY, STORAGE_EMULATOR_HOST — or the Azure one —
        /// AZURE_STORAGE_ACCOUNT_NAME, AZURE_STORAGE_ACCOUNT_KEY, AZURE_STORAGE_ENDPOINT)
        file: PathBuf,
        /// table to load into
        #[arg(long)]
        table: String,
        /// `append` (default), `replace` or `merge`
        #[arg(long, default_value = "append")]
        write_disposition: String,
        /// merge strategy: `delete-insert` (default), `upsert`, `insert-only`, `scd2`
        #[arg(long)]
        merge_strategy: Option<String>,
        /// primary key column(s), comma-separated for a compound key
        #[arg(long, value_delimiter = ',')]
        primary_key: Vec<String>,
        /// merge key column(s), comma-separated for a compound key
        #[arg(long, value_delimiter = ',')]
        merge_key: Vec<String>,
        /// load only records newer than the last load's, by this cursor path (`updated_at`,
        /// `meta.ts`); the boundary is deduplicated by primary key or row hash
        #[arg(long, value_name = "CURSOR_PATH")]
        incremental: Option<String>,
        /// the cursor's first value (JSON: `10`, `"2024-01-01T00:00:00Z"`)
        #[arg(long, requires = "incremental")]
        initial_value: Option<String>,
        #[command(flatten)]
        reading: Box<Reading>,
        #[command(flatten)]
        common: Common,
    },
    /// Print the tables of a pipeline's dataset and their row counts
    Tables {
        /// the pipeline file (TOML)
        pipeline_file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Run one read-only SQL statement on a pipeline's dataset (unqualified names are its
    /// tables)
    Query {
        /// the pipeline name (as for `sluice pipeline NAME …`)
        pipeline: String,
        /// the statement: SELECT, WITH, FROM, VALUES, TABLE, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN
        sql: String,
        /// `table` (the first 1,000 rows), `csv`, `jsonl` or `parquet`
        #[arg(long, value_enum, default_value = "table")]
        format: output::Format,
        /// write into this file instead of standard output
        #[arg(long)]
        output: Option<PathBuf>,
        /// working directory for packages and local state (env SLUICE_DATA_DIR/pipelines)
        #[arg(long)]
        pipelines_dir: Option<PathBuf>,
    },
    /// Write a table of a pipeline's dataset to a CSV, JSON lines or Parquet file
    Export {
        /// the pipeline name
        pipeline: String,
        /// the table
        table: String,
        /// `csv`, `jsonl` or `parquet`
        #[arg(long, value_enum)]
        format: output::Format,
        /// the file to write
        #[arg(long)]
        output: PathBuf,
        /// working directory for packages and local state (env SLUICE_DATA_DIR/pipelines)
        #[arg(long)]
        pipelines_dir: Option<PathBuf>,
    },
    /// Serve a read-only dashboard of pipelines on 127.0.0.1 (a token in the printed URL)
    Dashboard {
        /// the port (0: any free one)
        #[arg(long, default_value_t = 7654)]
        port: u16,
        /// the pipelines to show (default: every pipeline in the working directory)
        pipelines: Vec<String>,
        /// working directory for packages and local state (env SLUICE_DATA_DIR/pipelines)
        #[arg(long)]
        pipelines_dir: Option<PathBuf>,
    },
    /// Manage a pipeline by name (from its working directory)
    Pipeline {
        /// the pipeline name
        name: String,
        #[command(subcommand)]
        command: PipelineCommand,
        /// working directory for packages and local state (env SLUICE_DATA_DIR/pipelines)
        #[arg(long, global = true)]
        pipelines_dir: Option<PathBuf>,
    },
    /// Inspect connectors
    Connector {
        #[command(subcommand)]
        command: ConnectorCommand,
    },
    /// Start a project
    Init {
        #[command(subcommand)]
        command: InitCommand,
    },
}

#[derive(Subcommand)]
enum InitCommand {
    /// Write a connector project (the SDK vendored, a README and a pipeline file that runs it)
    Connector {
        /// the connector's name: lower-case letters, digits and `_`
        name: String,
        /// `rust`, `python` or `js`
        #[arg(long, default_value = "rust")]
        lang: String,
        /// where to write it (default ./NAME); must be empty or missing
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Write a pipeline file for a database (`--sql`: reflects its tables, keys and cursor
    /// candidates for the bundled `sql_database` connector) or a REST API (`--openapi`: reads
    /// its OpenAPI 3 / Swagger 2 document for the bundled `rest_api` connector)
    #[command(group(clap::ArgGroup::new("source").required(true).args(["sql", "openapi"])))]
    Pipeline {
        /// the pipeline's name (also the database grant's)
        name: String,
        /// `postgres://user@host:port/db`, `mysql://user@host:port/db` (MySQL, MariaDB; no
        /// password: it is read from `--password-env`) or `sqlite://path/to/file.db`
        #[arg(long)]
        sql: Option<String>,
        /// an OpenAPI 3 or Swagger 2 document, JSON or YAML: a file, or an http(s) URL (the
        /// only thing fetched)
        #[arg(long)]
        openapi: Option<String>,
        /// with --openapi: the API's URL, over the document's `servers`
        #[arg(long, requires = "openapi")]
        base_url: Option<String>,
        /// the variable holding the password, named in the file as a secret (default
        /// `PGPASSWORD` for PostgreSQL, `MYSQL_PWD` for MySQL and MariaDB)
        #[arg(long)]
        password_env: Option<String>,
        /// the file to write (default NAME.toml); never overwritten
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PipelineCommand {
    /// Drop resources (all when none named): tables with nested and staging tables, their
    /// schema entries and their state, recorded as a new load
    Drop {
        /// resources to drop
        resources: Vec<String>,
    },
    /// Move packages that keep failing to `aborted/` so new runs can proceed
    AbortPackages,
    /// Where the pipeline loads, its schema versions, state per resource, last loads,
    /// pending and aborted packages
    Info {
        /// print as JSON
        #[arg(long)]
        json: bool,
    },
    /// The last run: status, stages, rows per table, HTTP requests, retries, denials,
    /// schema changes
    Trace {
        /// print as JSON
        #[arg(long)]
        json: bool,
    },
    /// One load package: pending, aborted (with why) or loaded (rows per table)
    LoadPackage {
        /// the load id (default: the newest pending package, else the last load)
        load_id: Option<String>,
        /// print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Print the pipeline's schema in dlt's format (YAML, as `dlt pipeline NAME schema`)
    Schema {
        /// `yaml` (dlt's export format) or `json` (dlt's stored format)
        #[arg(long, default_value = "yaml")]
        format: String,
    },
    /// Restore local schema and state from the destination (fresh or stateless workers)
    Sync {
        /// where the pipeline loads, when this working directory has never run it
        #[arg(long, requires = "dataset")]
        destination: Option<String>,
        /// the pipeline's dataset, with --destination
        #[arg(long, requires = "destination")]
        dataset: Option<String>,
    },
}

#[derive(Subcommand)]
enum ConnectorCommand {
    /// List the bundled connectors
    List,
    /// Show what a connector is and asks for: resources, config schema, imported
    /// capabilities, sha256, and its cold start (precompiled load + instantiate)
    Inspect {
        /// a component file (`.wasm`), a bundled connector's name, or an `oci://` reference
        /// (pulled, not added: its manifest and signature shown)
        connector: String,
        /// configuration to ask the connector's spec with (JSON)
        #[arg(long, default_value = "{}")]
        config: String,
        /// print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Push a component to an OCI registry as a Wasm artifact, its manifest inside it and in
    /// the artifact's config (credentials: SLUICE_REGISTRY_USER / SLUICE_REGISTRY_PASSWORD)
    Publish {
        /// the component (`.wasm`)
        component: PathBuf,
        /// where: `oci://registry/namespace/name:tag` (plain HTTP only to 127.0.0.1/::1)
        reference: String,
        /// the manifest (TOML: name, version, resources, hosts, secrets, directories,
        /// databases, buckets; `["*"]` for what the pipeline grants), when the component
        /// carries none; its imports are read from the binary
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
    /// Pull a registry component, check its digest and signature, cache it and record it in
    /// `sluice.lock` (beside --pipeline's file, else ./sluice.lock)
    Add {
        /// `oci://registry/namespace/name:tag`
        reference: String,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Pull the newer version of a pipeline's `connector.oci`, print what it asks for beyond
    /// the lock, and move the lock to it (refused when it asks for more, until --accept and
    /// the pipeline's grants cover it)
    Update {
        /// the pipeline file whose `connector.oci` to update
        pipeline_file: PathBuf,
        /// take a version that asks for more than the lock recorded
        #[arg(long)]
        accept: bool,
    },
    /// Sign what a reference names now (cosign's format, pushed at `sha256-<hex>.sig`)
    Sign {
        /// `oci://registry/namespace/name:tag`
        reference: String,
        /// the private key (PEM, from `sluice connector keygen`)
        #[arg(long)]
        key: PathBuf,
    },
    /// List the connectors a registry holds, with their tags (`oci://REGISTRY[/NAMESPACE]`)
    Search {
        /// `oci://127.0.0.1:5000` or `oci://registry.example/namespace`
        registry: String,
    },
    /// Write a signing key pair: NAME.key (private, keep it) and NAME.pub (give it out)
    Keygen {
        /// the files' path without extension
        name: PathBuf,
    },
}

/// Whom `connector add` trusts.
#[derive(Args)]
struct TrustArgs {
    /// the pipeline file whose `trusted_keys` and `allow_unsigned` apply (its lock is beside it)
    #[arg(long)]
    pipeline: Option<PathBuf>,
    /// a public key (PEM) to trust besides the pipeline's
    #[arg(long = "trusted-key")]
    trusted_keys: Vec<PathBuf>,
    /// add it even when unsigned or signed by no trusted key
    #[arg(long)]
    allow_unsigned: bool,
}

#[derive(Args)]
struct Common {
    /// pipeline name (overrides the file)
    #[arg(long)]
    pipeline: Option<String>,
    /// dataset name (default `<pipeline>_dataset`)
    #[arg(long)]
    dataset: Option<String>,
    /// `duckdb` (./<pipeline>.duckdb), `duckdb:PATH`, `postgres://user@host:port/db`
    /// (password from PGPASSWORD) or `file:///dir` (Parquet; `?format=jsonl`)
    #[arg(long)]
    destination: Option<String>,
    /// working directory for packages and local state (env SLUICE_DATA_DIR/pipelines)
    #[arg(long)]
    pipelines_dir: Option<PathBuf>,
    /// override any pipeline value: `config.rows=1000`, `limits.memory_mb=256`
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// the run's data contract, over every resource's and the source's: a mode
    /// (`evolve`, `freeze`, `discard_row`, `discard_value`) or JSON such as
    /// `{"columns":"freeze"}`
    #[arg(long, value_name = "CONTRACT")]
    schema_contract: Option<String>,
    /// print the run summary as JSON
    #[arg(long)]
    json: bool,
    /// no progress display
    #[arg(long, short)]
    quiet: bool,
    /// show what would run (`sluice plan`) instead of running
    #[arg(long)]
    dry_run: bool,
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn stage(&self, stage: &str, detail: &str) {
        self.0.set_prefix(stage.to_owned());
        self.0.set_message(detail.to_owned());
    }
    fn page(&self, resource: &str, pages: u64, bytes: u64) {
        self.0.set_message(format!(
            "{resource}: {pages} pages, {:.1} MB",
            bytes as f64 / 1e6
        ));
    }
    fn rows(&self, rows: u64) {
        self.0.set_message(format!("{rows} rows"));
    }
    fn log(&self, level: &str, message: &str) {
        let line = format!("connector {level}: {message}");
        // a bar that is not drawn (not a terminal, --quiet, --json) prints nothing: the
        // connector's lines still reach stderr
        if self.0.is_hidden() {
            eprintln!("{line}");
        } else {
            self.0.println(line);
        }
    }
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let code = match real_main(cli) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("error: {}", printable(&sluice_cli::error_chain(&*err)));
            // another run of the pipeline holds the destination: nothing was done, try later
            let busy = err.chain().any(|c| {
                matches!(
                    c.downcast_ref(),
                    Some(sluice_pipeline::PipelineError::Busy { .. })
                )
            });
            if busy { 3 } else { 1 }
        }
    };
    std::process::exit(code);
}

/// Text for the terminal: every control character escaped but line breaks (the host escapes
/// those too in what a connector wrote), so no error can paint or rewrite the user's screen.
fn printable(text: &str) -> String {
    text.split('\n')
        .map(sluice_host::hygiene::escape_controls)
        .collect::<Vec<_>>()
        .join("\n")
}

fn real_main(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run {
            pipeline_file,
            common,
        } => {
            let spec = PipelineSpec::from_file(&pipeline_file, &common.sets)?;
            execute(spec, common)
        }
        Command::Plan {
            pipeline_file,
            mut common,
        } => {
            let spec = PipelineSpec::from_file(&pipeline_file, &common.sets)?;
            common.dry_run = true;
            execute(spec, common)
        }
        Command::Load {
            file,
            table,
            write_disposition,
            merge_strategy,
            primary_key,
            merge_key,
            incremental,
            initial_value,
            reading,
            common,
        } => {
            let hints = LoadHints {
                write_disposition,
                merge_strategy,
                primary_key,
                merge_key,
                incremental,
                initial_value,
                reading: *reading,
            };
            let spec = load_spec(&file, &table, &hints, &common)?;
            execute(spec, common).map_err(|e| explain_load_bucket(e, &file))
        }
        Command::Tables {
            pipeline_file,
            common,
        } => {
            let mut spec = PipelineSpec::from_file(&pipeline_file, &common.sets)?;
            if let Some(d) = common.destination {
                spec.destination = d;
            }
            if let Some(d) = common.dataset {
                spec.dataset = Some(d);
            }
            let ds =
                sluice_dataset::Dataset::at(&spec.name, &spec.destination, &spec.dataset_name())?;
            let tables = ds.table_counts()?;
            let width = tables
                .iter()
                .map(|(t, _, _)| t.len())
                .max()
                .unwrap_or(5)
                .max(5);
            println!("dataset `{}` in {}", spec.dataset_name(), ds.describe());
            println!("  {:<width$}  {:>10}", "table", "rows");
            for (t, n, estimated) in tables {
                let n = if estimated {
                    format!("≈{n}")
                } else {
                    n.to_string()
                };
                println!("  {t:<width$}  {n:>10}");
            }
            Ok(())
        }
        Command::Query {
            pipeline,
            sql,
            format,
            output,
            pipelines_dir,
        } => {
            let dir = pipelines_dir.unwrap_or_else(|| data_dir().join("pipelines"));
            inspect::query(&dir, &pipeline, &sql, format, output.as_deref())
        }
        Command::Export {
            pipeline,
            table,
            format,
            output,
            pipelines_dir,
        } => {
            let dir = pipelines_dir.unwrap_or_else(|| data_dir().join("pipelines"));
            inspect::export(&dir, &pipeline, &table, format, &output)
        }
        Command::Dashboard {
            port,
            pipelines,
            pipelines_dir,
        } => {
            let dir = pipelines_dir.unwrap_or_else(|| data_dir().join("pipelines"));
            sluice_dashboard::serve(sluice_dashboard::Options {
                pipelines_dir: dir,
                pipelines,
                port,
            })?;
            Ok(())
        }
        Command::Pipeline {
            name,
            command,
            pipelines_dir,
        } => {
            let dir = pipelines_dir.unwrap_or_else(|| data_dir().join("pipelines"));
            match command {
                PipelineCommand::Drop { resources } => {
                    let d = sluice_pipeline::drop_resources(&dir, &name, &resources)?;
                    println!(
                        "dropped resource(s) {} from {} in load {}",
                        d.resources.join(", "),
                        d.destination,
                        d.load_id
                    );
                    for t in &d.tables {
                        println!("  table `{t}`");
                    }
                }
                PipelineCommand::Info { json } => inspect::info(&dir, &name, json)?,
                PipelineCommand::Trace { json } => inspect::trace(&dir, &name, json)?,
                PipelineCommand::LoadPackage { load_id, json } => {
                    inspect::load_package(&dir, &name, load_id.as_deref(), json)?
                }
                PipelineCommand::AbortPackages => {
                    let ids = sluice_pipeline::abort_packages(&dir, &name)?;
                    if ids.is_empty() {
                        println!("pipeline `{name}` has no pending packages");
                    }
                    for id in ids {
                        println!(
                            "aborted package {id} (kept in {}/{name}/aborted)",
                            dir.display()
                        );
                    }
                }
                PipelineCommand::Sync {
                    destination,
                    dataset,
                } => {
                    let target = destination.as_deref().zip(dataset.as_deref());
                    let (schema, state) = sluice_pipeline::sync(&dir, &name, target)?;
                    println!(
                        "pipeline `{name}`: schema version {schema}, state version {state} from the destination"
                    );
                }
                PipelineCommand::Schema { format } => {
                    let schema = sluice_pipeline::stored_schema(&dir, &name)?;
                    match format.as_str() {
                        "yaml" => print!("{}", schema.to_yaml()),
                        "json" => println!("{}", schema.to_json_pretty()),
                        other => bail!("--format is `yaml` or `json`, not `{other}`"),
                    }
                }
            }
            Ok(())
        }
        Command::Init {
            command: InitCommand::Connector { name, lang, dir },
        } => {
            let language = sluice_scaffold::Language::parse(&lang)?;
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            let p = sluice_scaffold::scaffold(language, &name, &dir)?;
            println!(
                "wrote a {} connector `{name}` in {} ({} files)",
                p.language,
                p.dir.display(),
                p.files.len()
            );
            println!("\nnext:\n    cd {}", p.dir.display());
            println!("    {}", p.build);
            println!("    sluice run pipeline.toml");
            println!("    sluice tables pipeline.toml");
            Ok(())
        }
        Command::Init {
            command:
                InitCommand::Pipeline {
                    name,
                    sql,
                    openapi,
                    base_url,
                    password_env,
                    out,
                },
        } => match (sql, openapi) {
            (Some(sql), _) => init_sql_pipeline(&name, &sql, password_env.as_deref(), out),
            (None, Some(spec)) => init_openapi::run(&name, &spec, base_url, out),
            (None, None) => bail!("give --sql URL or --openapi SPEC"),
        },
        Command::Connector {
            command:
                ConnectorCommand::Publish {
                    component,
                    reference,
                    manifest,
                },
        } => registry_cmds::publish(&component, &reference, manifest.as_deref()),
        Command::Connector {
            command: ConnectorCommand::Add { reference, trust },
        } => registry_cmds::add(
            &reference,
            trust.pipeline.as_deref(),
            &trust.trusted_keys,
            trust.allow_unsigned,
        ),
        Command::Connector {
            command:
                ConnectorCommand::Update {
                    pipeline_file,
                    accept,
                },
        } => registry_cmds::update(&pipeline_file, accept),
        Command::Connector {
            command: ConnectorCommand::Sign { reference, key },
        } => registry_cmds::sign(&reference, &key),
        Command::Connector {
            command: ConnectorCommand::Keygen { name },
        } => registry_cmds::keygen(&name),
        Command::Connector {
            command: ConnectorCommand::Search { registry },
        } => registry_cmds::search(&registry),
        Command::Connector {
            command: ConnectorCommand::List,
        } => {
            for b in sluice_bundled::BUNDLED {
                println!("{:<10} {}", b.name, b.description);
            }
            Ok(())
        }
        Command::Connector {
            command:
                ConnectorCommand::Inspect {
                    connector,
                    config,
                    json,
                },
        } => {
            if connector.starts_with("oci://") {
                return registry_cmds::inspect_remote(&connector, &config, json);
            }
            let (name, bytes) = match sluice_bundled::find(&connector) {
                Some(b) if !Path::new(&connector).exists() => (b.name.to_owned(), b.bytes.to_vec()),
                _ => (
                    Path::new(&connector)
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    std::fs::read(&connector)
                        .with_context(|| format!("reading connector `{connector}`"))?,
                ),
            };
            let cache = data_dir().join("cache").join("components");
            let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let i = rt.block_on(sluice_pipeline::inspect(&name, &bytes, &cache, &config))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&i)?);
                return Ok(());
            }
            println!("connector {}@{}", i.name, i.version);
            if let Some(d) = &i.description {
                println!("  {d}");
            }
            println!("sha256     {}", i.digest);
            println!("contract   sluice:connector@{}", i.contract);
            println!("size       {:.1} MB", i.size_bytes as f64 / 1e6);
            println!(
                "cold start {:.2} ms (load precompiled {:.2} ms + instantiate {:.2} ms){}",
                i.load_ms + i.instantiate_ms,
                i.load_ms,
                i.instantiate_ms,
                if i.compile_ms > 0.0 {
                    format!("; first compile {:.0} ms", i.compile_ms)
                } else {
                    String::new()
                }
            );
            println!("imports (capabilities it can ask for; grants decide what it gets):");
            for imp in &i.imports {
                println!("  {imp}");
            }
            if let Some(e) = &i.spec_error {
                println!("resources: not described for this config ({e}); pass --config");
            } else {
                println!(
                    "resources (validated: names, tables, parents, hints, cursor paths and config schema):"
                );
            }
            for r in &i.resources {
                println!(
                    "  {:<16} table `{}`, {}{}{}{}",
                    r["name"].as_str().unwrap_or_default(),
                    r["table"].as_str().unwrap_or_default(),
                    r["write_disposition"].as_str().unwrap_or_default(),
                    match r["primary_key"].as_array() {
                        Some(k) if !k.is_empty() =>
                            format!(", primary key {}", serde_json::Value::Array(k.clone())),
                        _ => String::new(),
                    },
                    r["incremental"]
                        .as_str()
                        .map(|c| format!(", incremental on `{c}`"))
                        .unwrap_or_default(),
                    r["parent"]
                        .as_str()
                        .map(|p| format!(", depends on `{p}`"))
                        .unwrap_or_default(),
                );
            }
            if !i.config_schema.is_null() {
                println!("config schema: {}", i.config_schema);
            }
            match sluice_registry::manifest::read_section(&bytes) {
                Ok(Some(m)) => registry_cmds::print_manifest(&m),
                Ok(None) => println!("manifest: none (`connector publish --manifest` adds one)"),
                Err(e) => println!("manifest: unreadable ({e})"),
            }
            Ok(())
        }
    }
}

/// How `sluice load` writes its table (like `pipeline.run(data, write_disposition=…)`).
struct LoadHints {
    write_disposition: String,
    merge_strategy: Option<String>,
    primary_key: Vec<String>,
    merge_key: Vec<String>,
    incremental: Option<String>,
    initial_value: Option<String>,
    reading: Reading,
}

/// How `sluice load` reads its files: the `files` connector's `encoding` and `format`.
#[derive(clap::Args, Debug, Default)]
struct Reading {
    /// a CSV file's text encoding, any WHATWG label (`latin1`, `windows-1252`, `utf-16le`,
    /// `shift_jis`, …); default UTF-8, with or without a BOM
    #[arg(long)]
    encoding: Option<String>,
    /// read every file as `csv`, `json` (a JSON array or NDJSON) or `parquet`, whatever its
    /// name; default: told by the name and the first bytes
    #[arg(long, value_parser = ["csv", "json", "parquet"])]
    format: Option<String>,
}

/// `sluice load FILE --table NAME` as a pipeline: the `files` connector, granted that one
/// file read-only (not its directory). Built as a value, never as TOML text, so no name or
/// path needs quoting; `--set` applies to it as to a file.
fn load_spec(file: &Path, table: &str, hints: &LoadHints, common: &Common) -> Result<PipelineSpec> {
    use toml::Value as V;
    let bucket = bucket_target(file);
    let (path, grant) = match &bucket {
        Some((grant_url, key)) => (key.clone(), grant_url.clone()),
        None => load_target(file)?,
    };
    let (path, grant) = (V::String(path), V::String(grant));
    let strings =
        |v: &[String]| V::Array(v.iter().map(|s| V::String(s.trim().to_owned())).collect());
    let mut resource = toml::Table::new();
    resource.insert(
        "write_disposition".into(),
        V::String(hints.write_disposition.clone()),
    );
    if let Some(m) = &hints.merge_strategy {
        resource.insert("merge_strategy".into(), V::String(m.clone()));
    }
    if !hints.primary_key.is_empty() {
        resource.insert("primary_key".into(), strings(&hints.primary_key));
    }
    if !hints.merge_key.is_empty() {
        resource.insert("merge_key".into(), strings(&hints.merge_key));
    }
    if let Some(cursor) = &hints.incremental {
        let mut inc = toml::Table::new();
        inc.insert("cursor_path".into(), V::String(cursor.clone()));
        if let Some(v) = &hints.initial_value {
            inc.insert("initial_value".into(), initial_value(v)?);
        }
        resource.insert("incremental".into(), V::Table(inc));
    }
    let spec = toml::toml! {
        [connector]
        name = "files"
    };
    let mut spec = V::Table(spec);
    let top = spec.as_table_mut().context("a pipeline is a table")?;
    top.insert(
        "name".into(),
        V::String(
            common
                .pipeline
                .clone()
                .unwrap_or_else(|| "sluice_load".into()),
        ),
    );
    let mut config = toml::Table::from_iter([
        ("paths".to_owned(), V::Array(vec![path.clone()])),
        ("table".to_owned(), V::String(table.to_owned())),
    ]);
    let reading = &hints.reading;
    for (key, value) in [("encoding", &reading.encoding), ("format", &reading.format)] {
        if let Some(v) = value {
            config.insert(key.to_owned(), V::String(v.clone()));
        }
    }
    let grants = if bucket.is_some() {
        config.insert("bucket".into(), V::String(LOAD_BUCKET.into()));
        toml::Table::from_iter([(
            "buckets".to_owned(),
            V::Table(load_bucket(grant, &|v| std::env::var(v).ok())),
        )])
    } else {
        let grant_key = if load_grants_dir(file) {
            "allow_read"
        } else {
            "allow_read_files"
        };
        toml::Table::from_iter([(grant_key.to_owned(), V::Array(vec![grant]))])
    };
    top.insert("config".into(), V::Table(config));
    top.insert("grants".into(), V::Table(grants));
    top.insert(
        "resources".into(),
        V::Table(toml::Table::from_iter([(
            table.to_owned(),
            V::Table(resource),
        )])),
    );
    PipelineSpec::from_value(spec, &common.sets, Path::new("."))
        .map_err(|e| anyhow::anyhow!("building the load pipeline: {e}"))
}

/// The bucket grant `sluice load s3://…` makes.
const LOAD_BUCKET: &str = "load";

/// An error of `sluice load s3://…` naming the grant `load`, which the user never wrote: with
/// what it stands for.
fn explain_load_bucket(e: anyhow::Error, file: &Path) -> anyhow::Error {
    let Some((url, _)) = bucket_target(file) else {
        return e;
    };
    let text = format!("{e:#}");
    if !text.contains(&format!("bucket `{LOAD_BUCKET}`"))
        && !text.contains(&format!("grant `{LOAD_BUCKET}`"))
    {
        return e;
    }
    e.context(format!(
        "loading `{}` (`{LOAD_BUCKET}` is the bucket grant for {url})",
        file.display()
    ))
}

/// `s3://bucket/folder/*.csv` as the grant's URL (the folder before the first wildcard, or
/// the object's folder) and the key pattern below it; `None` for a local path.
fn bucket_target(file: &Path) -> Option<(String, String)> {
    let text = file.to_string_lossy();
    let (scheme, rest) = text.split_once("://")?;
    if !matches!(scheme, "s3" | "gs" | "az") {
        return None;
    }
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    let segments: Vec<&str> = key.split('/').collect();
    let fixed = segments
        .iter()
        .take_while(|s| !s.contains(['*', '?', '[']))
        .count()
        .min(segments.len().saturating_sub(1));
    let folder = segments[..fixed].join("/");
    Some((
        format!("{scheme}://{bucket}/{folder}"),
        segments[fixed..].join("/"),
    ))
}

/// `[grants.buckets.load]` for `grant_url`, signed with the cloud's environment: for S3 the
/// endpoint and region from `AWS_ENDPOINT_URL` and `AWS_REGION`, for Azure the endpoint from
/// `AZURE_STORAGE_ENDPOINT`, for Google Cloud Storage an emulator at `STORAGE_EMULATOR_HOST`
/// (unsigned, as Google's own clients do) when set (`--set` overrides).
fn load_bucket(grant_url: toml::Value, env: &dyn Fn(&str) -> Option<String>) -> toml::Table {
    let scheme = grant_url
        .as_str()
        .and_then(|u| u.split_once("://"))
        .map_or("s3", |(s, _)| s)
        .to_owned();
    let mut g = toml::Table::from_iter([("url".to_owned(), grant_url)]);
    let from_env: &[(&str, &str)] = match scheme.as_str() {
        "az" => &[("endpoint", "AZURE_STORAGE_ENDPOINT")],
        "gs" => &[("endpoint", "STORAGE_EMULATOR_HOST")],
        _ => &[
            ("endpoint", "AWS_ENDPOINT_URL"),
            ("region", "AWS_REGION"),
            ("region", "AWS_DEFAULT_REGION"),
        ],
    };
    for (key, var) in from_env {
        if let Some(v) = env(var)
            && !v.is_empty()
            && !g.contains_key(*key)
        {
            g.insert((*key).into(), toml::Value::String(v));
        }
    }
    if scheme == "gs"
        && let Some(toml::Value::String(e)) = g.get_mut("endpoint")
    {
        if !e.contains("://") {
            *e = format!("http://{e}");
        }
        g.insert("anonymous".into(), toml::Value::Boolean(true));
    }
    toml::Table::from_iter([(LOAD_BUCKET.to_owned(), toml::Value::Table(g))])
}

/// Whether `file` is a glob pattern (`data/*.csv.gz`), whose fixed folder is granted.
fn load_grants_dir(file: &Path) -> bool {
    file.to_string_lossy().contains(['*', '?', '['])
}

/// What `sluice load FILE` reads (an absolute path or pattern) and what it grants: the file
/// itself, or for a pattern the folder before its first wildcard, read-only.
fn load_target(file: &Path) -> Result<(String, String)> {
    let text = file.to_string_lossy();
    if !load_grants_dir(file) {
        let abs = file
            .canonicalize()
            .with_context(|| format!("reading `{}`", file.display()))?;
        if !abs.is_file() {
            bail!("`{}` is not a file", file.display());
        }
        let abs = abs.to_string_lossy().into_owned();
        return Ok((abs.clone(), abs));
    }
    let segments: Vec<&str> = text.split('/').collect();
    let fixed = segments
        .iter()
        .take_while(|s| !s.contains(['*', '?', '[']))
        .count();
    let dir = match segments[..fixed].join("/") {
        d if d.is_empty() && text.starts_with('/') => "/".to_owned(),
        d if d.is_empty() => ".".to_owned(),
        d => d,
    };
    let abs = Path::new(&dir)
        .canonicalize()
        .with_context(|| format!("reading the folder `{dir}` of `{text}`"))?;
    if !abs.is_dir() {
        bail!("`{dir}` (the folder of `{text}`) is not a folder");
    }
    let abs = abs.to_string_lossy().into_owned();
    let pattern = format!(
        "{}/{}",
        abs.trim_end_matches('/'),
        segments[fixed..].join("/")
    );
    Ok((pattern, abs))
}

/// `sluice init pipeline --sql`: reflect, write the file, say what was found.
fn init_sql_pipeline(
    name: &str,
    url: &str,
    password_env: Option<&str>,
    out: Option<PathBuf>,
) -> Result<()> {
    let out = out.unwrap_or_else(|| PathBuf::from(format!("{name}.toml")));
    if out.exists() {
        bail!("{} exists; choose another --out", out.display());
    }
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let p = rt.block_on(sluice_pipeline::sql_pipeline(name, url, password_env))?;
    std::fs::write(&out, &p.toml).with_context(|| format!("writing {}", out.display()))?;
    let n = p.tables.len();
    println!("reflected {n} table{}:", if n == 1 { "" } else { "s" });
    for t in &p.tables {
        let key = if t.primary_key.is_empty() {
            "no primary key: append".to_owned()
        } else {
            format!("key {}: merge", t.primary_key.join(", "))
        };
        let rows = t
            .row_estimate
            .map(|n| format!(", ~{n} rows"))
            .unwrap_or_default();
        println!(
            "  {}.{:<24} {} columns, {key}{rows}",
            t.schema,
            t.name,
            t.columns.len()
        );
    }
    println!(
        "wrote {}; next:\n    sluice plan {0}\n    sluice run {0}",
        out.display()
    );
    Ok(())
}

/// `--initial-value` (JSON) as a cursor start: a number or a string.
fn initial_value(v: &str) -> Result<toml::Value> {
    let value: serde_json::Value = serde_json::from_str(v)
        .with_context(|| format!("--initial-value `{v}` is not JSON (quote strings)"))?;
    Ok(match &value {
        serde_json::Value::String(s) => toml::Value::String(s.clone()),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        _ => bail!("--initial-value `{v}`: a cursor starts at a number or a string"),
    })
}

fn execute(mut spec: PipelineSpec, common: Common) -> Result<()> {
    if let Some(p) = &common.pipeline {
        spec.name = p.clone();
    }
    if let Some(d) = &common.dataset {
        spec.dataset = Some(d.clone());
    }
    if let Some(d) = &common.destination {
        spec.destination = d.clone();
    }
    let resolved = component::resolve(&spec, &data_dir())?;
    for w in &resolved.warnings {
        eprintln!("warning: {w}");
    }
    let component = (resolved.name, resolved.bytes);
    let schema_contract = match &common.schema_contract {
        None => None,
        Some(text) => {
            let value = serde_json::from_str(text)
                .unwrap_or_else(|_| serde_json::Value::String(text.clone()));
            Some(
                sluice_schema::SchemaContract::from_json(&value)
                    .map_err(|e| anyhow::anyhow!("--schema-contract: {e}"))?,
            )
        }
    };
    let data = data_dir();
    let opts = RunOptions {
        schema_contract,
        pipelines_dir: common
            .pipelines_dir
            .clone()
            .unwrap_or_else(|| data.join("pipelines")),
        cache_dir: data.join("cache").join("components"),
        component,
        spec,
    };
    let pipeline = opts.spec.name.clone();
    if common.dry_run {
        let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
        let plan = rt
            .block_on(sluice_pipeline::plan(&opts))
            .with_context(|| format!("pipeline `{pipeline}` cannot run"))?;
        if common.json {
            println!("{}", serde_json::to_string_pretty(&plan)?);
        } else {
            println!("{}", plan_view::render(&plan));
        }
        return Ok(());
    }
    let bar = if common.quiet || common.json {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template("{spinner} {prefix:>9} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        b.enable_steady_tick(Duration::from_millis(100));
        b
    };
    let progress = Arc::new(Bar(bar.clone()));
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let result = rt.block_on(sluice_pipeline::run(opts, progress));
    bar.finish_and_clear();
    let summary = result.with_context(|| format!("pipeline `{pipeline}` failed"))?;
    if common.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(())
}

fn print_summary(s: &RunSummary) {
    if s.load_ids.is_empty() {
        println!(
            "pipeline `{}`: nothing new to load; {} dataset `{}` is unchanged ({:.2}s)",
            s.pipeline,
            s.destination,
            s.dataset,
            s.duration_ms as f64 / 1000.0
        );
        return;
    }
    println!(
        "pipeline `{}` loaded into {} dataset `{}` in {:.2}s",
        s.pipeline,
        s.destination,
        s.dataset,
        s.duration_ms as f64 / 1000.0
    );
    println!(
        "connector {}@{} sha256:{}",
        s.connector, s.connector_version, s.component_digest
    );
    if s.pending_packages_loaded > 0 {
        println!(
            "completed {} pending package(s) first",
            s.pending_packages_loaded
        );
    }
    println!("load ids: {}", s.load_ids.join(", "));
    if s.tables.is_empty() {
        println!("no rows loaded");
    } else {
        let width = s.tables.keys().map(String::len).max().unwrap_or(5).max(5);
        println!("  {:<width$}  {:>10}", "table", "rows");
        for (t, n) in &s.tables {
            println!("  {t:<width$}  {n:>10}");
        }
    }
    if !s.schema_update.is_empty() {
        println!("schema changes (version {}):", s.schema_version);
        for (t, cols) in &s.schema_update.tables {
            let new = if s.schema_update.new_tables.contains(t) {
                "new table "
            } else {
                ""
            };
            println!("  {new}`{t}`: {}", cols.join(", "));
        }
    }
    for (t, d) in &s.discarded {
        println!(
            "data contract discarded in `{t}`: {} row(s), {} value(s){}",
            d.rows,
            d.values,
            if d.columns.is_empty() {
                String::new()
            } else {
                format!(" (columns {})", d.columns.join(", "))
            }
        );
    }
    for (t, c) in &s.key_collisions {
        println!(
            "warning: in `{t}`, {} row(s) had keys that normalize to the same name ({}); the later value was kept",
            c.rows,
            c.columns.join(", ")
        );
    }
    if let Some(f) = &s.schema_imported {
        println!("schema imported from {f}");
    }
    for n in &s.notifications {
        println!("{n}");
    }
    for (resource, m) in &s.http {
        println!(
            "http {resource}: {} requests, {} retries, {:.1} MB, {} denied",
            m.requests,
            m.retries,
            m.bytes as f64 / 1e6,
            m.denied
        );
    }
    let stages: Vec<String> = s
        .stage_ms
        .iter()
        .map(|(k, v)| format!("{k} {:.2}s", *v as f64 / 1000.0))
        .collect();
    println!("stages: {}", stages.join(", "));
    let p = &s.normalize_paths;
    if p.fast_records + p.general_records > 0 {
        let why: Vec<String> = p.reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
        println!(
            "normalize: {} of {} record(s) on the fast path{}",
            p.fast_records,
            p.fast_records + p.general_records,
            if why.is_empty() {
                String::new()
            } else {
                format!(" (general path: {})", why.join(", "))
            }
        );
    }
}

mod init_openapi;
mod inspect;
mod output;
mod plan_view;
mod registry_cmds;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_error_naming_the_grant_load_says_what_it_stands_for() {
        let failed = || anyhow::anyhow!("external system error: bucket `load`: ``: refused");
        let e = explain_load_bucket(failed(), Path::new("s3://lake/exports/*.csv"));
        assert_eq!(
            format!("{e:#}"),
            "loading `s3://lake/exports/*.csv` (`load` is the bucket grant for s3://lake/exports): external system error: bucket `load`: ``: refused"
        );
        // a local load, or an error about something else, is left as it is
        let local = explain_load_bucket(failed(), Path::new("data/*.csv"));
        assert_eq!(local.chain().count(), 1);
        let other = explain_load_bucket(anyhow::anyhow!("no table"), Path::new("s3://lake/x.csv"));
        assert_eq!(format!("{other:#}"), "no table");
    }

    #[test]
    fn an_s3_load_grants_the_folder_before_the_first_wildcard() {
        let t = |s: &str| bucket_target(Path::new(s));
        assert_eq!(
            t("s3://lake/exports/2024/*.parquet"),
            Some(("s3://lake/exports/2024".into(), "*.parquet".into()))
        );
        assert_eq!(
            t("s3://lake/exports/**/x/*.csv"),
            Some(("s3://lake/exports".into(), "**/x/*.csv".into()))
        );
        assert_eq!(
            t("s3://lake/exports/p.csv"),
            Some(("s3://lake/exports".into(), "p.csv".into()))
        );
        assert_eq!(
            t("s3://lake/p.csv"),
            Some(("s3://lake/".into(), "p.csv".into()))
        );
        assert_eq!(t("data/p.csv"), None);
        assert_eq!(
            t("az://box/x/*.csv"),
            Some(("az://box/x".into(), "*.csv".into()))
        );
        assert_eq!(t("gs://b/x.csv"), Some(("gs://b/".into(), "x.csv".into())));
        assert_eq!(t("ftp://b/x.csv"), None);
        let emulated = load_bucket("gs://b/".into(), &|v| {
            (v == "STORAGE_EMULATOR_HOST").then(|| "127.0.0.1:4443".to_owned())
        });
        assert_eq!(
            emulated["load"].to_string(),
            "{ anonymous = true, endpoint = \"http://127.0.0.1:4443\", url = \"gs://b/\" }",
            "an emulator is reached unsigned, as Google's clients do"
        );
        let signed = load_bucket("gs://b/".into(), &|v| {
            (v == "AWS_ENDPOINT_URL").then(|| "http://127.0.0.1:9000".to_owned())
        });
        assert_eq!(signed["load"].to_string(), "{ url = \"gs://b/\" }");
        let hints = LoadHints {
            write_disposition: "append".into(),
            merge_strategy: None,
            primary_key: Vec::new(),
            merge_key: Vec::new(),
            incremental: None,
            initial_value: None,
            reading: Reading {
                encoding: Some("latin1".into()),
                format: None,
            },
        };
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            common: Common,
        }
        let common = Wrap::parse_from(["x"]).common;
        let spec =
            load_spec(Path::new("s3://lake/exports/*.csv"), "t", &hints, &common).expect("spec");
        assert_eq!(spec.grants.buckets["load"].url, "s3://lake/exports");
        assert!(spec.grants.allow_read.is_empty() && spec.grants.allow_read_files.is_empty());
        assert_eq!(spec.config["bucket"].as_str(), Some("load"));
        assert_eq!(spec.config["paths"][0].as_str(), Some("*.csv"));
        assert_eq!(spec.config["encoding"].as_str(), Some("latin1"));
        assert!(spec.config.get("format").is_none());
    }

    #[test]
    fn init_connector_writes_the_project_in_the_chosen_language() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("weather");
        let init = |lang: &str| {
            let dir = dir.display().to_string();
            let argv = [
                "sluice",
                "init",
                "connector",
                "--lang",
                lang,
                "weather",
                "--dir",
                &dir,
            ];
            real_main(Cli::try_parse_from(argv).expect("parses"))
        };
        init("js").expect("scaffolds");
        let pipeline = std::fs::read_to_string(dir.join("pipeline.toml")).expect("pipeline");
        assert!(pipeline.contains("path = \"weather.wasm\""), "{pipeline}");
        assert!(dir.join("sluice.js").is_file() && dir.join("package.json").is_file());
        // a second time into the same directory is refused, and nothing is overwritten
        assert!(init("rust").is_err());
        assert!(!dir.join("Cargo.toml").exists());
    }
}
