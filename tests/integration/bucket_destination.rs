//! The filesystem destination on a bucket (`s3://bucket/prefix`), against a real
//! S3-compatible server (moto, signatures checked): a load is Parquet files DuckDB reads,
//! rotated as on disk, with the `_dlt_loads` marker written last and no staging left behind;
//! a run SIGKILLed between two uploads leaves no marker, and the next run commits that load
//! exactly once, with no file of an uncommitted load left in the bucket;
//! the pipeline lease is an object created only if absent, so a second worker finds it busy
//! and learns the holder, a released lease is free at once and an expired one is taken over.
//! An Azure container (Azurite) takes loads and the lease the same way. Runs happen in child
//! processes, which sign with the server's key from their environment.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::s3_server::S3Server;
use crate::support::{Area, child_test};

fn synthetic(rows: u64) -> String {
    format!(
        "name = \"fs\"\ndataset = \"gh\"\n[connector]\nname = \"synthetic\"\n[config]\nrows = {rows}\npage_size = 400\nseed = 3\n[limits]\nlease_wait_secs = 0\n"
    )
}

#[test]
#[ignore = "started by the bucket destination tests in a child process"]
fn bucket_run_child() {
    let area = Area::at(std::env::var("BUCKET_AREA").expect("BUCKET_AREA").into());
    let dest = std::env::var("BUCKET_DEST").expect("BUCKET_DEST");
    let toml = std::env::var("BUCKET_TOML").expect("BUCKET_TOML");
    match area.run_to(&toml, ("synthetic", sluice_bundled::SYNTHETIC.bytes), &dest) {
        Ok(s) => {
            println!("BUCKET_OK {:?}", s.tables);
            // what `sluice tables` shows: rows of committed files, from their footers
            let counts = sluice_load::DestinationConfig::parse(&dest, "fs")
                .and_then(|d| {
                    d.build("gh", "fs", sluice_load::ReplaceStrategy::default())
                        .map_err(|e| e.to_string())
                })
                .and_then(|mut d| d.table_counts().map_err(|e| e.to_string()))
                .expect("table counts");
            println!("BUCKET_COUNTS {counts:?}");
        }
        Err(e @ sluice_pipeline::PipelineError::Busy { .. }) => {
            println!("BUCKET_BUSY {e}");
            std::process::exit(3);
        }
        Err(e) => panic!("bucket run failed: {e:#}"),
    }
}

#[test]
#[ignore = "started by the bucket lease test in a child process"]
fn bucket_lease_child() {
    use sluice_load::lease::{Attempt, Holder};
    let dest = std::env::var("BUCKET_DEST").expect("BUCKET_DEST");
    let config = sluice_load::DestinationConfig::parse(&dest, "fs").expect("destination");
    let Attempt::Held(lease) = config
        .try_lease("gh", "fs", &Holder::this_process())
        .expect("lease attempt")
    else {
        panic!("the lease is free");
    };
    println!("LEASE_HELD {}", std::process::id());
    std::thread::sleep(std::time::Duration::from_secs(4));
    drop(lease);
    println!("LEASE_RELEASED");
}

fn child(s3: &S3Server, name: &str, area: &Area, dest: &str, rows: u64) -> Command {
    let mut c = child_test(name);
    c.envs(s3.env())
        .env("BUCKET_AREA", area.path())
        .env("BUCKET_DEST", dest)
        .env("BUCKET_TOML", synthetic(rows));
    c
}

