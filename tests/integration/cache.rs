//! Components compile once: the second load of the same bytes comes from the disk cache.

use sluice_host::Host;

#[test]
fn second_load_does_not_recompile() {
    let dir = tempfile::tempdir().expect("tmp");
    let bytes = sluice_bundled::SYNTHETIC.bytes;
    let first = Host::new(dir.path())
        .expect("host")
        .load("synthetic", bytes)
        .expect("load");
    assert!(!first.from_cache, "a cold cache must compile");
    let cached = Host::new(dir.path()).expect("host");
    assert!(cached.cache_path(bytes).exists());
    let second = cached.load("synthetic", bytes).expect("load");
    assert!(
        second.from_cache,
        "the second load must come from the cache"
    );
    assert_eq!(first.digest, second.digest);
    assert_eq!(first.digest.len(), 64);
}

#[test]
fn corrupt_cache_entry_is_recompiled() {
    let dir = tempfile::tempdir().expect("tmp");
    let bytes = sluice_bundled::HELLO.bytes;
    let host = Host::new(dir.path()).expect("host");
    std::fs::create_dir_all(dir.path()).expect("dir");
    std::fs::write(host.cache_path(bytes), b"not a compiled component").expect("write");
    let c = host.load("hello", bytes).expect("recompiles");
    assert!(!c.from_cache);
}

#[test]
fn inspect_shows_resources_imports_digest_and_cold_start() {
    let area = crate::support::Area::new();
    let b = sluice_bundled::SYNTHETIC;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let i = rt
        .block_on(sluice_pipeline::inspect(
            b.name,
            b.bytes,
            &area.path().join("cache"),
            "{}",
        ))
        .expect("inspect");
    assert_eq!(i.name, "synthetic");
    assert_eq!(i.size_bytes, b.bytes.len());
    let names: Vec<&str> = i
        .resources
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["events", "commit_stats"]);
    assert_eq!(i.resources[1]["parent"], "events");
    assert!(
        i.imports
            .iter()
            .any(|m| m.starts_with("sluice:connector/types")),
        "{:?}",
        i.imports
    );
    // the evil component's extra import is visible before anyone grants anything
    let evil = sluice_bundled::EVIL_IMPORT;
    let err = rt
        .block_on(sluice_pipeline::inspect(
            "evil-import",
            evil,
            &area.path().join("cache"),
            "{}",
        ))
        .expect_err("refused");
    assert!(err.to_string().contains("import"), "{err}");
    // the digest is the component's sha256, as pinned in pipeline files
    let again = rt
        .block_on(sluice_pipeline::inspect(
            b.name,
            b.bytes,
            &area.path().join("cache"),
            "{}",
        ))
        .expect("inspect");
    assert_eq!(again.digest, i.digest);
    assert_eq!(
        again.compile_ms, 0.0,
        "the second inspect loads from the cache"
    );
    assert!(i.config_schema["properties"]["rows"].is_object());
}
