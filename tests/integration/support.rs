//! Running pipelines in temporary directories and reading DuckDB datasets back.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use sluice_pipeline::{PipelineError, PipelineSpec, Quiet, RunOptions, RunSummary};

/// A temporary working area: pipelines dir, cache, database.
pub struct Area {
    path: PathBuf,
    _guard: Option<tempfile::TempDir>,
}

impl Area {
    pub fn new() -> Area {
        let dir = tempfile::tempdir().expect("temp dir");
        Area {
            path: dir.path().to_owned(),
            _guard: Some(dir),
        }
    }

    /// An area another process owns (not removed on drop).
    pub fn at(path: PathBuf) -> Area {
        Area { path, _guard: None }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn db(&self) -> PathBuf {
        self.path.join("test.duckdb")
    }

    /// Run pipeline TOML (destination forced to this area's database).
    pub fn run(&self, toml: &str, component: (&str, &[u8])) -> Result<RunSummary, PipelineError> {
        self.run_to(toml, component, &format!("duckdb:{}", self.db().display()))
    }

    /// Run pipeline TOML into `destination`.
    pub fn run_to(
        &self,
        toml: &str,
        component: (&str, &[u8]),
        destination: &str,
    ) -> Result<RunSummary, PipelineError> {
        self.run_with(toml, component, destination, None)
    }

    /// Run pipeline TOML into `destination` with a run-level data contract.
    pub fn run_with(
        &self,
        toml: &str,
        component: (&str, &[u8]),
        destination: &str,
        schema_contract: Option<sluice_schema::SchemaContract>,
    ) -> Result<RunSummary, PipelineError> {
        let mut spec =
            PipelineSpec::from_toml(toml, &[], self.path()).expect("valid pipeline toml");
        spec.destination = destination.to_owned();
        self.run_spec(spec, component, schema_contract, Arc::new(Quiet))
    }

    /// Run a parsed pipeline (its destination as given) with this area's working directories.
    pub fn run_parsed(
        &self,
        spec: PipelineSpec,
        component: (&str, &[u8]),
    ) -> Result<RunSummary, PipelineError> {
        self.run_spec(spec, component, None, Arc::new(Quiet))
    }

    /// Run a parsed pipeline with this area's working directories, reporting to `progress`.
    fn run_spec(
        &self,
        spec: PipelineSpec,
        component: (&str, &[u8]),
        schema_contract: Option<sluice_schema::SchemaContract>,
        progress: Arc<dyn sluice_pipeline::Progress>,
    ) -> Result<RunSummary, PipelineError> {
        let opts = RunOptions {
            spec,
            pipelines_dir: self.path().join("pipelines"),
            cache_dir: shared_cache(),
            component: (component.0.to_owned(), component.1.to_vec()),
            schema_contract,
        };
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(sluice_pipeline::run(opts, progress))
    }

    /// Run pipeline TOML with `--set` overrides into this area's database, collecting the
    /// connector's log lines.
    pub fn run_logged(
        &self,
        toml: &str,
        sets: &[String],
        component: (&str, &[u8]),
    ) -> (Result<RunSummary, PipelineError>, Vec<(String, String)>) {
        let mut spec =
            PipelineSpec::from_toml(toml, sets, self.path()).expect("valid pipeline toml");
        spec.destination = format!("duckdb:{}", self.db().display());
        let logs = Arc::new(Logs::default());
        let result = self.run_spec(spec, component, None, logs.clone());
        let lines = logs.0.lock().map(|l| l.clone()).unwrap_or_default();
        (result, lines)
    }

    pub fn conn(&self) -> duckdb::Connection {
        duckdb::Connection::open(self.db()).expect("open duckdb")
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.conn().query_row(sql, [], |r| r.get(0)).expect(sql)
    }
}

/// This test binary running the ignored test `name` alone (`--exact`, `--nocapture`), for
/// tests that need a process of their own: its memory, a SIGKILL, a concurrent worker.
pub fn child_test(name: &str) -> std::process::Command {
    let mut c = std::process::Command::new(std::env::current_exe().expect("test binary"));
    c.args([
        "--exact",
        name,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env_remove("SLUICE_FAILPOINT");
    c
}

/// Start `cmd` (a [`child_test`]) with its standard output piped, and wait until it prints
/// a line holding `marker`; the child and its output (kept open: the child still writes to
/// it when it ends).
pub fn spawn_until_it_says(
    mut cmd: std::process::Command,
    marker: &str,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
) {
    use std::io::BufRead as _;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("child");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    while !line.contains(marker) {
        line.clear();
        assert!(
            out.read_line(&mut line).expect("read") > 0,
            "the child ended before saying `{marker}`"
        );
    }
    (child, out)
}

/// Run the ignored test `name` in a child process to success; its standard output.
pub fn child_test_output(name: &str) -> String {
    let out = child_test(name).output().expect("child runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A progress sink keeping the connector's log lines.
#[derive(Default)]
pub struct Logs(pub std::sync::Mutex<Vec<(String, String)>>);

impl sluice_pipeline::Progress for Logs {
    fn log(&self, level: &str, message: &str) {
        if let Ok(mut l) = self.0.lock() {
            l.push((level.to_owned(), message.to_owned()));
        }
    }
}

fn py_json_list(items: &[Option<String>]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|v| match v {
            None => "null".to_owned(),
            Some(s) => serde_json::to_string(s).expect("string encodes"),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// The canonical form of ../shared/conformance/canon.py for `schema`.
pub fn canon(conn: &duckdb::Connection, schema: &str) -> Value {
    let _ = conn.execute_batch("SET TimeZone = 'UTC'");
    let mut stmt = conn
        .prepare(
            "select table_name from information_schema.tables where table_schema = ? order by 1",
        )
        .expect("prepare");
    let tables: Vec<String> = stmt
        .query_map([schema], |r| r.get(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    let data: Vec<String> = tables
        .into_iter()
        .filter(|t| !t.starts_with("_dlt_"))
        .collect();
    let mut out = serde_json::Map::new();
    for t in &data {
        let mut stmt = conn
            .prepare("select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ? order by 1")
            .expect("prepare");
        let cols: Vec<(String, String)> = stmt
            .query_map([schema, t.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .map(|r| r.expect("row"))
            .collect();
        let keep: Vec<&String> = cols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| !n.starts_with("_dlt_") || *n == "_dlt_list_idx")
            .collect();
        let select = if keep.is_empty() {
            "1".to_owned()
        } else {
            keep.iter()
                .map(|n| format!("CAST(\"{n}\" AS VARCHAR)"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut stmt = conn
            .prepare(&format!("select {select} from \"{schema}\".\"{t}\""))
            .expect("prepare");
        let n = keep.len();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                let vals: Vec<Option<String>> =
                    (0..n).map(|i| r.get(i)).collect::<Result<_, _>>()?;
                Ok(py_json_list(&vals))
            })
            .expect("query")
            .map(|r| r.expect("row"))
            .collect();
        if keep.is_empty() {
            rows = rows.iter().map(|_| "[1]".to_owned()).collect();
        }
        rows.sort();
        let mut entry = json!({
            "columns": cols.iter().map(|(n, t)| (n.clone(), Value::String(t.clone()))).collect::<serde_json::Map<_, _>>(),
            "count": rows.len(),
            "rows": rows,
        });
        let parent = data
            .iter()
            .filter(|p| t.starts_with(&format!("{p}__")))
            .max_by_key(|p| p.len());
        if let Some(p) = parent
            && cols.iter().any(|(n, _)| n == "_dlt_parent_id")
        {
            let orphans: i64 = conn
                .query_row(
                    &format!("select count(*) from \"{schema}\".\"{t}\" c where not exists (select 1 from \"{schema}\".\"{p}\" p where p._dlt_id = c._dlt_parent_id)"),
                    [],
                    |r| r.get(0),
                )
                .expect("orphans");
            entry["orphans"] = json!(orphans);
        }
        out.insert(t.clone(), entry);
    }
    Value::Object(out)
}

/// A pipeline file that loads `file` into `table` with the `files` connector, granted that
/// file alone (as `sluice load` grants it).
pub fn files_pipeline(name: &str, file: &Path, table: &str) -> String {
    format!(
        "name = \"{name}\"\n[connector]\nname = \"files\"\n[config]\npaths = [{p:?}]\ntable = \"{table}\"\n[grants]\nallow_read_files = [{p:?}]\n",
        p = file.display().to_string(),
    )
}

/// This crate's folder, as cargo tells the running test: a test binary reused from a build
/// in another checkout (a shared target dir) still reads this checkout's files.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The shared conformance folder beside the repository.
pub fn conformance_dir() -> PathBuf {
    let d = manifest_dir().join("../../shared/conformance");
    assert!(
        d.join("cases").is_dir(),
        "conformance cases not found at `{}` (shared/ must sit beside the repository)",
        d.display()
    );
    d.canonicalize().expect("canonical conformance path")
}

/// A loopback HTTP/1.1 server answering every request with `body` (JSON), for as long as it
/// lives. Counts the requests it served.
pub struct Server {
    pub port: u16,
    pub hits: Arc<std::sync::atomic::AtomicUsize>,
    /// the raw text of the last request received
    pub last_request: Arc<std::sync::Mutex<String>>,
    /// when each request arrived
    pub times: Arc<std::sync::Mutex<Vec<std::time::Instant>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Server {
    pub fn start(body: &'static str) -> Server {
        Server::scripted(vec![(200, "", body)])
    }

    /// A server answering request i with `script[i]` (status, extra header lines, body), the
    /// last entry from then on; `times` records when each request arrived.
    pub fn scripted(script: Vec<(u16, &'static str, &'static str)>) -> Server {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let last_request = Arc::new(std::sync::Mutex::new(String::new()));
        let times = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (h, s, l) = (hits.clone(), stop.clone(), last_request.clone());
        let times_in = times.clone();
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            while !s.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        // headers, then as much body as content-length says
                        let mut req = Vec::new();
                        let mut buf = [0u8; 8192];
                        loop {
                            let n = conn.read(&mut buf).unwrap_or(0);
                            req.extend_from_slice(&buf[..n]);
                            let text = String::from_utf8_lossy(&req).to_ascii_lowercase();
                            let Some(end) = text.find("\r\n\r\n") else {
                                if n == 0 {
                                    break;
                                }
                                continue;
                            };
                            let want = text[..end]
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            if n == 0 || req.len() >= end + 4 + want {
                                break;
                            }
                        }
                        if let Ok(mut last) = l.lock() {
                            *last = String::from_utf8_lossy(&req).into_owned();
                        }
                        let i = h.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut t) = times_in.lock() {
                            t.push(std::time::Instant::now());
                        }
                        let (status, extra, body) = script[i.min(script.len() - 1)];
                        let resp = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = conn.write_all(resp.as_bytes());
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        Server {
            port,
            hits,
            last_request,
            times,
            stop,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The compiled-component cache every area's runs share (in cargo's temporary folder for
/// tests), so each bundled component is compiled once per test binary, not once per test;
/// `cache.rs` tests a cold cache with a host of its own.
pub fn shared_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")
}

/// A table's column names and DuckDB types, and its rows as text.
pub type Shown = (Vec<(String, String)>, Vec<Vec<Option<String>>>);

/// Column names and DuckDB types of `ds.<table>` in `area`'s database, and its rows (ordered
/// by `id`) as DuckDB's text, time zone UTC.
pub fn shown(area: &Area, table: &str) -> Shown {
    shown_by(area, table, |_| true, "id")
}

/// [`shown`] with the rows' values of the columns `keep` keeps only, ordered by `order`.
pub fn shown_by(area: &Area, table: &str, keep: impl Fn(&str) -> bool, order: &str) -> Shown {
    let conn = area.conn();
    conn.execute_batch("SET TimeZone = 'UTC'")
        .expect("time zone");
    let mut q = conn
        .prepare(&format!(
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_schema = 'ds' AND table_name = '{table}' ORDER BY ordinal_position"
        ))
        .expect("prepare");
    let ddl: Vec<(String, String)> = q
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("ddl")
        .map(|r| r.expect("row"))
        .collect();
    let select: Vec<String> = ddl
        .iter()
        .filter(|(c, _)| keep(c))
        .map(|(c, _)| format!("CAST(\"{c}\" AS VARCHAR)"))
        .collect();
    let sql = format!(
        "SELECT {} FROM ds.{table} ORDER BY \"{order}\"",
        select.join(", ")
    );
    let mut q = conn.prepare(&sql).expect("prepare rows");
    let n = select.len();
    let rows = q
        .query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    (ddl, rows)
}
