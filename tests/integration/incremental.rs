//! Host-side incremental loading: only newer records load, empty runs change nothing, a fresh
//! worker continues from the destination's state, a killed long extraction resumes from its
//! last committed package, and random SIGKILLs never duplicate or lose a row.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::crash::{child, run_toml_killed};
use crate::pg::PgServer;
use crate::support::{Area, files_pipeline};

fn files_incremental(area: &Area, name: &str, records: &serde_json::Value, extra: &str) -> String {
    let file = area.path().join(format!("{name}.json"));
    std::fs::write(&file, records.to_string()).expect("write");
    format!(
        "{}[resources.{name}]\nprimary_key = [\"id\"]\n{extra}\n[resources.{name}.incremental]\ncursor_path = \"meta.updated_at\"\n",
        files_pipeline(name, &file, name)
    )
}

fn files() -> (&'static str, &'static [u8]) {
    ("files", sluice_bundled::FILES.bytes)
}

#[test]
fn only_newer_records_load_and_empty_runs_change_nothing() {
    let area = Area::new();
    let first = json!([
        {"id": 1, "meta": {"updated_at": "2024-05-01T10:00:00+02:00"}},
        {"id": 2, "meta": {"updated_at": "2024-05-01T09:00:00Z"}},
        {"id": 3, "meta": {"updated_at": "2024-05-01T09:00:00Z"}},
    ]);
    let toml = files_incremental(&area, "ev", &first, "");
    let s = area.run(&toml, files()).expect("first");
    assert_eq!(s.tables["ev"], 3);
    // the cursor is an instant: 10:00+02:00 is before 09:00Z, so the last value is 09:00Z
    let second = json!([
        {"id": 1, "meta": {"updated_at": "2024-05-01T10:00:00+02:00"}},
        {"id": 2, "meta": {"updated_at": "2024-05-01T09:00:00Z"}},
        {"id": 3, "meta": {"updated_at": "2024-05-01T11:00:00+02:00"}},
        {"id": 4, "meta": {"updated_at": "2024-05-01T09:00:00Z"}},
        {"id": 5, "meta": {"updated_at": "2024-05-02T00:00:00Z"}},
    ]);
    let toml = files_incremental(&area, "ev", &second, "");
    let s = area.run(&toml, files()).expect("second");
    // id 3 (old boundary row) is deduplicated, id 4 sits on the boundary but is new, id 5 is newer
    assert_eq!(s.tables["ev"], 2);
    assert_eq!(
        area.count("select count(*) from ev_dataset.ev where id in (4, 5)"),
        2
    );
    assert_eq!(area.count("select count(*) from ev_dataset.ev"), 5);
    // nothing new: no load, no state row, no change
    let loads = area.count("select count(*) from ev_dataset._dlt_loads");
    let states = area.count("select count(*) from ev_dataset._dlt_pipeline_state");
    let s = area.run(&toml, files()).expect("empty run");
    assert!(s.load_ids.is_empty(), "{:?}", s.load_ids);
    assert_eq!(
        area.count("select count(*) from ev_dataset._dlt_loads"),
        loads
    );
    assert_eq!(
        area.count("select count(*) from ev_dataset._dlt_pipeline_state"),
        states
    );
    assert_eq!(area.count("select count(*) from ev_dataset.ev"), 5);
}

#[test]
fn an_empty_incremental_run_never_truncates_a_replace_table() {
    let area = Area::new();
    let rows = json!([{"id": 1, "meta": {"updated_at": 5}}, {"id": 2, "meta": {"updated_at": 9}}]);
    let toml = files_incremental(&area, "rp", &rows, "write_disposition = \"replace\"");
    area.run(&toml, files()).expect("first");
    area.run(&toml, files()).expect("second, nothing new");
    assert_eq!(area.count("select count(*) from rp_dataset.rp"), 2);
    // numbers compare as numbers: 10 is after 9
    let more = json!([{"id": 3, "meta": {"updated_at": 10}}]);
    let toml = files_incremental(&area, "rp", &more, "write_disposition = \"replace\"");
    area.run(&toml, files()).expect("third");
    assert_eq!(
        area.count("select count(*) from rp_dataset.rp where id = 3"),
        1
    );
}

#[test]
fn a_fresh_worker_continues_from_the_destination() {
    let area = Area::new();
    let first = json!([{"id": 1, "meta": {"updated_at": 1}}, {"id": 2, "meta": {"updated_at": 2}}]);
    let toml = files_incremental(&area, "fw", &first, "");
    area.run(&toml, files()).expect("first");
    let pipelines = area.path().join("pipelines");
    // the worker loses its working directory; the next run restores from the destination
    std::fs::remove_dir_all(&pipelines).expect("wipe");
    let second = json!([
        {"id": 1, "meta": {"updated_at": 1}},
        {"id": 2, "meta": {"updated_at": 2}},
        {"id": 3, "meta": {"updated_at": 3}},
    ]);
    let toml = files_incremental(&area, "fw", &second, "");
    let s = area.run(&toml, files()).expect("second");
    assert_eq!(s.tables["fw"], 1);
    assert_eq!(area.count("select count(*) from fw_dataset.fw"), 3);
    // and explicitly: `sluice pipeline NAME sync --destination … --dataset …` rebuilds the
    // working directory of a fresh worker
    std::fs::remove_dir_all(&pipelines).expect("wipe again");
    let dest = format!("duckdb:{}", area.db().display());
    let (schema_version, state_version) =
        sluice_pipeline::sync(&pipelines, "fw", Some((&dest, "fw_dataset"))).expect("sync");
    assert!(schema_version >= 1);
    assert_eq!(state_version, 2);
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(pipelines.join("fw/state.json")).expect("state restored"),
    )
    .expect("json");
    assert_eq!(
        state
            .pointer("/sources/files/resources/fw/incremental/meta.updated_at/last_value")
            .cloned(),
        Some(json!(3))
    );
    // remembered from then on
    assert!(sluice_pipeline::sync(&pipelines, "fw", None).is_ok());
}

