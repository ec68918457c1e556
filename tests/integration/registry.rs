//! Community connectors from a real OCI registry (Debian's `docker-registry` on loopback):
//! publish then add then run; a tampered blob refused; unsigned and wrongly signed
//! components refused; an upgrade that asks for a new host refused until accepted and
//! granted; runs from the cache when the registry is down; Basic auth.

use std::path::{Path, PathBuf};

use sluice_registry::{Credentials, Manifest, Reference, RegistryError, Trust};

use crate::registry_server::RegistryServer;
use crate::support::Area;

fn manifest(name: &str, hosts: &[&str], imports_of: &[u8]) -> Manifest {
    let host = sluice_host::Host::new(&crate::support::shared_cache()).expect("host");
    let imports = host.load(name, imports_of).expect("loads").imports.clone();
    Manifest {
        name: name.into(),
        version: "1.0.0".into(),
        resources: vec!["events".into()],
        hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        ..Manifest::default()
    }
    .with_imports(imports)
    .expect("the manifest covers the imports")
}

fn publish(r: &str, m: &Manifest, bytes: &[u8]) -> sluice_registry::Published {
    sluice_registry::publish(
        bytes,
        m,
        &Reference::parse(r).expect("ref"),
        Credentials::Anonymous,
    )
    .expect("publishes")
}

/// A key pair in `dir`: (private PEM, public key file).
fn keys(dir: &Path, name: &str) -> (String, PathBuf) {
    let (private, public) = sluice_registry::generate_key().expect("keys");
    let pub_file = dir.join(format!("{name}.pub"));
    std::fs::write(&pub_file, public).expect("write");
    (private, pub_file)
}

/// A pipeline file running `oci` (synthetic's config) that trusts `key`.
fn pipeline_file(dir: &Path, oci: &str, key: Option<&Path>, extra: &str) -> PathBuf {
    let trusted = key.map_or(String::new(), |k| {
        format!("trusted_keys = [{:?}]\n", k.display().to_string())
    });
    let text = format!(
        "name = \"community\"\n[connector]\noci = \"{oci}\"\n{trusted}[config]\nrows = 300\npage_size = 100\n{extra}"
    );
    let path = dir.join("community.toml");
    std::fs::write(&path, text).expect("write");
    path
}

fn trust(key: &Path) -> Trust {
    Trust {
        keys: vec![
            sluice_registry::PublicKey::from_pem(&std::fs::read_to_string(key).expect("key"))
                .expect("pem"),
        ],
        allow_unsigned: false,
    }
}

#[test]
fn a_published_signed_connector_is_added_locked_and_run_then_runs_offline() {
    let mut reg = RegistryServer::start();
    let area = Area::new();
    let data = area.path().join("data");
    let r = reg.reference("community/synthetic:1.0");
    let m = manifest("synthetic", &[], sluice_bundled::SYNTHETIC.bytes);
    let published = publish(&r, &m, sluice_bundled::SYNTHETIC.bytes);
    let reference = Reference::parse(&r).expect("ref");
    let lock = area.path().join("sluice.lock");
    let cache = sluice_cli::component::cache(&data);
    // unsigned: refused unless the pipeline allows it
    let e = sluice_registry::add(
        &reference,
        &lock,
        &cache,
        Credentials::Anonymous,
        &Trust::default(),
    )
    .expect_err("unsigned");
    assert!(e.to_string().contains("is not signed"), "{e}");
    assert!(!lock.exists(), "nothing locked");
    // signed by the publisher's key, which the pipeline trusts
    let (private, public) = keys(area.path(), "publisher");
    let (signed, fingerprint) =
        sluice_registry::sign_published(&reference, &private, Credentials::Anonymous)
            .expect("signs");
    assert_eq!(signed, published.manifest_digest);
    let locked = sluice_registry::add(
        &reference,
        &lock,
        &cache,
        Credentials::Anonymous,
        &trust(&public),
    )
    .expect("adds");
    assert_eq!(locked.signer, fingerprint);
    assert_eq!(locked.digest, published.digest);
    assert_eq!(locked.capabilities, m);
    // found by listing the registry (the signature tag left out)
    let found = sluice_registry::search(
        &format!("127.0.0.1:{}", reg.port),
        "community/",
        Credentials::Anonymous,
    )
    .expect("lists");
    assert_eq!(
        found,
        [("community/synthetic".to_owned(), vec!["1.0".to_owned()])]
    );
    let text = std::fs::read_to_string(&lock).expect("lock");
    assert!(
        text.contains(&published.digest) && text.contains(&r),
        "{text}"
    );
    // the pipeline runs the locked component
    let file = pipeline_file(area.path(), &r, Some(&public), "");
    let run = |area: &Area| {
        let mut spec = sluice_pipeline::PipelineSpec::from_file(&file, &[]).expect("spec");
        spec.destination = format!("duckdb:{}", area.db().display());
        let c = sluice_cli::component::resolve(&spec, &data)?;
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        Ok::<_, anyhow::Error>(area.run_parsed(spec, (&c.name, &c.bytes))?)
    };
    let s = run(&area).expect("runs");
    assert_eq!(s.tables["events"], 300);
    assert!(
        s.component_digest
            .ends_with(published.digest.trim_start_matches("sha256:"))
    );
    // the registry goes down: the cached component still runs
    reg.stop();
    run(&area).expect("runs offline from the cache");
    // without the cache the error names the registry, and nothing is run
    std::fs::remove_dir_all(data.join("cache/oci")).expect("clear the cache");
    let e = format!("{:#}", run(&area).expect_err("no registry, no cache"));
    assert!(
        e.contains(&format!("127.0.0.1:{}", reg.port)) && e.contains("cannot be reached"),
        "{e}"
    );
    // a pipeline that does not trust the signer refuses the locked component
    let other = pipeline_file(area.path(), &r, None, "");
    let spec = sluice_pipeline::PipelineSpec::from_file(&other, &[]).expect("spec");
    let e = sluice_cli::component::resolve(&spec, &data)
        .map(drop)
        .expect_err("untrusted");
    assert!(format!("{e:#}").contains("does not trust"), "{e:#}");
}

