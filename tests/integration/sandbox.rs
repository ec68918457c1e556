//! The sandbox defaults: a component that tries to read a file, read the environment and
//! reach a host off the allow-list is refused each time, with an error naming connector,
//! resource and the rule, and the pipeline's earlier data stays intact.

use crate::support::Area;

const PIPE: &str =
    "name = \"sb\"\ndataset = \"sb\"\n[connector]\nname = \"synthetic\"\n[config]\nrows = 100\n";

/// The probe's pipeline trying `attempt`, with more TOML (config keys, then tables) after it.
fn probe_toml(attempt: &str, extra: &str) -> String {
    format!(
        "name = \"sb\"\ndataset = \"sb\"\n[connector]\nname = \"probe\"\n[config]\ntry = \"{attempt}\"\n{extra}"
    )
}

fn probe(area: &Area, attempt: &str, extra: &str) -> String {
    let err = area
        .run(
            &probe_toml(attempt, extra),
            ("sandbox_probe", sluice_bundled::SANDBOX_PROBE),
        )
        .expect_err("the sandbox must refuse");
    err.to_string()
}

fn earlier_data(area: &Area) {
    area.run(PIPE, ("synthetic", sluice_bundled::SYNTHETIC.bytes))
        .expect("earlier run");
    assert_eq!(area.count("select count(*) from sb.events"), 100);
}

fn intact(area: &Area) {
    assert_eq!(area.count("select count(*) from sb.events"), 100);
    assert_eq!(area.count("select count(*) from sb._dlt_loads"), 1);
}

#[test]
fn files_are_not_visible() {
    let area = Area::new();
    earlier_data(&area);
    let msg = probe(&area, "file", "");
    assert!(
        msg.contains("`sandbox_probe`") && msg.contains("`probe`"),
        "{msg}"
    );
    assert!(msg.contains("/etc/passwd refused"), "{msg}");
    intact(&area);
}

#[test]
fn environment_is_empty() {
    let area = Area::new();
    earlier_data(&area);
    // the host process has variables; the guest must see none of them
    assert!(std::env::vars().count() > 0);
    let msg = probe(&area, "env", "");
    assert!(
        msg.contains("environment is empty") && msg.contains("`sandbox_probe`"),
        "{msg}"
    );
    intact(&area);
}

#[test]
fn hosts_off_the_allow_list_are_denied() {
    let area = Area::new();
    earlier_data(&area);
    let msg = probe(
        &area,
        "http",
        "url = \"http://example.com/data\"\n[grants]\nallow_hosts = [\"http://127.0.0.1:9\"]\n",
    );
    assert!(
        msg.contains("`sandbox_probe`") && msg.contains("`probe`"),
        "{msg}"
    );
    assert!(
        msg.contains("http://example.com:80") && msg.contains("not on the pipeline's allow-list"),
        "{msg}"
    );
    intact(&area);
}

#[test]
fn empty_allow_list_denies_everything() {
    let area = Area::new();
    let msg = probe(&area, "http", "url = \"http://127.0.0.1:9/\"\n");
    assert!(msg.contains("not on the pipeline's allow-list"), "{msg}");
}

#[test]
fn names_resolving_to_loopback_are_refused_unless_granted() {
    let area = Area::new();
    let msg = probe(
        &area,
        "http",
        "url = \"http://localhost:9/\"\n[grants]\nallow_hosts = [\"http://localhost:9\"]\n",
    );
    assert!(msg.contains("non-public address"), "{msg}");
}

#[test]
fn pinned_digest_refuses_other_components() {
    let area = Area::new();
    let toml = format!(
        "name = \"sb\"\ndataset = \"sb\"\n[connector]\nname = \"synthetic\"\ndigest = \"{}\"\n[config]\nrows = 100\n",
        "0".repeat(64)
    );
    let err = area
        .run(&toml, ("synthetic", sluice_bundled::SYNTHETIC.bytes))
        .expect_err("pinned");
    let msg = err.to_string();
    assert!(msg.contains("pins") && msg.contains("`synthetic`"), "{msg}");
}

