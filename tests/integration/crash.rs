//! Exactly once under SIGKILL: the pipeline process is killed at named points inside and
//! between extract, normalize and load (`SLUICE_FAILPOINT`), then run again; every package
//! must land exactly once — on DuckDB (WAL recovery) and on PostgreSQL.
//!
//! The killed process is this test binary itself, re-run with `--exact crash::crash_child`
//! and the pipeline to run in its environment.

use std::process::Command;

use crate::pg::PgServer;
use crate::support::Area;

const POINTS: &[&str] = &[
    "extract.mid_stream",
    "package.before_seal",
    "package.after_seal",
    "load.mid_staging",
    "load.before_commit",
    "load.mid_merge_sql",
    "load.before_db_commit",
    "load.after_db_commit",
    "load.after_local_save",
    "package.mid_finish",
    "run.before_trace",
];

const ROWS: u64 = 1500;

fn pipeline_toml(merge: bool) -> String {
    let hints = if merge {
        "[resources.events]\nwrite_disposition = \"merge\"\nprimary_key = [\"id\"]\n"
    } else {
        ""
    };
    format!(
        "name = \"crash\"\ndataset = \"gh\"\n[connector]\nname = \"synthetic\"\n[config]\nrows = {ROWS}\npage_size = 250\nseed = 11\n{hints}"
    )
}

/// The child process running pipeline `toml` into `dest` (armed with `failpoint`, if any).
pub fn child(area: &Area, dest: &str, toml: &str, failpoint: Option<&str>) -> Command {
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        "crash::crash_child",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("CRASH_AREA", area.path())
    .env("CRASH_DEST", dest)
    .env("CRASH_TOML", toml)
    .env_remove("SLUICE_FAILPOINT");
    if let Some(p) = failpoint {
        cmd.env("SLUICE_FAILPOINT", p);
    }
    cmd
}

/// Run `toml` in a child process that kills itself at `point`.
pub fn run_toml_killed(area: &Area, dest: &str, toml: &str, point: &str) {
    let out = child(area, dest, toml, Some(point))
        .output()
        .expect("spawn child");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(9),
        "the child must die by SIGKILL at `{point}`: {:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_killed(area: &Area, dest: &str, merge: bool, point: &str) {
    run_toml_killed(area, dest, &pipeline_toml(merge), point);
}

/// Run pipeline `toml` of the `synthetic` connector to completion into `dest`.
fn run_synthetic(
    area: &Area,
    dest: &str,
    toml: &str,
) -> Result<sluice_pipeline::RunSummary, sluice_pipeline::PipelineError> {
    area.run_to(toml, ("synthetic", sluice_bundled::SYNTHETIC.bytes), dest)
}

/// The entries of the crash pipeline's packages folder (unsealed ones start with `.`).
fn package_names(area: &Area) -> Vec<String> {
    std::fs::read_dir(area.path().join("pipelines/crash/packages"))
        .expect("packages")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect()
}

/// The child: runs the pipeline once (`synthetic`, or the bundled `sql_database` when the
/// pipeline names it) — killed by its failpoint, or by the parent. Only meaningful when
/// started by [`child`]; ignored in a normal test run.
#[test]
#[ignore = "started by the crash tests in a child process"]
fn crash_child() {
    let area = Area::at(std::env::var("CRASH_AREA").expect("CRASH_AREA").into());
    let dest = std::env::var("CRASH_DEST").expect("CRASH_DEST");
    let toml = std::env::var("CRASH_TOML").expect("CRASH_TOML");
    let spec = sluice_pipeline::PipelineSpec::from_toml(&toml, &[], area.path()).expect("spec");
    let r = match spec.connector.name.as_deref() {
        Some("sql_database") => area.run_to(&toml, crate::sql_sources::SQL, &dest),
        _ => run_synthetic(&area, &dest, &toml),
    };
    if std::env::var_os("SLUICE_FAILPOINT").is_some() {
        panic!("the failpoint did not fire; the run returned {r:?}");
    }
    r.expect("child run");
}

/// Query one integer.
type Scalar<'a> = &'a dyn Fn(&str) -> i64;