#[test]
fn a_tampered_blob_and_a_wrong_signature_are_refused() {
    let reg = RegistryServer::start();
    let area = Area::new();
    let cache = sluice_cli::component::cache(&area.path().join("data"));
    let lock = area.path().join("sluice.lock");
    let m = manifest("synthetic", &[], sluice_bundled::SYNTHETIC.bytes);
    // signed by a key the pipeline does not trust
    let r = reg.reference("community/signed:1");
    publish(&r, &m, sluice_bundled::SYNTHETIC.bytes);
    let reference = Reference::parse(&r).expect("ref");
    let (mallory, _) = keys(area.path(), "mallory");
    let (_, trusted) = keys(area.path(), "publisher");
    sluice_registry::sign_published(&reference, &mallory, Credentials::Anonymous).expect("signs");
    let e = sluice_registry::add(
        &reference,
        &lock,
        &cache,
        Credentials::Anonymous,
        &trust(&trusted),
    )
    .expect_err("wrong key");
    assert!(e.to_string().contains("signed by no trusted key"), "{e}");
    // the component's bytes changed in the registry's storage after publishing
    let r = reg.reference("community/tampered:1");
    let p = publish(&r, &m, sluice_bundled::SYNTHETIC.bytes);
    let blob = reg.blob_file(&p.digest);
    let mut bytes = std::fs::read(&blob).expect("blob");
    let n = bytes.len() / 2;
    bytes[n] ^= 0xff;
    std::fs::write(&blob, bytes).expect("tamper");
    let allow = Trust {
        keys: Vec::new(),
        allow_unsigned: true,
    };
    let e = sluice_registry::add(
        &Reference::parse(&r).expect("ref"),
        &lock,
        &cache,
        Credentials::Anonymous,
        &allow,
    )
    .expect_err("tampered");
    assert!(matches!(e, RegistryError::Digest { .. }), "{e}");
    assert!(!lock.exists(), "nothing locked");
}

