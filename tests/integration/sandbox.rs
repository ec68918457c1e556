//! The sandbox defaults: a component that tries to read a file, read the environment and
//! reach a host off the allow-list is refused each time, with an error naming connector,
//! resource and the rule, and the pipeline's earlier data stays intact.

use crate::support::Area;

const PIPE: &str =
    "name = \"sb\"\ndataset = \"sb\"\n[connector]\nname = \"synthetic\"\n[config]\nrows = 100\n";

fn probe(area: &Area, attempt: &str, extra: &str) -> String {
    let toml = format!(
        "name = \"sb\"\ndataset = \"sb\"\n[connector]\nname = \"probe\"\n[config]\ntry = \"{attempt}\"\n{extra}"
    );
    let err = area
        .run(&toml, ("sandbox_probe", sluice_bundled::SANDBOX_PROBE))
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
fn an_endless_loop_hits_the_call_deadline() {
    let area = Area::new();
    earlier_data(&area);
    let started = std::time::Instant::now();
    let msg = probe(&area, "loop", "[limits]\ncall_timeout_secs = 1\n");
    assert!(
        msg.contains("`sandbox_probe`")
            && msg.contains("`probe`")
            && msg.contains("1000 ms time limit"),
        "{msg}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    intact(&area);
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
    // a run that would take far longer than its budget stops at the budget
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
    // a checkpoint above the state limit is refused, naming resource, page and limit
    let err = area
        .run(&toml(1000, "max_state_kb = 0"), c)
        .expect_err("state size");
    let msg = err.to_string();
    assert!(
        msg.contains("`events` page 0") && msg.contains("state size limit"),
        "{msg}"
    );
    assert_eq!(area.count("select count(*) from lim.events"), 1000);
}
