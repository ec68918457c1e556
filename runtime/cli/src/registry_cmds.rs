//! `sluice connector publish | add | update | sign | keygen`, and `inspect oci://…`: the
//! command-line edge of `sluice-registry`. Credentials come from the environment and are
//! never printed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sluice_registry::{Manifest, Reference, Verdict};

use sluice_cli::component::{cache, credentials, lock_file, trust_with};
use sluice_cli::data_dir;

/// The interfaces `bytes` imports, read by loading it (never taken from its manifest).
fn imports(name: &str, bytes: &[u8]) -> Result<Vec<String>> {
    let host = sluice_host::Host::new(&data_dir().join("cache").join("components"))?;
    Ok(host.load(name, bytes)?.imports.clone())
}

/// `sluice connector publish X.wasm oci://…:TAG [--manifest M.toml]`.
pub fn publish(component: &Path, reference: &str, manifest: Option<&Path>) -> Result<()> {
    let reference = Reference::parse(reference)?;
    let bytes =
        std::fs::read(component).with_context(|| format!("reading `{}`", component.display()))?;
    let declared = match manifest {
        Some(p) => Manifest::from_toml(&std::fs::read_to_string(p).with_context(|| format!("reading `{}`", p.display()))?)?,
        None => sluice_registry::manifest::read_section(&bytes)?.with_context(|| {
            format!("`{}` carries no manifest: pass --manifest FILE (TOML: name, version, resources, hosts, secrets, directories, databases, buckets)", component.display())
        })?,
    };
    let name = declared.name.clone();
    let manifest = declared.with_imports(imports(&name, &bytes)?)?;
    let p = sluice_registry::publish(&bytes, &manifest, &reference, credentials())?;
    println!(
        "published {} ({}@{})",
        p.reference, manifest.name, manifest.version
    );
    println!("  component {}", p.digest);
    println!("  manifest  {}", p.manifest_digest);
    Ok(())
}

/// `sluice connector add oci://…`.
pub fn add(
    reference: &str,
    pipeline: Option<&Path>,
    keys: &[PathBuf],
    allow_unsigned: bool,
) -> Result<()> {
    let reference = Reference::parse(reference)?;
    let spec = match pipeline {
        Some(p) => Some(sluice_pipeline::PipelineSpec::from_file(p, &[])?),
        None => None,
    };
    let lock = spec
        .as_ref()
        .map_or_else(|| PathBuf::from("sluice.lock"), lock_file);
    let trust = trust_with(spec.as_ref(), keys, allow_unsigned)?;
    let creds = match &spec {
        Some(s) => sluice_cli::component::credentials_for(s)?,
        None => credentials(),
    };
    let locked = sluice_registry::add(&reference, &lock, &cache(&data_dir()), creds, &trust)?;
    println!("added {} to {}", locked.reference, lock.display());
    println!("  component {}", locked.digest);
    println!("  signer    {}", locked.signer);
    print_manifest(&locked.capabilities);
    Ok(())
}

/// `sluice connector update PIPELINE.toml [--accept]`.
pub fn update(pipeline_file: &Path, accept: bool) -> Result<()> {
    let spec = sluice_pipeline::PipelineSpec::from_file(pipeline_file, &[])?;
    let Some(oci) = &spec.connector.oci else {
        bail!(
            "`{}` names no `connector.oci` to update",
            pipeline_file.display()
        );
    };
    let reference = Reference::parse(oci)?;
    let trust = trust_with(Some(&spec), &[], false)?;
    let granted = sluice_cli::component::granted(&spec);
    let u = sluice_registry::update(
        &reference,
        &lock_file(&spec),
        &cache(&data_dir()),
        sluice_cli::component::credentials_for(&spec)?,
        &trust,
        accept,
        &granted,
    )?;
    if u.before.digest == u.after.digest {
        println!("{reference} is up to date ({})", u.after.digest);
        return Ok(());
    }
    println!(
        "{reference}: {}@{} → {}@{}",
        u.before.capabilities.name,
        u.before.capabilities.version,
        u.after.capabilities.name,
        u.after.capabilities.version
    );
    println!("  component {} → {}", u.before.digest, u.after.digest);
    for m in &u.more {
        println!("  + asks for {m}");
    }
    for l in &u.less {
        println!("  - no longer asks for {l}");
    }
    println!("updated {}", lock_file(&spec).display());
    Ok(())
}