#[test]
fn an_upgrade_that_asks_for_a_new_host_is_refused_until_accepted_and_granted() {
    let reg = RegistryServer::start();
    let area = Area::new();
    let data = area.path().join("data");
    let cache = sluice_cli::component::cache(&data);
    let r = reg.reference("acme/rest:stable");
    let reference = Reference::parse(&r).expect("ref");
    let rest = sluice_bundled::REST_API.bytes;
    let v1 = manifest("rest_api", &["api.example.com"], rest);
    publish(&r, &v1, rest);
    let grants = "[grants]\nallow_hosts = [\"https://api.example.com\"]\n";
    let file = pipeline_file(
        area.path(),
        &r,
        None,
        &format!("allow_unsigned = true\n{grants}"),
    );
    // `allow_unsigned` sits in [config] above: put it where it belongs
    let text = std::fs::read_to_string(&file)
        .expect("read")
        .replace("allow_unsigned = true\n", "")
        .replace("[connector]\n", "[connector]\nallow_unsigned = true\n");
    std::fs::write(&file, text).expect("write");
    let spec = sluice_pipeline::PipelineSpec::from_file(&file, &[]).expect("spec");
    let lock = sluice_cli::component::lock_file(&spec);
    let allow = Trust {
        keys: Vec::new(),
        allow_unsigned: true,
    };
    sluice_registry::add(&reference, &lock, &cache, Credentials::Anonymous, &allow)
        .expect("adds v1");
    let c = sluice_cli::component::resolve(&spec, &data).expect("v1 fits");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // v2 asks for another host
    let mut v2 = manifest("rest_api", &["api.example.com", "extra.example.com"], rest);
    v2.version = "2.0.0".into();
    let p2 = publish(&r, &v2, rest);
    let granted = sluice_cli::component::granted(&spec);
    let e = sluice_registry::update(
        &reference,
        &lock,
        &cache,
        Credentials::Anonymous,
        &allow,
        false,
        &granted,
    )
    .expect_err("asks for more");
    match &e {
        RegistryError::AsksForMore { more, .. } => assert_eq!(more, &["host extra.example.com"]),
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("--accept"), "{e}");
    // accepted, but not granted: still refused, naming what is missing
    let e = sluice_registry::update(
        &reference,
        &lock,
        &cache,
        Credentials::Anonymous,
        &allow,
        true,
        &granted,
    )
    .expect_err("not granted");
    assert!(e.to_string().contains("host extra.example.com"), "{e}");
    assert_ne!(
        sluice_registry::Lock::read(&lock).expect("lock").connectors[0].digest,
        p2.digest
    );
    // granted and accepted: the lock moves, and the run uses v2
    let text = std::fs::read_to_string(&file).expect("read").replace(
        "allow_hosts = [\"https://api.example.com\"]",
        "allow_hosts = [\"https://api.example.com\", \"https://extra.example.com\"]",
    );
    std::fs::write(&file, text).expect("write");
    let spec = sluice_pipeline::PipelineSpec::from_file(&file, &[]).expect("spec");
    let u = sluice_registry::update(
        &reference,
        &lock,
        &cache,
        Credentials::Anonymous,
        &allow,
        true,
        &sluice_cli::component::granted(&spec),
    )
    .expect("updates");
    assert_eq!(u.more, ["host extra.example.com"]);
    assert_eq!(u.after.digest, p2.digest);
    let c = sluice_cli::component::resolve(&spec, &data).expect("v2");
    assert_eq!(sluice_registry::sha256_digest(&c.bytes), p2.digest);
    // a pipeline that grants less than the manifest needs does not start; more is a warning
    let fewer = std::fs::read_to_string(&file).expect("read").replace(
        "allow_hosts = [\"https://api.example.com\", \"https://extra.example.com\"]",
        "allow_hosts = [\"https://api.example.com\", \"https://other.example.com\"]",
    );
    std::fs::write(&file, fewer).expect("write");
    let spec = sluice_pipeline::PipelineSpec::from_file(&file, &[]).expect("spec");
    let e = sluice_cli::component::resolve(&spec, &data)
        .map(drop)
        .expect_err("missing host");
    let e = format!("{e:#}");
    assert!(e.contains("does not grant: host extra.example.com"), "{e}");
    let more = std::fs::read_to_string(&file).expect("read").replace(
        "\"https://other.example.com\"]",
        "\"https://extra.example.com\", \"https://other.example.com\"]",
    );
    std::fs::write(&file, more).expect("write");
    let spec = sluice_pipeline::PipelineSpec::from_file(&file, &[]).expect("spec");
    let c = sluice_cli::component::resolve(&spec, &data).expect("fits, with more");
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(
        c.warnings[0].contains("grants host other.example.com"),
        "{:?}",
        c.warnings
    );
}