/// After a killed run and a clean one: every committed package holds exactly ROWS events,
/// children match their parents, no row belongs to an uncommitted load, and the state row of
/// each load is there.
fn assert_exactly_once(point: &str, merge: bool, q: Scalar) {
    let loads = q("select count(*) from gh._dlt_loads");
    assert!((1..=2).contains(&loads), "{point}: {loads} loads");
    if merge {
        // the same ids merged twice are still one row each
        assert_eq!(q("select count(*) from gh.events"), ROWS as i64, "{point}");
    } else {
        assert_eq!(
            q("select count(*) from gh.events"),
            ROWS as i64 * loads,
            "{point}"
        );
        assert_eq!(
            q(
                "select count(*) from (select _dlt_load_id from gh.events group by 1 having count(*) <> 1500) x"
            ),
            0,
            "{point}: a load with a partial or doubled package"
        );
    }
    assert_eq!(
        q(
            "select count(*) from gh.events where _dlt_load_id not in (select load_id from gh._dlt_loads)"
        ),
        0,
        "{point}: rows of an uncommitted load"
    );
    assert_eq!(
        q(
            "select count(*) from gh.events__payload__commits c where not exists (select 1 from gh.events e where e._dlt_id = c._dlt_parent_id)"
        ),
        0,
        "{point}: orphaned nested rows"
    );
    assert_eq!(
        q("select count(*) from (select _dlt_id from gh.events group by 1 having count(*) > 1) x"),
        0,
        "{point}: duplicated row ids"
    );
    // the state is committed with the first package (later ones carry the same state)
    assert_eq!(
        q(
            "select count(*) from gh._dlt_pipeline_state where _dlt_load_id in (select load_id from gh._dlt_loads)"
        ),
        1,
        "{point}: state rows"
    );
    assert_eq!(
        q("select count(*) from gh._dlt_pipeline_state"),
        1,
        "{point}"
    );
}

fn crash_everywhere(dest: impl Fn(&Area) -> String, q: impl Fn(&Area, &str) -> i64, merge: bool) {
    // an append package has no SQL between its rows and its records: they went in place
    let points = POINTS
        .iter()
        .filter(|p| merge || **p != "load.mid_merge_sql");
    for point in points {
        let area = Area::new();
        let d = dest(&area);
        run_killed(&area, &d, merge, point);
        let s = run_synthetic(&area, &d, &pipeline_toml(merge))
            .unwrap_or_else(|e| panic!("recovery run after `{point}`: {e}"));
        assert!(!s.load_ids.is_empty());
        assert_exactly_once(point, merge, &|sql| q(&area, sql));
        // nothing is left waiting
        let left = package_names(&area).len();
        assert_eq!(left, 0, "{point}: packages left behind");
    }
}

#[test]
fn sigkill_at_every_stage_loads_each_package_once_on_duckdb() {
    let dest = |a: &Area| format!("duckdb:{}", a.db().display());
    let q = |a: &Area, sql: &str| a.count(sql);
    crash_everywhere(dest, q, false);
    crash_everywhere(dest, q, true);
}

#[test]
fn sigkill_at_every_stage_loads_each_package_once_on_postgres() {
    let pg = PgServer::start();
    let counter = std::sync::atomic::AtomicUsize::new(0);
    // one database per case keeps the cases apart on one server
    let dest = |_: &Area| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        pg.query(&format!("create database c{n}"));
        pg.url_db(&format!("c{n}"))
    };
    let q = |_: &Area, sql: &str| {
        let n = counter.load(std::sync::atomic::Ordering::Relaxed) - 1;
        pg.query_db(&format!("c{n}"), sql)[0]
            .parse()
            .expect("integer")
    };
    crash_everywhere(dest, q, false);
    crash_everywhere(dest, q, true);
}

/// A load killed after its package was sealed, with every row staged or appended, leaves
/// nothing in the database: staging tables and in-place rows live inside the package
/// transaction the kill abandoned. Setting the package aside also drops staging tables an
/// older Sluice left outside a transaction, and the next run loads.
#[test]
fn abort_packages_sets_aside_a_killed_load_and_drops_its_staging() {
    for merge in [false, true] {
        let area = Area::new();
        let dest = format!("duckdb:{}", area.db().display());
        run_killed(&area, &dest, merge, "load.before_commit");
        let tables = || {
            area.count(
                "select count(*) from information_schema.tables where table_schema in ('gh', 'gh_staging') and table_name like 'events%'",
            )
        };
        assert_eq!(tables(), 0, "merge {merge}: a killed load leaves no tables");
        let pending: Vec<String> = package_names(&area)
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .collect();
        assert_eq!(pending.len(), 1, "{pending:?}");
        // what a killed load of an older Sluice left: staging outside a transaction
        area.conn()
            .execute_batch(&format!(
                "create schema if not exists gh_staging; create table gh_staging.\"events__{}\" (x int)",
                pending[0].replace('.', "_")
            ))
            .expect("leftover staging");
        assert_eq!(tables(), 1);
        let ids = sluice_pipeline::abort_packages(&area.path().join("pipelines"), "crash")
            .expect("abort-packages");
        assert_eq!(ids, pending);
        assert_eq!(tables(), 0, "staging of the aborted package is dropped");
        run_synthetic(&area, &dest, &pipeline_toml(merge)).expect("the next run");
        assert_eq!(area.count("select count(*) from gh.events"), ROWS as i64);
        assert_eq!(area.count("select count(*) from gh._dlt_loads"), 1);
    }
}

