//! Connectors from OCI registries: `sluice connector publish | add | update | sign`.
//!
//! A connector is published as a Wasm OCI artifact (`artifact.rs`) carrying its manifest
//! (`manifest.rs`: what it may ask for), pulled with every blob checked against its digest,
//! kept in a cache by digest (`cache.rs`) so runs work offline, and recorded in `sluice.lock`
//! (`lock.rs`). Signatures are cosign's (`sign.rs`).
//!
//! **Invariant:** a pipeline runs a registry component only if its bytes have the digest the
//! lock recorded when it was added, and its signer is trusted by the pipeline (or the pipeline
//! allows unsigned components); an update that asks for more than the lock recorded is
//! refused until accepted.

mod artifact;
mod cache;
mod client;
mod lock;
pub mod manifest;
mod reference;
mod sign;

pub use cache::Cache;
pub use client::{Client, Credentials};
pub use lock::{Lock, Locked, lock_path};
pub use manifest::{Fit, Granted, Manifest, fit};
pub use reference::Reference;
pub use sign::{PublicKey, Verdict, generate as generate_key};

/// What went wrong; no message holds a credential.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry {registry} cannot be reached: {reason}")]
    Unreachable { registry: String, reason: String },
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{what} does not match its digest: expected {expected}, got {got}")]
    Digest {
        what: String,
        expected: String,
        got: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Signature(String),
    #[error("{0}")]
    Lock(String),
    #[error("{reference} asks for more than the lock recorded: {}; review it (`sluice connector inspect`), then `sluice connector update --accept`", more.join(", "))]
    AsksForMore {
        reference: String,
        more: Vec<String>,
    },
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(bytes);
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Whom a pipeline trusts to have signed its registry components.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    pub keys: Vec<PublicKey>,
    /// run components that are unsigned or signed by no trusted key
    pub allow_unsigned: bool,
}

impl Trust {
    /// The signer to record for `verdict`, or why it is refused.
    fn admit(&self, reference: &Reference, verdict: &Verdict) -> Result<String> {
        match verdict {
            Verdict::Trusted(fingerprint) => Ok(fingerprint.clone()),
            _ if self.allow_unsigned => Ok("unsigned".into()),
            Verdict::Unsigned => Err(RegistryError::Signature(format!(
                "{reference} is not signed; trust its publisher's key (`trusted_keys`) or allow unsigned components (`allow_unsigned = true`)"
            ))),
            Verdict::Untrusted => Err(RegistryError::Signature(format!(
                "{reference} is signed by no trusted key (or its signature does not match)"
            ))),
        }
    }

    /// Whether a lock entry's recorded signer is acceptable now.
    fn accepts(&self, locked: &Locked) -> Result<()> {
        if self.allow_unsigned || self.keys.iter().any(|k| k.fingerprint == locked.signer) {
            return Ok(());
        }
        if locked.signer == "unsigned" {
            return Err(RegistryError::Signature(format!(
                "{} was added unsigned, and the pipeline does not allow unsigned components \
                 (`allow_unsigned = true`, or trust a key that signed it and add it again)",
                locked.reference
            )));
        }
        Err(RegistryError::Signature(format!(
            "{} was locked as signed by `{}`, which the pipeline does not trust",
            locked.reference, locked.signer
        )))
    }
}

/// A published artifact.
#[derive(Clone, Debug)]
pub struct Published {
    pub reference: String,
    pub digest: String,
    pub manifest_digest: String,
}

/// Publish `component` with `manifest` (its imports already read from the binary) at
/// `reference`: the manifest goes into the component and the artifact's config.
pub fn publish(
    component: &[u8],
    manifest: &Manifest,
    reference: &Reference,
    credentials: Credentials,
) -> Result<Published> {
    let tag = reference
        .tag
        .as_deref()
        .ok_or_else(|| RegistryError::Invalid("publish to a tag (`…:1.0`), not a digest".into()))?;
    let bytes = manifest::write_section(component, manifest)?;
    let client = Client::new(reference, credentials)?;
    let repo = &reference.repository;
    let layer = client.push_blob(repo, &bytes)?;
    let config = artifact::config(manifest, &layer);
    let config_digest = client.push_blob(repo, &config)?;
    let title = format!("{}.wasm", manifest.name);
    let image = artifact::image_manifest(
        (&config_digest, config.len()),
        (&layer, bytes.len()),
        &title,
    );
    let manifest_digest = client.push_manifest(repo, tag, &image)?;
    Ok(Published {
        reference: reference.to_string(),
        digest: layer,
        manifest_digest,
    })
}

/// Sign what `reference` names now with the private key PEM `key`; the key's fingerprint.
pub fn sign_published(
    reference: &Reference,
    key: &str,
    credentials: Credentials,
) -> Result<(String, String)> {
    let client = Client::new(reference, credentials)?;
    let (_, digest) = client.get_manifest(&reference.repository, reference.target())?;
    let fingerprint = sign::sign(&client, reference, &digest, key)?;
    Ok((digest, fingerprint))
}

/// The connectors a registry lists under `prefix` (`namespace/`), each with its tags,
/// leaving out cosign's signature tags.
pub fn search(
    registry: &str,
    prefix: &str,
    credentials: Credentials,
) -> Result<Vec<(String, Vec<String>)>> {
    let probe = Reference::parse(&format!("oci://{registry}/x"))?;
    let client = Client::new(&probe, credentials)?;
    let mut out = Vec::new();
    for repo in client
        .catalog()?
        .into_iter()
        .filter(|r| r.starts_with(prefix))
    {
        let tags: Vec<String> = client
            .tags(&repo)?
            .into_iter()
            .filter(|t| !t.ends_with(".sig"))
            .collect();
        if !tags.is_empty() {
            out.push((repo, tags));
        }
    }
    Ok(out)
}