#[test]
fn a_registry_behind_a_password_takes_it_and_never_shows_it() {
    const PASSWORD: &str = "correct-horse-battery-staple";
    let reg = RegistryServer::with_password("alice", PASSWORD);
    let r = reg.reference("private/synthetic:1");
    let reference = Reference::parse(&r).expect("ref");
    let m = manifest("synthetic", &[], sluice_bundled::SYNTHETIC.bytes);
    let bytes = sluice_bundled::SYNTHETIC.bytes;
    let e = sluice_registry::publish(bytes, &m, &reference, Credentials::Anonymous)
        .expect_err("anonymous");
    assert!(e.to_string().contains("SLUICE_REGISTRY_USER"), "{e}");
    let wrong = Credentials::Basic {
        user: "alice".into(),
        password: "nope-nope".into(),
    };
    let e = sluice_registry::publish(bytes, &m, &reference, wrong).expect_err("wrong password");
    assert!(
        e.to_string().contains("refused the credentials") && !e.to_string().contains("nope-nope"),
        "{e}"
    );
    let alice = Credentials::Basic {
        user: "alice".into(),
        password: PASSWORD.into(),
    };
    let p = sluice_registry::publish(bytes, &m, &reference, alice.clone()).expect("publishes");
    let pulled = sluice_registry::pull(&reference, alice, &Trust::default()).expect("pulls");
    assert_eq!(pulled.digest, p.digest);
    assert_eq!(pulled.manifest, m);
    assert!(
        !format!(
            "{:?}",
            Credentials::Basic {
                user: "a".into(),
                password: PASSWORD.into()
            }
        )
        .contains(PASSWORD)
    );
    // a pipeline names its registry credentials: a user and a secret without a host
    let area = Area::new();
    let data = area.path().join("data");
    let file = area.path().join("private.toml");
    let toml = |host: &str| {
        format!(
            "name = \"private\"\n[connector]\noci = \"{r}\"\nallow_unsigned = true\nregistry_user = \"alice\"\nregistry_secret = \"registry\"\n[secrets.registry]\nvalue = \"{PASSWORD}\"\n{host}"
        )
    };
    std::fs::write(&file, toml("")).expect("write");
    let spec = sluice_pipeline::PipelineSpec::from_file(&file, &[]).expect("spec");
    let creds = sluice_cli::component::credentials_for(&spec).expect("credentials");
    let allow = Trust {
        keys: Vec::new(),
        allow_unsigned: true,
    };
    let lock = sluice_cli::component::lock_file(&spec);
    sluice_registry::add(
        &reference,
        &lock,
        &sluice_cli::component::cache(&data),
        creds,
        &allow,
    )
    .expect("adds with the pipeline's credentials");
    std::fs::remove_dir_all(data.join("cache/oci")).expect("clear the cache");
    let c = sluice_cli::component::resolve(&spec, &data).expect("pulls by digest");
    assert_eq!(sluice_registry::sha256_digest(&c.bytes), p.digest);
    // a registry password must not be a secret a connector's requests could carry
    std::fs::write(&file, toml("host = \"https://api.example.com\"\n")).expect("write");
    let spec = sluice_pipeline::PipelineSpec::from_file(&file, &[]).expect("spec");
    let e = format!(
        "{:#}",
        sluice_cli::component::credentials_for(&spec).expect_err("a host")
    );
    assert!(e.contains("has a `host`") && !e.contains(PASSWORD), "{e}");
}

#[test]
fn a_registry_with_token_auth_issues_a_token_for_the_credentials() {
    const PASSWORD: &str = "token-server-password-42";
    let (reg, tokens) = RegistryServer::with_token("bob", PASSWORD);
    let r = reg.reference("team/synthetic:2");
    let reference = Reference::parse(&r).expect("ref");
    let m = manifest("synthetic", &[], sluice_bundled::SYNTHETIC.bytes);
    let bytes = sluice_bundled::SYNTHETIC.bytes;
    let e = sluice_registry::publish(bytes, &m, &reference, Credentials::Anonymous)
        .expect_err("the token server wants credentials");
    assert!(e.to_string().contains("refused the credentials"), "{e}");
    let wrong = Credentials::Basic {
        user: "bob".into(),
        password: "wrong".into(),
    };
    assert!(sluice_registry::publish(bytes, &m, &reference, wrong).is_err());
    let bob = Credentials::Basic {
        user: "bob".into(),
        password: PASSWORD.into(),
    };
    let p = sluice_registry::publish(bytes, &m, &reference, bob.clone())
        .expect("publishes with a token");
    let pulled =
        sluice_registry::pull(&reference, bob, &Trust::default()).expect("pulls with a token");
    assert_eq!(pulled.digest, p.digest);
    // the token server was asked with the registry's service and the repository's scope
    let asked = tokens.requests();
    assert!(
        asked
            .iter()
            .any(|q| q.param("service") == Some("sluice-test")
                && q.param("scope")
                    .is_some_and(|s| s.starts_with("repository:team/synthetic:"))),
        "{asked:?}"
    );
}
