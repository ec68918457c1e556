//! Which component a pipeline runs, from exactly one source: `name` (a bundled connector),
//! `path` (a local file) or `oci` (a registry reference, at the digest `sluice.lock`
//! recorded, from the cache or pulled by that digest; its signer trusted by the pipeline).
//! `digest`, when set, pins the bytes whatever the source. A registry component's manifest
//! must fit the pipeline's grants: what it needs and is not granted stops the run before
//! anything is extracted; what is granted beyond it is warned about.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sluice_pipeline::PipelineSpec;
use sluice_registry::{Cache, Credentials, Granted, Reference, Trust};

/// The component a pipeline runs.
#[derive(Debug)]
pub struct Resolved {
    pub name: String,
    pub bytes: Vec<u8>,
    /// what to print before the run (grants beyond a registry component's manifest)
    pub warnings: Vec<String>,
}

/// The component's name and bytes, and the warnings to print before the run.
pub fn resolve(spec: &PipelineSpec, data_dir: &Path) -> Result<Resolved> {
    let c = &spec.connector;
    let sources = [c.name.is_some(), c.path.is_some(), c.oci.is_some()];
    if sources.iter().filter(|s| **s).count() > 1 {
        bail!(
            "the pipeline names its connector more than once: use one of `connector.name`, `connector.path`, `connector.oci`"
        );
    }
    if let Some(oci) = &c.oci {
        return from_registry(spec, oci, data_dir);
    }
    let component = match (&c.name, &c.path) {
        (_, Some(path)) => (
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::fs::read(path)
                .with_context(|| format!("reading connector `{}`", path.display()))?,
        ),
        (Some(name), None) => {
            let b = sluice_bundled::find(name).with_context(|| {
                format!(
                    "no bundled connector `{name}` (bundled: {})",
                    sluice_bundled::BUNDLED
                        .iter()
                        .map(|b| b.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            (b.name.to_owned(), b.bytes.to_vec())
        }
        (None, None) => bail!(
            "the pipeline names no connector (`connector.name`, `connector.path` or `connector.oci`)"
        ),
    };
    Ok(Resolved {
        name: component.0,
        bytes: component.1,
        warnings: Vec::new(),
    })
}

fn from_registry(spec: &PipelineSpec, oci: &str, data_dir: &Path) -> Result<Resolved> {
    let reference = Reference::parse(oci)?;
    let lock = lock_file(spec);
    let (bytes, locked) = sluice_registry::resolve(
        &reference,
        &lock,
        &cache(data_dir),
        credentials_for(spec)?,
        &trust(spec)?,
    )?;
    let f = sluice_registry::fit(&locked.capabilities, &granted(spec));
    if !f.missing.is_empty() {
        bail!(
            "{reference} needs what the pipeline does not grant: {} (its manifest, as locked in `{}`)",
            f.missing.join(", "),
            lock.display()
        );
    }
    let warnings = f
        .beyond
        .iter()
        .map(|b| format!("the pipeline grants {b}, which {reference} does not declare"))
        .collect();
    Ok(Resolved {
        name: locked.capabilities.name.clone(),
        bytes,
        warnings,
    })
}

/// `sluice.lock` beside the pipeline file (the working directory's for a pipeline built
/// on the command line).
pub fn lock_file(spec: &PipelineSpec) -> PathBuf {
    match &spec.file {
        Some(f) => sluice_registry::lock_path(f),
        None => PathBuf::from("sluice.lock"),
    }
}

/// Where pulled components are kept.
pub fn cache(data_dir: &Path) -> Cache {
    Cache::new(&data_dir.join("cache").join("oci"))
}

/// Registry credentials from `SLUICE_REGISTRY_USER` and `SLUICE_REGISTRY_PASSWORD`.
pub fn credentials() -> Credentials {
    match (
        std::env::var("SLUICE_REGISTRY_USER"),
        std::env::var("SLUICE_REGISTRY_PASSWORD"),
    ) {
        (Ok(user), Ok(password)) => Credentials::Basic { user, password },
        _ => Credentials::Anonymous,
    }
}

/// The pipeline's registry credentials: `registry_user` with the hostless secret
/// `registry_secret`, else the environment's.
pub fn credentials_for(spec: &PipelineSpec) -> Result<Credentials> {
    let c = &spec.connector;
    let Some(name) = &c.registry_secret else {
        return Ok(credentials());
    };
    let password = sluice_pipeline::hostless_secret(spec, "connector.registry_secret", name)
        .map_err(|e| anyhow::anyhow!("pipeline `{}`: {e}", spec.name))?;
    let user = c
        .registry_user
        .clone()
        .or_else(|| std::env::var("SLUICE_REGISTRY_USER").ok())
        .with_context(|| {
            format!(
                "pipeline `{}`: `connector.registry_secret` needs `connector.registry_user`",
                spec.name
            )
        })?;
    Ok(Credentials::Basic { user, password })
}

/// The keys and policy of the pipeline's `[connector]`, plus `extra_keys`.
pub fn trust_with(
    spec: Option<&PipelineSpec>,
    extra_keys: &[PathBuf],
    allow_unsigned: bool,
) -> Result<Trust> {
    let mut keys = Vec::new();
    let files = spec
        .map(|s| s.connector.trusted_keys.clone())
        .unwrap_or_default();
    for k in files.iter().chain(extra_keys) {
        let text = std::fs::read_to_string(k)
            .with_context(|| format!("reading the trusted key `{}`", k.display()))?;
        keys.push(
            sluice_registry::PublicKey::from_pem(&text)
                .with_context(|| format!("the trusted key `{}`", k.display()))?,
        );
    }
    Ok(Trust {
        keys,
        allow_unsigned: allow_unsigned || spec.is_some_and(|s| s.connector.allow_unsigned),
    })
}

fn trust(spec: &PipelineSpec) -> Result<Trust> {
    trust_with(Some(spec), &[], false)
}

/// What the pipeline grants, by kind, for the manifest's fit: hosts by name (the grant's
/// scheme, port and path left out), secrets, directories, databases and buckets by name.
pub fn granted(spec: &PipelineSpec) -> Granted {
    let g = &spec.grants;
    Granted {
        hosts: g.allow_hosts.iter().map(|h| host_of(h)).collect(),
        secrets: spec.secrets.keys().cloned().collect(),
        directories: g
            .allow_read
            .iter()
            .chain(&g.allow_read_files)
            .map(|p| p.display().to_string())
            .collect(),
        databases: g.databases.keys().cloned().collect(),
        buckets: g.buckets.keys().cloned().collect(),
    }
}

/// The host of an allow-list entry (`https://api.example.com:443/v1` → `api.example.com`).
fn host_of(entry: &str) -> String {
    let rest = entry.split_once("://").map_or(entry, |(_, r)| r);
    let host = rest.split('/').next().unwrap_or(rest);
    let host = match host.strip_prefix('[') {
        Some(inner) => inner.split(']').next().unwrap_or(inner),
        None => host.split(':').next().unwrap_or(host),
    };
    host.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_entries_are_compared_by_host() {
        assert_eq!(
            host_of("https://API.example.com:8443/v1"),
            "api.example.com"
        );
        assert_eq!(host_of("api.example.com"), "api.example.com");
        assert_eq!(host_of("http://127.0.0.1:9000"), "127.0.0.1");
        assert_eq!(host_of("http://[::1]:9000/x"), "::1");
        assert_eq!(host_of("[::1]"), "::1");
    }
}