/// A component pulled and checked: every blob against its digest, the component's own
/// manifest against the config's, the signature against the trusted keys.
#[derive(Clone, Debug)]
pub struct Pulled {
    pub reference: Reference,
    pub digest: String,
    pub manifest_digest: String,
    pub manifest: Manifest,
    pub verdict: Verdict,
    pub bytes: Vec<u8>,
}

impl Pulled {
    /// The lock entry of this pull, signed by `signer`.
    fn locked(self, signer: String) -> Locked {
        Locked {
            reference: self.reference.to_string(),
            digest: self.digest,
            manifest_digest: self.manifest_digest,
            signer,
            capabilities: self.manifest,
        }
    }
}

/// Pull what `reference` names.
pub fn pull(reference: &Reference, credentials: Credentials, trust: &Trust) -> Result<Pulled> {
    let client = Client::new(reference, credentials)?;
    let repo = &reference.repository;
    let (image, manifest_digest) = client.get_manifest(repo, reference.target())?;
    let (config_digest, layer_digest) = artifact::parts(&image)?;
    let config = client.get_blob(repo, &config_digest)?;
    let declared = artifact::manifest_of_config(&config)?;
    let bytes = client.get_blob(repo, &layer_digest)?;
    let carried = manifest::read_section(&bytes)?;
    if carried.as_ref() != Some(&declared) {
        return Err(RegistryError::Invalid(format!(
            "{reference}: the component's own manifest and the artifact's config disagree"
        )));
    }
    let verdict = sign::verify(&client, reference, &manifest_digest, &trust.keys)?;
    Ok(Pulled {
        reference: reference.clone(),
        digest: layer_digest,
        manifest_digest,
        manifest: declared,
        verdict,
        bytes,
    })
}

/// `sluice connector add`: pull `reference`, admit its signer, cache it, lock it.
pub fn add(
    reference: &Reference,
    lock_file: &std::path::Path,
    cache: &Cache,
    credentials: Credentials,
    trust: &Trust,
) -> Result<Locked> {
    let pulled = pull(reference, credentials, trust)?;
    let signer = trust.admit(reference, &pulled.verdict)?;
    cache.put(&pulled.digest, &pulled.bytes)?;
    let entry = pulled.locked(signer);
    let mut lock = Lock::read(lock_file)?;
    lock.set(entry.clone());
    lock.write(lock_file)?;
    Ok(entry)
}

/// The component a pipeline's `oci` reference runs: the locked digest, from the cache, or
/// pulled by the locked manifest digest when the cache lacks it.
pub fn resolve(
    reference: &Reference,
    lock_file: &std::path::Path,
    cache: &Cache,
    credentials: Credentials,
    trust: &Trust,
) -> Result<(Vec<u8>, Locked)> {
    let lock = Lock::read(lock_file)?;
    let locked = lock.get(&reference.to_string()).cloned().ok_or_else(|| {
        RegistryError::Lock(format!(
            "`{}` has no entry for {reference}: review it (`sluice connector inspect {reference}`) and add it (`sluice connector add {reference}`)",
            lock_file.display()
        ))
    })?;
    trust.accepts(&locked)?;
    if let Some(bytes) = cache.get(&locked.digest)? {
        return Ok((bytes, locked));
    }
    let pinned = Reference {
        digest: Some(locked.manifest_digest.clone()),
        tag: None,
        ..reference.clone()
    };
    let pulled = pull(&pinned, credentials, trust)?;
    if pulled.digest != locked.digest {
        return Err(RegistryError::Digest {
            what: format!("{reference}'s component"),
            expected: locked.digest,
            got: pulled.digest,
        });
    }
    cache.put(&pulled.digest, &pulled.bytes)?;
    Ok((pulled.bytes, locked))
}

/// What `sluice connector update` found.
#[derive(Clone, Debug)]
pub struct Update {
    pub before: Locked,
    pub after: Locked,
    /// capabilities the new version asks for that the lock did not record
    pub more: Vec<String>,
    /// capabilities it no longer asks for
    pub less: Vec<String>,
}

/// Pull what `reference`'s tag names now and move the lock to it; a version that asks for
/// more than the lock recorded is refused unless `accept`, and then only when `granted`
/// covers what it needs.
pub fn update(
    reference: &Reference,
    lock_file: &std::path::Path,
    cache: &Cache,
    credentials: Credentials,
    trust: &Trust,
    accept: bool,
    granted: &Granted,
) -> Result<Update> {
    let mut lock = Lock::read(lock_file)?;
    let before = lock.get(&reference.to_string()).cloned().ok_or_else(|| {
        RegistryError::Lock(format!(
            "`{}` has no entry for {reference} to update (`sluice connector add` it)",
            lock_file.display()
        ))
    })?;
    let pulled = pull(reference, credentials, trust)?;
    let signer = trust.admit(reference, &pulled.verdict)?;
    let more = pulled.manifest.more_than(&before.capabilities);
    let less = pulled.manifest.less_than(&before.capabilities);
    if !more.is_empty() && !accept {
        return Err(RegistryError::AsksForMore {
            reference: reference.to_string(),
            more,
        });
    }
    let f = fit(&pulled.manifest, granted);
    if !f.missing.is_empty() {
        return Err(RegistryError::Denied(format!(
            "{reference}: the pipeline does not grant what the new version needs: {}",
            f.missing.join(", ")
        )));
    }
    cache.put(&pulled.digest, &pulled.bytes)?;
    let after = pulled.locked(signer);
    lock.set(after.clone());
    lock.write(lock_file)?;
    Ok(Update {
        before,
        after,
        more,
        less,
    })
}