/// A run of one resource loads while it extracts. Killed mid-append, before the extraction
/// sealed its package, it leaves no table and no package: only the unsealed package folder,
/// which the next run drops before it extracts and loads every row once.
#[test]
fn a_load_killed_while_it_extracts_leaves_no_rows_and_no_package() {
    for merge in [false, true] {
        let area = Area::new();
        let dest = format!("duckdb:{}", area.db().display());
        // 60 pages: at the first append at most the feed, the normalizer and the loader hold
        // pages (~6), so the extraction cannot have sealed the package (with 6 pages of 250 it
        // sometimes had)
        let toml = pipeline_toml(merge).replace("page_size = 250", "page_size = 25");
        assert!(toml.contains("page_size = 25\n"), "{toml}");
        run_toml_killed(&area, &dest, &toml, "load.mid_staging");
        assert_eq!(
            area.count(
                "select count(*) from information_schema.tables where table_schema in ('gh', 'gh_staging') and table_name like 'events%'"
            ),
            0,
            "merge {merge}: a killed live load leaves no tables"
        );
        let names = package_names(&area);
        // the kill came while the extraction still wrote the package: the load was live
        assert!(
            names.len() == 1 && names[0].starts_with(".tmp-"),
            "merge {merge}: {names:?}"
        );
        let summary = run_synthetic(&area, &dest, &toml).expect("the next run");
        assert_eq!(summary.pending_packages_loaded, 0);
        assert_eq!(area.count("select count(*) from gh.events"), ROWS as i64);
        assert_eq!(area.count("select count(*) from gh._dlt_loads"), 1);
        let left = package_names(&area).len();
        assert_eq!(left, 0, "merge {merge}: the unsealed package was dropped");
    }
    // with `load_while_extracting = false` the package is sealed before its load starts, so
    // the same kill leaves it pending, and the next run loads it without extracting again
    let area = Area::new();
    let dest = format!("duckdb:{}", area.db().display());
    let sealed_first = format!(
        "{}[limits]\nload_while_extracting = false\n",
        pipeline_toml(false)
    );
    run_toml_killed(&area, &dest, &sealed_first, "load.mid_staging");
    let names = package_names(&area);
    assert!(
        names.len() == 1 && !names[0].starts_with('.'),
        "a sealed, pending package: {names:?}"
    );
    let summary = run_synthetic(&area, &dest, &sealed_first).expect("the next run");
    assert_eq!(summary.pending_packages_loaded, 1);
    assert_eq!(
        area.count("select count(*) from gh.events"),
        ROWS as i64 * 2
    );
}

/// A replace load killed after it emptied its tables in place and appended its first rows:
/// the rows it was replacing are all still there (the emptying belonged to the transaction
/// the kill abandoned), and the next run replaces them.
#[test]
fn a_killed_replace_keeps_the_rows_it_was_replacing() {
    let area = Area::new();
    let dest = format!("duckdb:{}", area.db().display());
    let toml = pipeline_toml(false) + "[resources.events]\nwrite_disposition = \"replace\"\n";
    let first = run_synthetic(&area, &dest, &toml).expect("first run");
    let rows_of = |load: &str| {
        area.count(&format!(
            "select count(*) from gh.events where _dlt_load_id = '{load}'"
        ))
    };
    assert_eq!(rows_of(&first.load_ids[0]), ROWS as i64);
    run_toml_killed(&area, &dest, &toml, "load.mid_staging");
    assert_eq!(area.count("select count(*) from gh.events"), ROWS as i64);
    assert_eq!(
        rows_of(&first.load_ids[0]),
        ROWS as i64,
        "the old rows stay"
    );
    assert_eq!(area.count("select count(*) from gh._dlt_loads"), 1);
    let next = run_synthetic(&area, &dest, &toml).expect("recovery run");
    let last = next.load_ids.last().expect("a load");
    assert_eq!(area.count("select count(*) from gh.events"), ROWS as i64);
    assert_eq!(rows_of(last), ROWS as i64, "replaced by the last load");
    assert_eq!(
        area.count(
            "select count(*) from gh.events__payload__commits c where not exists (select 1 from gh.events e where e._dlt_id = c._dlt_parent_id)"
        ),
        0,
        "nested rows replaced with their parents"
    );
}
