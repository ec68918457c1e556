//! Exactly once across workers: several processes with separate working directories run the
//! same incremental pipeline at the same moment, round after round, some of them SIGKILLed
//! at random; then each runs once more. Every row must be in the destination exactly once,
//! the state must hold the last cursor, and no package may be left pending. On PostgreSQL,
//! DuckDB and the filesystem destination. Also: a second run finds the lease taken and names
//! its holder; a killed holder's lease is taken over at once.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::support::Area;

/// Records appended to the source file each round.
const PER_ROUND: u64 = 6_000;

/// A tiny deterministic generator (xorshift), seeded per test and printed on failure.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("SLUICE_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(7)
                    | 1
            });
        eprintln!("workers: SLUICE_TEST_SEED={seed}");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The shared pipeline every worker runs.
fn pipeline_toml(file: &Path) -> String {
    format!(
        "name = \"cw\"\ndataset = \"cw\"\n[connector]\nname = \"files\"\n[config]\npaths = [{p:?}]\ntable = \"events\"\npage_size = 300\n[grants]\nallow_read_files = [{p:?}]\n[resources.events]\nprimary_key = [\"id\"]\n[resources.events.incremental]\ncursor_path = \"id\"\n[limits]\npackage_rows = 700\nlease_wait_secs = 120\n",
        p = file.display().to_string()
    )
}

/// The child: one run of the pipeline in its own working directory. Exits 3 when the
/// destination's lease was taken (as the CLI does).
#[test]
#[ignore = "started by the workers tests in a child process"]
fn worker_child() {
    let area = Area::at(std::env::var("WORKER_DIR").expect("WORKER_DIR").into());
    let dest = std::env::var("WORKER_DEST").expect("WORKER_DEST");
    let toml = std::env::var("WORKER_TOML").expect("WORKER_TOML");
    match area.run_to(&toml, ("files", sluice_bundled::FILES.bytes), &dest) {
        Ok(s) => println!(
            "WORKER_OK {:?} set_aside {:?}",
            s.tables, s.packages_set_aside
        ),
        Err(e @ sluice_pipeline::PipelineError::Busy { .. }) => {
            println!("WORKER_BUSY {e}");
            std::process::exit(3);
        }
        Err(e) => panic!("worker run failed: {e:#}"),
    }
}

/// A worker process on `dir` (its own pipelines folder; the component cache is shared).
fn spawn_worker(dir: &Path, dest: &str, toml: &str) -> Child {
    worker_command(dir, dest, toml)
        .spawn()
        .expect("spawn worker")
}

fn worker_command(dir: &Path, dest: &str, toml: &str) -> Command {
    let mut c = crate::support::child_test("workers::worker_child");
    c.env("WORKER_DIR", dir)
        .env("WORKER_DEST", dest)
        .env("WORKER_TOML", toml)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    c
}

/// Worker folders sharing one warm component cache.
fn worker_dirs(area: &Area, n: usize) -> Vec<PathBuf> {
    let cache = area.path().join("cache");
    let host = sluice_host::Host::new(&cache).expect("host");
    host.load("files", sluice_bundled::FILES.bytes)
        .expect("warm the cache");
    (0..n)
        .map(|i| {
            let d = area.path().join(format!("worker{i}"));
            std::fs::create_dir_all(&d).expect("worker dir");
            std::os::unix::fs::symlink(&cache, d.join("cache")).expect("share the cache");
            d
        })
        .collect()
}

fn append_records(file: &Path, from: u64, n: u64) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .expect("source file");
    for id in from..from + n {
        writeln!(
            f,
            "{{\"id\": {id}, \"payload\": \"record {id}\", \"tags\": [\"a\", \"b\"]}}"
        )
        .expect("append");
    }
}

/// What a worker process ended as.
#[derive(Debug, PartialEq)]
enum End {
    Ok,
    Busy,
    Killed,
}