/// Run the pipeline in a child: `Ok(stdout)` when it loaded, `Err(stdout)` when busy.
fn run(s3: &S3Server, area: &Area, dest: &str, rows: u64) -> Result<String, String> {
    let out = child(s3, "bucket_destination::bucket_run_child", area, dest, rows)
        .output()
        .expect("child runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    match out.status.code() {
        Some(0) => Ok(stdout),
        Some(3) => Err(stdout),
        _ => panic!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// Rows of the Parquet files of `table` in the bucket, read by DuckDB from a download.
fn rows_in(s3: &mut S3Server, dir: &Path, table: &str) -> (usize, i64) {
    let keys = s3.keys("lake", &format!("out/gh/{table}/"));
    std::fs::create_dir_all(dir.join(table)).expect("mkdir");
    for k in &keys {
        let name = k.rsplit('/').next().expect("name");
        s3.get("lake", k, &dir.join(table).join(name));
    }
    let sql = format!(
        "select count(*) from read_parquet('{}/{table}/*.parquet')",
        dir.display()
    );
    let n = duckdb::Connection::open_in_memory()
        .expect("duckdb")
        .query_row(&sql, [], |r| r.get(0))
        .expect("count");
    (keys.len(), n)
}

#[test]
fn a_load_into_a_bucket_is_parquet_duckdb_reads_committed_by_its_marker() {
    let area = Area::new();
    let mut s3 = S3Server::start();
    s3.bucket("lake");
    let dest = "s3://lake/out?file_max_rows=1500";
    let first = run(&s3, &area, dest, 2000).expect("first run");
    assert!(first.contains("\"events\": 2000"), "{first}");
    assert!(first.contains("(\"events\", 2000)"), "counted: {first}");
    let keys = s3.keys("lake", "out/gh/");
    let markers: Vec<&String> = keys.iter().filter(|k| k.contains("/_dlt_loads/")).collect();
    assert_eq!(markers.len(), 1, "{keys:#?}");
    assert!(
        keys.iter().any(|k| k.contains("/_dlt_pipeline_state/")),
        "{keys:#?}"
    );
    assert!(keys.iter().any(|k| k.contains("/_manifests/")), "{keys:#?}");
    assert!(
        !keys
            .iter()
            .any(|k| k.contains("/.staging/") || k.contains(".sluice-leases")),
        "staging and the lease are gone after the run: {keys:#?}"
    );
    let dl = area.path().join("download");
    assert_eq!(
        rows_in(&mut s3, &dl, "events"),
        (2, 2000),
        "rotated at 1500 rows"
    );
    // a second load appends and commits with a marker of its own
    run(&s3, &area, dest, 2000).expect("second run");
    assert_eq!(s3.keys("lake", "out/gh/_dlt_loads/").len(), 2);
    let dl2 = area.path().join("download2");
    assert_eq!(rows_in(&mut s3, &dl2, "events").1, 4000);
}

#[test]
fn the_pipeline_lease_holds_on_a_bucket() {
    let area = Area::new();
    let mut s3 = S3Server::start();
    s3.bucket("lake");
    let dest = "s3://lake/out";
    let mut holder = child(
        &s3,
        "bucket_destination::bucket_lease_child",
        &area,
        dest,
        10,
    )
    .stdout(Stdio::piped())
    .spawn()
    .expect("holder");
    let mut lines = BufReader::new(holder.stdout.take().expect("stdout")).lines();
    // libtest may print the test's name on the same line before it
    let held = lines
        .find_map(|l| l.ok().filter(|l| l.contains("LEASE_HELD ")))
        .expect("the holder takes the lease");
    let pid = held
        .rsplit("LEASE_HELD ")
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let busy = run(&s3, &area, dest, 10).expect_err("busy while held");
    assert!(
        busy.contains(&format!("pid {pid}")),
        "names the holder: {busy}"
    );
    assert!(holder.wait().expect("holder ends").success());
    run(&s3, &area, dest, 10).expect("free once released");
    // a lease its holder stopped renewing is taken over; a live one elsewhere is not
    let lease = |expires_at: i64| {
        format!(
            "{{\"holder\":{{\"host\":\"elsewhere\",\"pid\":1,\"started_at\":\"2026-01-01T00:00:00Z\"}},\"expires_at\":{expires_at}}}"
        )
    };
    let key = "out/gh/.sluice-leases/fs.lease";
    s3.put(area.path(), "lake", key, lease(0).as_bytes());
    run(&s3, &area, dest, 10).expect("an expired lease is taken over");
    let live = chrono_now() + 600;
    s3.put(area.path(), "lake", key, lease(live).as_bytes());
    let busy = run(&s3, &area, dest, 10).expect_err("a live lease elsewhere");
    assert!(busy.contains("host elsewhere"), "{busy}");
    s3.delete("lake", key);
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[test]
fn a_load_killed_between_uploads_commits_exactly_once_when_run_again() {
    let area = Area::new();
    let mut s3 = S3Server::start();
    s3.bucket("lake");
    let dest = "s3://lake/out?file_max_rows=500";
    let out = child(
        &s3,
        "bucket_destination::bucket_run_child",
        &area,
        dest,
        2000,
    )
    .env("SLUICE_FAILPOINT", "files.mid_rename")
    .output()
    .expect("child runs");
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(
        out.status.signal(),
        Some(9),
        "killed after its first upload"
    );
    let keys = s3.keys("lake", "out/gh/");
    assert!(
        !keys.iter().any(|k| k.contains("/_dlt_loads/")),
        "{keys:#?}"
    );
    assert!(keys.iter().any(|k| k.ends_with(".parquet")), "{keys:#?}");
    assert!(keys.iter().any(|k| k.contains("/.staging/")), "{keys:#?}");
    run(&s3, &area, dest, 2000).expect("the next run");
    let keys = s3.keys("lake", "out/gh/");
    assert!(!keys.iter().any(|k| k.contains("/.staging/")), "{keys:#?}");
    let committed: Vec<String> = keys
        .iter()
        .filter_map(|k| k.rsplit_once("/_dlt_loads/"))
        .map(|(_, f)| f.trim_end_matches(".jsonl").to_owned())
        .collect();
    assert!(!committed.is_empty());
    // every table file belongs to a committed load, and each load holds its rows once
    for k in keys.iter().filter(|k| k.ends_with(".parquet")) {
        let name = k.rsplit('/').next().unwrap_or_default();
        assert!(
            committed.iter().any(|l| name.starts_with(&format!("{l}."))),
            "{name} belongs to no committed load: {committed:?}"
        );
    }
    let dl = area.path().join("download");
    rows_in(&mut s3, &dl, "events");
    let sql = format!(
        "select count(*) filter (where n <> 2000), count(*) from (select _dlt_load_id, count(*) n \
         from read_parquet('{}/events/*.parquet') group by 1)",
        dl.display()
    );
    let (wrong, loads): (i64, i64) = duckdb::Connection::open_in_memory()
        .expect("duckdb")
        .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("counts");
    assert_eq!((wrong, loads), (0, committed.len() as i64));
}

#[test]
fn an_azure_container_takes_loads_and_holds_the_lease() {
    let area = Area::new();
    let mut az = S3Server::azurite();
    az.bucket("lake");
    let dest = format!("az://lake/out?file_max_rows=1500&endpoint={}", az.endpoint);
    run(&az, &area, &dest, 2000).expect("first run");
    assert_eq!(az.keys("lake", "out/gh/_dlt_loads/").len(), 1);
    assert!(
        az.keys("lake", "out/gh/.s").is_empty(),
        "no staging, no lease"
    );
    let dl = area.path().join("download");
    assert_eq!(rows_in(&mut az, &dl, "events"), (2, 2000));
    let mut holder = child(
        &az,
        "bucket_destination::bucket_lease_child",
        &area,
        &dest,
        10,
    )
    .stdout(Stdio::piped())
    .spawn()
    .expect("holder");
    let pid = holder.id();
    let mut lines = BufReader::new(holder.stdout.take().expect("stdout")).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("LEASE_HELD "))),
        "the holder takes the lease"
    );
    let busy = run(&az, &area, &dest, 10).expect_err("busy while held");
    assert!(
        busy.contains(&format!("pid {pid}")),
        "names the holder: {busy}"
    );
    assert!(holder.wait().expect("holder ends").success());
    run(&az, &area, &dest, 10).expect("free once released");
}