#[test]
fn endless_loops_in_open_and_next_hit_the_call_deadline() {
    let area = Area::new();
    earlier_data(&area);
    for (attempt, call) in [("loop", "open"), ("next_loop", "next")] {
        let started = std::time::Instant::now();
        let msg = probe(&area, attempt, "[limits]\ncall_timeout_secs = 1\n");
        assert!(
            msg.contains("`sandbox_probe`")
                && msg.contains("`probe`")
                && msg.contains(&format!("{call} exceeded the 1000 ms time limit")),
            "{attempt}: {msg}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        intact(&area);
    }
}

/// The call deadline holds for a connector whose `Host` is gone (a plan keeps the loaded
/// connector, not the host): the engine's epoch must keep advancing while a connector exists.
#[test]
fn a_connector_outliving_its_host_still_hits_the_call_deadline() {
    let dir = tempfile::tempdir().expect("tmp");
    let host = sluice_host::Host::new(dir.path()).expect("host");
    let connector = host
        .load("sandbox_probe", sluice_bundled::SANDBOX_PROBE)
        .expect("load");
    drop(host);
    let sandbox = sluice_host::Sandbox {
        call_timeout: std::time::Duration::from_secs(1),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let err = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let mut instance = connector.instantiate(sandbox).await?;
            instance
                .open("probe", r#"{"try": "loop"}"#, None, None, None)
                .await
                .map(drop)
        })
        .expect_err("an endless loop must hit the deadline");
    assert!(
        err.to_string()
            .contains("open exceeded the 1000 ms time limit"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn a_memory_bomb_hits_the_memory_cap() {
    let area = Area::new();
    earlier_data(&area);
    let msg = probe(&area, "memory", "[limits]\nmemory_mb = 64\n");
    assert!(
        msg.contains("`sandbox_probe`") && msg.contains("memory limit of 64 MiB"),
        "{msg}"
    );
    intact(&area);
}

#[test]
fn imports_outside_the_granted_set_are_refused_at_load() {
    let dir = tempfile::tempdir().expect("tmp");
    let host = sluice_host::Host::new(dir.path()).expect("host");
    let err = match host.load("evil", sluice_bundled::EVIL_IMPORT) {
        Ok(_) => panic!("a component importing test:evil/exfil must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("connector `evil`") && err.contains("`test:evil/exfil`"),
        "{err}"
    );
    // the granted set alone is accepted
    assert!(
        host.load("synthetic", sluice_bundled::SYNTHETIC.bytes)
            .is_ok()
    );
}

#[test]
fn run_time_and_state_size_limits_stop_the_run_and_keep_committed_data() {
    let area = Area::new();
    let c = ("synthetic", sluice_bundled::SYNTHETIC.bytes);
    let toml = |rows: u64, limits: &str| {
        format!(
            "name = \"lim\"\ndataset = \"lim\"\n[connector]\nname = \"synthetic\"\n[config]\nrows = {rows}\npage_size = 500\n[limits]\n{limits}\n"
        )
    };
    area.run(&toml(1000, ""), c).expect("first run");
    // a run that would take far longer than its budget stops at the budget; the pages it
    // extracted load with their checkpoints (whole pages of 500)
    let started = std::time::Instant::now();
    let err = area
        .run(&toml(50_000_000, "run_timeout_secs = 2"), c)
        .expect_err("budget");
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    let msg = err.to_string();
    assert!(
        msg.contains("synthetic") && msg.contains("run time limit of 2 s"),
        "{msg}"
    );
    let kept = area.count("select count(*) from lim.events") - 1000;
    assert!(kept > 0 && kept % 500 == 0, "{kept}");
    // a checkpoint above the state limit is refused, naming resource, page and limit
    let err = area
        .run(&toml(1000, "max_state_kb = 0"), c)
        .expect_err("state size");
    let msg = err.to_string();
    assert!(
        msg.contains("`events` page 1") && msg.contains("state size limit"),
        "{msg}"
    );
    // refused on its first page, that run loads nothing
    assert_eq!(area.count("select count(*) from lim.events"), 1000 + kept);
}

// ---- the hostile suite: each attempt stops the run with a clear error, or is contained; the
// ---- host stays up and the pipeline's earlier data is intact

fn probe_ok(
    area: &Area,
    attempt: &str,
    extra: &str,
) -> (sluice_pipeline::RunSummary, Vec<(String, String)>) {
    let (r, logs) = area.run_logged(
        &probe_toml(attempt, extra),
        &[],
        ("sandbox_probe", sluice_bundled::SANDBOX_PROBE),
    );
    (r.expect("contained, not fatal"), logs)
}

#[test]
fn a_loop_in_spec_hits_the_call_deadline() {
    let area = Area::new();
    earlier_data(&area);
    let started = std::time::Instant::now();
    let msg = probe(&area, "spec_loop", "[limits]\ncall_timeout_secs = 1\n");
    assert!(
        msg.contains("`sandbox_probe`") && msg.contains("1000 ms time limit"),
        "{msg}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    intact(&area);
}

#[test]
fn stack_overflow_and_panic_trap_without_taking_the_host_down() {
    let area = Area::new();
    earlier_data(&area);
    for attempt in ["stack", "panic"] {
        let msg = probe(&area, attempt, "");
        assert!(
            msg.contains("`sandbox_probe`") && msg.contains("`probe`") && msg.contains("trapped"),
            "{attempt}: {msg}"
        );
        intact(&area);
    }
    // the host runs the next pipeline as if nothing happened
    area.run(PIPE, ("synthetic", sluice_bundled::SYNTHETIC.bytes))
        .expect("host healthy");
    assert_eq!(area.count("select count(*) from sb.events"), 200);
}

#[test]
fn sockets_are_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");
    let area = Area::new();
    earlier_data(&area);
    let msg = probe(&area, "socket", &format!("addr = \"{addr}\"\n"));
    assert!(
        msg.contains("socket refused") && msg.contains("`sandbox_probe`"),
        "{msg}"
    );
    assert!(
        listener.accept().is_err(),
        "no connection reached the listener"
    );
    intact(&area);
}

#[test]
fn nesting_bombs_invalid_utf8_invalid_json_and_arrow_name_resource_and_page() {
    for (attempt, want) in [
        ("nesting", "depth"),
        ("bad_utf8", "UTF-8"),
        ("bad_json", "line 2"),
        ("bad_arrow", "not an Arrow IPC stream"),
    ] {
        // the host refuses the page as the connector hands it over: it never enters a
        // package, and nothing is left pending
        let area = Area::new();
        earlier_data(&area);
        let msg = probe(&area, attempt, "");
        assert!(
            msg.contains("`probe`")
                && msg.contains("page")
                && msg.to_lowercase().contains(&want.to_lowercase()),
            "{attempt}: {msg}"
        );
        intact(&area);
        let packages = area.path().join("pipelines/sb/packages");
        let left: Vec<_> = std::fs::read_dir(&packages)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("manifest.json").exists())
            .collect();
        assert!(left.is_empty(), "{attempt}: a package was left: {left:?}");
    }
}

#[test]
fn a_100_mb_state_checkpoint_is_refused_at_the_state_limit() {
    let area = Area::new();
    earlier_data(&area);
    let msg = probe(&area, "big_state", "");
    assert!(
        msg.contains("`probe`") && msg.contains("state size limit of 1024 KiB"),
        "{msg}"
    );
    intact(&area);
}

#[test]
fn a_log_flood_is_capped_and_a_tiny_page_flood_loads() {
    let area = Area::new();
    earlier_data(&area);
    let (s, logs) = probe_ok(&area, "log_flood", "[limits]\nmax_log_lines = 500\n");
    assert_eq!(s.tables["probe"], 1);
    // 500 lines, then one warning naming the limit
    assert_eq!(logs.len(), 501, "{} log lines reached the run", logs.len());
    assert!(
        logs[500].0 == "warn" && logs[500].1.contains("limits.max_log_lines"),
        "{:?}",
        logs[500]
    );
    let (s, _) = probe_ok(&area, "tiny_pages", "pages = 20000\n");
    assert_eq!(s.tables["probe"], 20_000);
    assert_eq!(
        area.count("select count(distinct id) from sb.probe"),
        20_000
    );
    intact_events(&area);
}

#[test]
fn a_log_flood_is_held_to_the_log_rate() {
    let area = Area::new();
    earlier_data(&area);
    // a million lines as fast as the guest can: 50 a second get through, the rest are
    // counted in warnings
    let started = std::time::Instant::now();
    let (s, logs) = probe_ok(
        &area,
        "log_flood",
        "[limits]\nmax_log_lines = 2000000\nmax_log_lines_per_sec = 50\n",
    );
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(s.tables["probe"], 1);
    let kept = logs
        .iter()
        .filter(|(_, m)| m.starts_with("flood line"))
        .count();
    let dropped: u64 = logs
        .iter()
        .filter(|(l, m)| l == "warn" && m.contains("limits.max_log_lines_per_sec"))
        .map(|(_, m)| {
            m.split(' ')
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("a count leads the warning: {m}"))
        })
        .sum();
    assert!(dropped > 0, "{:?}", &logs[..5.min(logs.len())]);
    // every line is kept or counted, and no more were kept than burst + rate × time
    assert_eq!(kept as u64 + dropped, 1_000_000);
    assert!(kept >= 50, "{kept}");
    assert!(
        (kept as f64) <= 50.0 + 50.0 * secs + 1.0,
        "{kept} in {secs:.1} s"
    );
    intact_events(&area);
}

#[test]
fn a_page_over_the_page_limit_and_a_claimed_2_gib_page_are_refused() {
    let area = Area::new();
    earlier_data(&area);
    let msg = probe(&area, "big_page", "mb = 3\n[limits]\nmax_page_mb = 1\n");
    assert!(
        msg.contains("`sandbox_probe`")
            && msg.contains("`probe`")
            && msg.contains("page 1")
            && msg.contains("page size limit of 1 MiB"),
        "{msg}"
    );
    intact(&area);
    // the page's (pointer, length) claims 2 GiB of a memory capped at 64 MiB: refused when
    // the host reads the result, before anything is copied
    let msg = probe(&area, "claimed_page", "[limits]\nmemory_mb = 64\n");
    assert!(
        msg.contains("`sandbox_probe`")
            && msg.contains("`probe`")
            && msg.contains("next broke the component contract")
            && msg.contains("outside its memory"),
        "{msg}"
    );
    intact(&area);
    area.run(PIPE, ("synthetic", sluice_bundled::SYNTHETIC.bytes))
        .expect("host healthy");
    assert_eq!(area.count("select count(*) from sb.events"), 200);
}

#[test]
fn misused_resource_handles_trap_and_the_host_carries_on() {
    let area = Area::new();
    earlier_data(&area);
    for attempt in [
        "forged_handle",
        "stale_handle",
        "forged_extraction",
        "dropped_extraction",
    ] {
        let msg = probe(&area, attempt, "");
        assert!(
            msg.contains("`sandbox_probe`")
                && msg.contains("`probe`")
                && msg.contains("open broke the component contract")
                && msg.contains("resource handle it does not hold"),
            "{attempt}: {msg}"
        );
        intact(&area);
    }
    area.run(PIPE, ("synthetic", sluice_bundled::SYNTHETIC.bytes))
        .expect("host healthy");
    assert_eq!(area.count("select count(*) from sb.events"), 200);
}

fn intact_events(area: &Area) {
    assert_eq!(area.count("select count(*) from sb.events"), 100);
}

#[test]
fn a_secret_echoed_back_is_redacted_from_logs_and_errors() {
    const TOKEN: &str = "exfil-me-if-you-can-123456";
    let server = crate::api_server::ApiServer::start(|req| {
        crate::api_server::ApiResponse::raw(
            200,
            format!("you sent: {}", req.header("authorization").unwrap_or("-")),
        )
    });
    let area = Area::new();
    earlier_data(&area);
    let toml = probe_toml(
        "echo_log",
        &format!(
            "url = \"{u}/x\"\n[grants]\nallow_hosts = [\"{u}\"]\n[secrets.token]\nvalue = \"{TOKEN}\"\nhost = \"{u}\"\nscheme = \"bearer\"\n",
            u = server.url()
        ),
    );
    let (r, logs) = area.run_logged(&toml, &[], ("sandbox_probe", sluice_bundled::SANDBOX_PROBE));
    let msg = format!("{:#}", r.expect_err("the probe errors with the echo"));
    assert!(msg.contains("you sent: Bearer ***"), "{msg}");
    assert!(!msg.contains(TOKEN), "{msg}");
    let logged = format!("{logs:?}");
    assert!(logged.contains("leaking: you sent: Bearer ***"), "{logged}");
    assert!(!logged.contains(TOKEN));
    // the run history (what `pipeline … trace` and the dashboard show) holds the failed run,
    // its plan and its error, never the secret
    let mut records = 0;
    for workdir in std::fs::read_dir(area.path().join("pipelines"))
        .expect("pipelines")
        .flatten()
    {
        for t in sluice_pipeline::traces::list(&workdir.path()).expect("history") {
            let text = std::fs::read_to_string(&t).expect("record");
            assert!(!text.contains(TOKEN), "{}", t.display());
            records += usize::from(text.contains("\"failed\"") && text.contains("token"));
        }
    }
    assert_eq!(records, 1, "the failed run is kept, naming its secret");
    intact(&area);
}

#[test]
fn redirects_and_ip_literals_off_the_allow_list_are_denied() {
    let server = crate::api_server::ApiServer::start(|req| match req.path.as_str() {
        "/hop" => crate::api_server::ApiResponse::raw(302, "")
            .header("Location", "http://127.0.0.2:9/steal"),
        _ => crate::api_server::ApiResponse::raw(200, "[]"),
    });
    let area = Area::new();
    earlier_data(&area);
    let grant = format!("[grants]\nallow_hosts = [\"{}\"]\n", server.url());
    let msg = probe(
        &area,
        "http",
        &format!("url = \"{}/hop\"\n{grant}", server.url()),
    );
    assert!(
        msg.contains("redirect denied") && msg.contains("127.0.0.2"),
        "{msg}"
    );
    // granted by name, requested by IP literal: a different host to the policy
    let by_name = format!(
        "[grants]\nallow_hosts = [\"http://localhost:{}\"]\n",
        server.port
    );
    let msg = probe(
        &area,
        "http",
        &format!("url = \"{}/ok\"\n{by_name}", server.url()),
    );
    assert!(msg.contains("not on the pipeline's allow-list"), "{msg}");
    assert_eq!(server.to("/ok").len(), 0);
    intact(&area);
}

/// Run in a child process by `memory_returns_to_its_baseline_after_memory_bombs`, alone, so
/// its resident memory is its own: one bomb to warm up, then five more.
#[test]
#[ignore = "started by memory_returns_to_its_baseline_after_memory_bombs in a child process"]
fn memory_child() {
    let area = Area::new();
    let bomb = "[limits]\nmemory_mb = 256\n";
    probe(&area, "memory", bomb);
    let baseline = crate::support::status_kib("VmRSS");
    for _ in 0..5 {
        probe(&area, "memory", bomb);
    }
    println!("RSS_KIB {baseline} {}", crate::support::status_kib("VmRSS"));
}

#[test]
fn memory_returns_to_its_baseline_after_memory_bombs() {
    let stdout = crate::support::child_test_output("sandbox::memory_child");
    let line = stdout
        .lines()
        .find_map(|l| l.split("RSS_KIB ").nth(1))
        .expect("child reports RSS");
    let v: Vec<u64> = line.split(' ').filter_map(|x| x.parse().ok()).collect();
    let (baseline, after) = (v[0], v[1]);
    // five bombs of up to 256 MiB each would add over a GiB if the host kept their memory
    assert!(
        after <= baseline + 64 * 1024,
        "RSS grew from {baseline} KiB to {after} KiB across five memory bombs"
    );
}