/// Wait for `child`, killing it with SIGKILL at `kill_at` if it is still running then.
fn finish(mut child: Child, kill_at: Option<Instant>) -> End {
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            use std::os::unix::process::ExitStatusExt;
            return match (status.code(), status.signal()) {
                (Some(0), _) => End::Ok,
                (Some(3), _) => End::Busy,
                (_, Some(9)) => End::Killed,
                _ => panic!(
                    "a worker failed: {status:?}\n{}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            };
        }
        if kill_at.is_some_and(|t| Instant::now() >= t) {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Rounds of `workers` concurrent workers (some killed), then a clean run of each.
fn overlapping_rounds(area: &Area, dest: &str, workers: usize, rounds: u64) -> u64 {
    let mut rng = Rng::new();
    let dirs = worker_dirs(area, workers);
    let data = area.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let file = data.join("events.ndjson");
    let toml = pipeline_toml(&file);
    let mut total = 0;
    let mut killed = 0;
    for _ in 0..rounds {
        append_records(&file, total + 1, PER_ROUND);
        total += PER_ROUND;
        let children: Vec<(Child, Option<Instant>)> = dirs
            .iter()
            .map(|d| {
                // a run takes a few hundred ms and waits its turn for the lease: kill times
                // fall before, during and after the runs
                let kill = (rng.below(10) < 6)
                    .then(|| Instant::now() + Duration::from_millis(20 + rng.below(900)));
                (spawn_worker(d, dest, &toml), kill)
            })
            .collect();
        for (child, kill_at) in children {
            match finish(child, kill_at) {
                End::Killed => killed += 1,
                End::Ok => {}
                End::Busy => panic!("a worker gave up waiting for the lease"),
            }
        }
    }
    for d in &dirs {
        let end = finish(spawn_worker(d, dest, &toml), None);
        assert_eq!(end, End::Ok, "the final run of {}", d.display());
    }
    let set_aside: usize = dirs
        .iter()
        .map(|d| {
            std::fs::read_dir(d.join("pipelines/cw/aborted"))
                .map(|r| r.count())
                .unwrap_or(0)
        })
        .sum();
    eprintln!(
        "workers: {workers} workers, {rounds} rounds, {killed} killed, {set_aside} package(s) set aside"
    );
    for d in &dirs {
        no_package_left_without_reason(d);
        // the state a worker restores from the destination holds the last cursor
        sluice_pipeline::sync(&d.join("pipelines"), "cw", None).expect("sync");
        assert_eq!(last_cursor(d), total, "{}", d.display());
    }
    total
}

/// Every pending package was loaded or set aside with its reason.
fn no_package_left_without_reason(dir: &Path) {
    let packages = dir.join("pipelines/cw/packages");
    let left: Vec<String> = std::fs::read_dir(&packages)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert!(
        left.is_empty(),
        "pending in {}: {left:?}",
        packages.display()
    );
    for e in std::fs::read_dir(dir.join("pipelines/cw/aborted"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let reason = std::fs::read_to_string(e.path().join("REASON.txt")).expect("a reason");
        assert!(
            reason.contains("another worker has committed newer state"),
            "{reason}"
        );
    }
}

/// The worker's local copy of the cursor state (after a sync): `last_value` of `id`.
fn last_cursor(dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("pipelines/cw/state.json")).expect("state");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["sources"]
        .as_object()
        .and_then(|s| s.values().next())
        .and_then(|s| s["resources"]["events"]["incremental"]["id"]["last_value"].as_u64())
        .unwrap_or_else(|| panic!("no cursor in {text}"))
}

fn counts_duckdb(db: &Path) -> (i64, i64) {
    let c = duckdb::Connection::open(db).expect("open");
    c.query_row(
        "select count(*), count(distinct id) from cw.events",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .expect("counts")
}

#[test]
fn two_and_four_workers_on_duckdb_load_every_row_exactly_once() {
    for workers in [2, 4] {
        let area = Area::new();
        let dest = format!("duckdb:{}", area.db().display());
        let total = overlapping_rounds(&area, &dest, workers, 4);
        let (n, distinct) = counts_duckdb(&area.db());
        assert_eq!(
            (n, distinct),
            (total as i64, total as i64),
            "{workers} workers"
        );
        let nested = duckdb::Connection::open(area.db())
            .expect("open")
            .query_row("select count(*) from cw.events__tags", [], |r| {
                r.get::<_, i64>(0)
            })
            .expect("nested");
        assert_eq!(nested, 2 * total as i64);
    }
}

#[test]
fn two_and_four_workers_on_postgres_load_every_row_exactly_once() {
    let pg = crate::pg::PgServer::start();
    for (i, workers) in [2, 4].into_iter().enumerate() {
        let db = format!("w{i}");
        pg.query(&format!("create database {db}"));
        let area = Area::new();
        let total = overlapping_rounds(&area, &pg.url_db(&db), workers, 4);
        let rows = pg.query_db(&db, "select count(*), count(distinct id) from cw.events");
        assert_eq!(rows, vec![format!("{total}|{total}")], "{workers} workers");
    }
}

#[test]
fn two_and_four_workers_on_the_filesystem_load_every_row_exactly_once() {
    for workers in [2, 4] {
        let area = Area::new();
        let out = area.path().join("out");
        let dest = format!("file://{}?format=jsonl", out.display());
        let total = overlapping_rounds(&area, &dest, workers, 4);
        // read as a user would, with a plain glob: a load killed between its renames and its
        // commit marker left files, and they are gone once its package was set aside or loaded
        let c = duckdb::Connection::open_in_memory().expect("duckdb");
        let ds = out.join("cw");
        let (n, distinct, uncommitted): (i64, i64, i64) = c
            .query_row(
                &format!(
                    "select count(*), count(distinct id), count(*) filter (where _dlt_load_id not in \
                     (select load_id from read_json_auto('{}/_dlt_loads/*.jsonl'))) \
                     from read_json_auto('{}/events/*.jsonl')",
                    ds.display(),
                    ds.display()
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("counts");
        assert_eq!(
            (n, distinct, uncommitted),
            (total as i64, total as i64, 0),
            "{workers} workers"
        );
    }
}

/// A package sealed by worker A, whose process dies before loading it (or in the middle of
/// its commit), is overtaken when worker B continues from the same state: B discards what A
/// left half-done, and A's next run sets the package aside instead of loading its rows a
/// second time.
fn an_overtaken_package_is_set_aside(
    dest: &str,
    area: &Area,
    failpoint: &str,
    count: &dyn Fn() -> (i64, i64),
) {
    let dirs = worker_dirs(area, 2);
    let data = area.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let file = data.join("events.ndjson");
    append_records(&file, 1, 3_000);
    let toml = pipeline_toml(&file);
    use std::os::unix::process::ExitStatusExt;
    let out = worker_command(&dirs[0], dest, &toml)
        .env("SLUICE_FAILPOINT", failpoint)
        .output()
        .expect("worker A");
    assert_eq!(
        out.status.signal(),
        Some(9),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(finish(spawn_worker(&dirs[1], dest, &toml), None), End::Ok);
    // every row once: on the filesystem B first discarded the files A's interrupted load
    // had renamed into place (A may never come back)
    assert_eq!(count(), (3_000, 3_000));
    let out = worker_command(&dirs[0], dest, &toml)
        .output()
        .expect("worker A again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("set_aside [\""), "{stdout}");
    assert_eq!(
        count(),
        (3_000, 3_000),
        "the overtaken package was not loaded"
    );
    let aborted: Vec<_> = std::fs::read_dir(dirs[0].join("pipelines/cw/aborted"))
        .expect("aborted")
        .flatten()
        .collect();
    assert_eq!(aborted.len(), 1);
    let reason = std::fs::read_to_string(aborted[0].path().join("REASON.txt")).expect("reason");
    assert!(
        reason.contains("another worker has committed newer state"),
        "{reason}"
    );
    no_package_left_without_reason(&dirs[0]);
}

#[test]
fn an_overtaken_package_is_set_aside_on_duckdb() {
    let area = Area::new();
    let dest = format!("duckdb:{}", area.db().display());
    let db = area.db();
    an_overtaken_package_is_set_aside(&dest, &area, "package.after_seal", &|| counts_duckdb(&db));
}

#[test]
fn an_overtaken_package_is_set_aside_on_postgres() {
    let pg = crate::pg::PgServer::start();
    let area = Area::new();
    an_overtaken_package_is_set_aside(&pg.url(), &area, "package.after_seal", &|| {
        let row = pg.query("select count(*), count(distinct id) from cw.events");
        let (a, b) = row[0].split_once('|').expect("two columns");
        (a.parse().expect("n"), b.parse().expect("n"))
    });
}

#[test]
fn an_overtaken_package_killed_mid_rename_leaves_no_files_on_the_filesystem() {
    let area = Area::new();
    let out = area.path().join("out");
    let dest = format!("file://{}?format=jsonl", out.display());
    // the plain glob a user reads with: files of a load that never committed would count
    let glob = out.join("cw/events/*.jsonl");
    an_overtaken_package_is_set_aside(&dest, &area, "files.mid_rename", &|| {
        duckdb::Connection::open_in_memory()
            .expect("duckdb")
            .query_row(
                &format!(
                    "select count(*), count(distinct id) from read_json_auto('{}')",
                    glob.display()
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("counts")
    });
}

#[test]
fn connections_creating_one_dataset_at_the_same_instant_never_collide() {
    // eight sessions released by a barrier create the same new dataset (schema, system
    // tables, staging schema) — what workers of different pipelines sharing a dataset do on
    // their first run; concurrent `CREATE … IF NOT EXISTS` can meet in PostgreSQL's catalog
    // (`duplicate key value violates unique constraint`), which the dataset's creation lock
    // prevents
    let pg = crate::pg::PgServer::start();
    let url = sluice_load::PgUrl::parse(&pg.url()).expect("url");
    for round in 0..10 {
        let dataset = format!("race{round}");
        let barrier = std::sync::Barrier::new(8);
        let errors: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        let mut dest = sluice_load::Postgres::connect(&url, &dataset)
                            .map_err(|e| e.to_string())?;
                        barrier.wait();
                        use sluice_load::Catalog as _;
                        dest.stored_state("p")
                            .map(|_| ())
                            .map_err(|e| e.to_string())
                    })
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().expect("thread").err())
                .collect()
        });
        assert!(errors.is_empty(), "round {round}: {errors:?}");
    }
}

// ---- the lease itself

/// The child: takes the DuckDB lease of pipeline `cw` and holds it until killed.
#[test]
#[ignore = "started by the lease tests in a child process"]
fn lease_holder_child() {
    let db = PathBuf::from(std::env::var("LEASE_DB").expect("LEASE_DB"));
    let path = sluice_load::lease::duckdb_lease_path(&db, "cw");
    let me = sluice_load::lease::Holder::this_process();
    let sluice_load::lease::Attempt::Held(_lease) =
        sluice_load::lease::try_file(&path, &me).expect("lease")
    else {
        panic!("the lease is free");
    };
    println!("LEASE_HELD {}", std::process::id());
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn a_second_run_names_the_holder_and_a_killed_holders_lease_is_taken_over() {
    let area = Area::new();
    let data = area.path().join("data");
    std::fs::create_dir_all(&data).expect("dir");
    let file = data.join("events.ndjson");
    append_records(&file, 1, 10);
    let toml = pipeline_toml(&file).replace("lease_wait_secs = 120", "lease_wait_secs = 1");
    let mut cmd = crate::support::child_test("workers::lease_holder_child");
    cmd.env("LEASE_DB", area.db());
    let (mut holder, _out) = crate::support::spawn_until_it_says(cmd, "LEASE_HELD");
    let pid = holder.id();
    let started = Instant::now();
    let err = area
        .run(&toml, ("files", sluice_bundled::FILES.bytes))
        .expect_err("busy");
    let msg = err.to_string();
    assert!(
        matches!(err, sluice_pipeline::PipelineError::Busy { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("pipeline `cw` is already running")
            && msg.contains(&format!("pid {pid}"))
            && msg.contains("started 20")
            && msg.contains("limits.lease_wait_secs"),
        "{msg}"
    );
    // it waited its lease_wait_secs, not more
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // nothing was touched: no packages folder, no dataset
    assert!(!area.path().join("pipelines/cw/packages").exists());
    // the holder dies by SIGKILL: its lease goes with it, and the next run takes over at once
    holder.kill().expect("kill");
    holder.wait().expect("reaped");
    let s = area
        .run(&toml, ("files", sluice_bundled::FILES.bytes))
        .expect("taken over");
    assert_eq!(s.tables["events"], 10);
}

#[test]
fn a_postgres_lease_names_its_holder_and_is_released_with_its_session() {
    let pg = crate::pg::PgServer::start();
    let url = sluice_load::PgUrl::parse(&pg.url()).expect("url");
    let me = sluice_load::lease::Holder::this_process();
    let sluice_load::lease::Attempt::Held(lease) =
        sluice_load::lease::try_postgres(&url, "cw", "cw", &me).expect("first")
    else {
        panic!("the lease is free");
    };
    let area = Area::new();
    let data = area.path().join("data");
    std::fs::create_dir_all(&data).expect("dir");
    let file = data.join("events.ndjson");
    append_records(&file, 1, 10);
    let toml = pipeline_toml(&file).replace("lease_wait_secs = 120", "lease_wait_secs = 0");
    let err = area
        .run_to(&toml, ("files", sluice_bundled::FILES.bytes), &pg.url())
        .expect_err("busy");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("host {}, pid {}", me.host, me.pid))
            && msg.contains("already running"),
        "{msg}"
    );
    drop(lease);
    let s = area
        .run_to(&toml, ("files", sluice_bundled::FILES.bytes), &pg.url())
        .expect("released");
    assert_eq!(s.tables["events"], 10);
}