/// `sluice connector sign oci://… --key K.key`.
pub fn sign(reference: &str, key: &Path) -> Result<()> {
    let reference = Reference::parse(reference)?;
    let pem = std::fs::read_to_string(key)
        .with_context(|| format!("reading the key `{}`", key.display()))?;
    let (digest, fingerprint) = sluice_registry::sign_published(&reference, &pem, credentials())?;
    println!("signed {reference} ({digest}) with key {fingerprint}");
    Ok(())
}

/// `sluice connector keygen NAME`: NAME.key and NAME.pub, never overwritten.
pub fn keygen(name: &Path) -> Result<()> {
    let private = name.with_extension("key");
    let public = name.with_extension("pub");
    for p in [&private, &public] {
        if p.exists() {
            bail!("`{}` exists; keys are never overwritten", p.display());
        }
    }
    let (key, pubkey) = sluice_registry::generate_key()?;
    write_private(&private, &key)?;
    std::fs::write(&public, &pubkey).with_context(|| format!("writing `{}`", public.display()))?;
    let fingerprint = sluice_registry::PublicKey::from_pem(&pubkey)?.fingerprint;
    println!(
        "wrote {} (keep it secret) and {} ({fingerprint})",
        private.display(),
        public.display()
    );
    Ok(())
}

/// Write a private key readable by its owner only.
fn write_private(path: &Path, key: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing `{}`", path.display()))?;
    f.write_all(key.as_bytes())
        .with_context(|| format!("writing `{}`", path.display()))
}

/// `sluice connector inspect oci://…`: pull without adding; show the manifest, signature
/// and what the component itself says.
pub fn inspect_remote(reference: &str, config: &str, json: bool) -> Result<()> {
    let reference = Reference::parse(reference)?;
    let pulled = sluice_registry::pull(
        &reference,
        credentials(),
        &sluice_registry::Trust::default(),
    )?;
    let cache_dir = data_dir().join("cache").join("components");
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let i = rt.block_on(sluice_pipeline::inspect(
        &pulled.manifest.name,
        &pulled.bytes,
        &cache_dir,
        config,
    ))?;
    let signature = match &pulled.verdict {
        Verdict::Unsigned => "unsigned".to_owned(),
        Verdict::Untrusted | Verdict::Trusted(_) => {
            "signed (`connector add --trusted-key` checks by whom)".to_owned()
        }
    };
    if json {
        let v = serde_json::json!({
            "reference": reference.to_string(), "digest": pulled.digest,
            "manifest_digest": pulled.manifest_digest, "signature": signature,
            "manifest": pulled.manifest, "inspection": i,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("{reference}");
    println!("  component {}", pulled.digest);
    println!("  manifest  {}", pulled.manifest_digest);
    println!("  signature {signature}");
    print_manifest(&pulled.manifest);
    if let Some(e) = &i.spec_error {
        println!("resources: not described for this config ({e}); pass --config");
    }
    for r in &i.resources {
        println!(
            "  resource {} → table `{}`",
            r["name"].as_str().unwrap_or_default(),
            r["table"].as_str().unwrap_or_default()
        );
    }
    Ok(())
}

/// What a manifest asks for, one kind per line.
pub(crate) fn print_manifest(m: &Manifest) {
    println!("  {}@{} asks for:", m.name, m.version);
    for (kind, list) in [
        ("imports", &m.imports),
        ("resources", &m.resources),
        ("hosts", &m.hosts),
        ("secrets", &m.secrets),
        ("directories", &m.directories),
        ("databases", &m.databases),
        ("buckets", &m.buckets),
    ] {
        let shown = if list.iter().any(|x| x == "*") {
            "any the pipeline grants".to_owned()
        } else if list.is_empty() {
            "none".to_owned()
        } else {
            list.join(", ")
        };
        println!("    {kind:<12} {shown}");
    }
}

/// `sluice connector search oci://REGISTRY[/NAMESPACE]`.
pub fn search(registry: &str) -> Result<()> {
    let rest = registry
        .strip_prefix("oci://")
        .with_context(|| format!("`{registry}` is not oci://REGISTRY[/NAMESPACE]"))?;
    let (host, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let found = sluice_registry::search(host, prefix, credentials())?;
    if found.is_empty() {
        println!("no connectors under {registry}");
    }
    for (repo, tags) in found {
        println!("oci://{host}/{repo}  tags: {}", tags.join(", "));
    }
    Ok(())
}
