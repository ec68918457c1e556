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