fn synthetic_incremental(rows: u64, package_rows: u64) -> String {
    format!(
        "name = \"inc\"\ndataset = \"gh\"\n[connector]\nname = \"synthetic\"\n[config]\nrows = {rows}\npage_size = 250\nseed = 5\n[limits]\npackage_rows = {package_rows}\n[resources.events.incremental]\ncursor_path = \"seq\"\n"
    )
}

#[test]
fn a_killed_long_extraction_resumes_from_its_last_committed_package() {
    let area = Area::new();
    let dest = format!("duckdb:{}", area.db().display());
    let toml = synthetic_incremental(3000, 1000);
    // killed right after the first 1000-row package committed, mid-extraction
    run_toml_killed(&area, &dest, &toml, "extract.after_checkpoint_package");
    assert_eq!(area.count("select count(*) from gh.events"), 1000);
    let s = area
        .run_to(&toml, ("synthetic", sluice_bundled::SYNTHETIC.bytes), &dest)
        .expect("resume");
    // the connector started at the committed cursor, not at zero
    assert_eq!(s.tables["events"], 2000);
    assert_eq!(s.load_ids.len(), 2);
    assert_eq!(area.count("select count(*) from gh.events"), 3000);
    assert_eq!(
        area.count("select count(distinct seq) from gh.events"),
        3000
    );
}

/// A tiny deterministic generator for kill delays (the seed is printed on failure).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (self.0 >> 33) % (hi - lo)
    }
}

/// Kill the pipeline at random moments at least `kills` times, then let it finish; the
/// destination must hold every source row exactly once.
fn random_kills(dest: &str, area: &Area, count: &dyn Fn(&str) -> i64) {
    // enough that 20 kills fit before a run completes (the normalizer's fast path makes each
    // run go further)
    const ROWS: u64 = 200_000;
    let toml = synthetic_incremental(ROWS, 1000);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7);
    let mut rng = Lcg(seed);
    let mut kills = 0;
    let mut finished = false;
    let started = Instant::now();
    while kills < 20 && started.elapsed() < Duration::from_secs(600) {
        let mut c = child(area, dest, &toml, None)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let delay = Duration::from_millis(rng.next(150, 900));
        let deadline = Instant::now() + delay;
        let mut exited = None;
        while Instant::now() < deadline {
            if let Some(st) = c.try_wait().expect("wait") {
                exited = Some(st);
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        match exited {
            Some(st) => {
                assert!(st.success(), "seed {seed}: a run failed on its own: {st:?}");
                finished = true;
                break;
            }
            None => {
                c.kill().expect("SIGKILL");
                let _ = c.wait();
                kills += 1;
            }
        }
    }
    assert!(
        kills >= 20,
        "seed {seed}: the pipeline finished after {kills} kills; raise ROWS so 20 kills fit"
    );
    let before_final = count("select count(*) from gh.events");
    if !finished {
        area.run_to(&toml, ("synthetic", sluice_bundled::SYNTHETIC.bytes), dest)
            .unwrap_or_else(|e| panic!("seed {seed}: final run: {e}"));
    }
    assert_eq!(
        count("select count(*) from gh.events"),
        ROWS as i64,
        "seed {seed}"
    );
    assert_eq!(
        count("select count(distinct seq) from gh.events"),
        ROWS as i64,
        "seed {seed}: duplicates"
    );
    assert_eq!(
        count("select max(seq) from gh.events"),
        ROWS as i64 - 1,
        "seed {seed}"
    );
    assert_eq!(
        count(
            "select count(*) from gh.events where _dlt_load_id not in (select load_id from gh._dlt_loads)"
        ),
        0,
        "seed {seed}"
    );
    // a run after completion loads nothing
    let s = area
        .run_to(&toml, ("synthetic", sluice_bundled::SYNTHETIC.bytes), dest)
        .expect("no-op run");
    assert!(s.load_ids.is_empty(), "seed {seed}: {:?}", s.load_ids);
    eprintln!(
        "random kills: seed {seed}, {kills} kills, {before_final} rows committed before the last run"
    );
}

#[test]
fn random_sigkills_never_duplicate_or_lose_rows_on_duckdb() {
    let area = Area::new();
    let dest = format!("duckdb:{}", area.db().display());
    random_kills(&dest, &area, &|sql| area.count(sql));
}

#[test]
fn random_sigkills_never_duplicate_or_lose_rows_on_postgres() {
    let pg = PgServer::start();
    let area = Area::new();
    random_kills(&pg.url(), &area, &|sql| {
        pg.query(sql)[0].parse().expect("integer")
    });
}
