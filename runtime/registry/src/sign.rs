//! Signatures in cosign's format, so `cosign verify --key` checks Sluice's and Sluice checks
//! cosign's: an ECDSA P-256 / SHA-256 signature over cosign's "simple signing" payload (which
//! names the repository and the manifest's digest), pushed as an OCI manifest at tag
//! `sha256-<hex>.sig` — cosign's tag scheme, which needs no referrers API (Debian's
//! Distribution 2.8 has none). Keys are PEM: a PKCS#8 private key, a SubjectPublicKeyInfo
//! public key (cosign's `cosign.pub` format). Verification is offline against trusted keys.

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};

use crate::client::Client;
use crate::reference::Reference;
use crate::{RegistryError, Result, sha256_digest};

const PAYLOAD_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The DER prefix of a P-256 SubjectPublicKeyInfo before the 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn unpem(label: &str, text: &str) -> Result<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = text
        .split_once(&begin)
        .and_then(|(_, rest)| rest.split_once(&end))
        .map(|(b, _)| b)
        .ok_or_else(|| RegistryError::Signature(format!("not a PEM `{label}`")))?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| RegistryError::Signature(format!("the PEM `{label}` is not base64")))
}

/// A new key pair: (private key PEM, public key PEM).
pub fn generate() -> Result<(String, String)> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        .map_err(|_| RegistryError::Signature("generating a key failed".into()))?;
    let pair = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        pkcs8.as_ref(),
        &rng,
    )
    .map_err(|_| RegistryError::Signature("the new key does not load".into()))?;
    let mut spki = P256_SPKI_PREFIX.to_vec();
    spki.extend_from_slice(pair.public_key().as_ref());
    Ok((pem("PRIVATE KEY", pkcs8.as_ref()), pem("PUBLIC KEY", &spki)))
}

/// A trusted public key.
#[derive(Clone, Debug)]
pub struct PublicKey {
    point: Vec<u8>,
    /// `sha256:` of the key's SubjectPublicKeyInfo
    pub fingerprint: String,
}

impl PublicKey {
    /// Read a P-256 public key PEM (`-----BEGIN PUBLIC KEY-----`, as `cosign.pub`).
    pub fn from_pem(text: &str) -> Result<PublicKey> {
        let der = unpem("PUBLIC KEY", text)?;
        let point = der
            .strip_prefix(&P256_SPKI_PREFIX[..])
            .filter(|p| p.len() == 65)
            .ok_or_else(|| {
                RegistryError::Signature("the public key is not an ECDSA P-256 key".into())
            })?;
        Ok(PublicKey {
            point: point.to_vec(),
            fingerprint: sha256_digest(&der),
        })
    }

    fn verifies(&self, payload: &[u8], sig: &[u8]) -> bool {
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &self.point)
            .verify(payload, sig)
            .is_ok()
    }
}

/// cosign's simple-signing payload for manifest `digest` of `reference`'s repository.
fn payload(reference: &Reference, digest: &str) -> Vec<u8> {
    let v = json!({
        "critical": {
            "identity": {"docker-reference": format!("{}/{}", reference.registry, reference.repository)},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": null,
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// The tag cosign keeps the signatures of manifest `digest` under.
pub fn signature_tag(digest: &str) -> String {
    digest.replace(':', "-") + ".sig"
}

/// Sign manifest `digest` of `reference` with the private key PEM `key` and push the
/// signature (added to those already there); returns the key's fingerprint.
pub fn sign(client: &Client, reference: &Reference, digest: &str, key: &str) -> Result<String> {
    let rng = SystemRandom::new();
    let der = unpem("PRIVATE KEY", key)?;
    let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &der, &rng)
        .map_err(|_| {
            RegistryError::Signature(
                "the private key is not an unencrypted PKCS#8 P-256 key".into(),
            )
        })?;
    let body = payload(reference, digest);
    let sig = pair
        .sign(&rng, &body)
        .map_err(|_| RegistryError::Signature("signing failed".into()))?;
    let sig_b64 = base64::engine::general_purpose::STANDARD.encode(sig.as_ref());
    let repo = &reference.repository;
    let payload_digest = client.push_blob(repo, &body)?;
    let mut layers: Vec<Value> = existing_layers(client, repo, digest)?;
    layers.retain(|l| l["annotations"][SIGNATURE_ANNOTATION] != sig_b64.as_str());
    layers.push(json!({
        "mediaType": PAYLOAD_TYPE,
        "size": body.len(),
        "digest": payload_digest,
        "annotations": {SIGNATURE_ANNOTATION: sig_b64},
    }));
    let diff_ids: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "", "config": {}, "created": "0001-01-01T00:00:00Z", "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap_or_default();
    let config_digest = client.push_blob(repo, &config)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": crate::artifact::MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": config_digest},
        "layers": layers,
    }))
    .unwrap_or_default();
    client.push_manifest(repo, &signature_tag(digest), &manifest)?;
    let mut spki = P256_SPKI_PREFIX.to_vec();
    spki.extend_from_slice(pair.public_key().as_ref());
    Ok(sha256_digest(&spki))
}

/// The signature layers already pushed for `digest` (none when there is no signature tag).
fn existing_layers(client: &Client, repo: &str, digest: &str) -> Result<Vec<Value>> {
    match client.get_manifest(repo, &signature_tag(digest)) {
        Ok((bytes, _)) => {
            let m: Value = serde_json::from_slice(&bytes).map_err(|_| {
                RegistryError::Signature("the signature manifest is not JSON".into())
            })?;
            Ok(m["layers"].as_array().cloned().unwrap_or_default())
        }
        Err(RegistryError::NotFound(_)) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// What checking a manifest's signatures found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// signed by the trusted key with this fingerprint
    Trusted(String),
    /// signed, but by no trusted key (or the signature does not match)
    Untrusted,
    Unsigned,
}

/// Check the signatures of manifest `digest` of `reference` against `keys`.
pub fn verify(
    client: &Client,
    reference: &Reference,
    digest: &str,
    keys: &[PublicKey],
) -> Result<Verdict> {
    let layers = existing_layers(client, &reference.repository, digest)?;
    if layers.is_empty() {
        return Ok(Verdict::Unsigned);
    }
    let identity = format!("{}/{}", reference.registry, reference.repository);
    for l in &layers {
        let (Some(sig_b64), Some(pd)) = (
            l["annotations"][SIGNATURE_ANNOTATION].as_str(),
            l["digest"].as_str(),
        ) else {
            continue;
        };
        let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(sig_b64) else {
            continue;
        };
        let body = client.get_blob(&reference.repository, pd)?;
        let Ok(p) = serde_json::from_slice::<Value>(&body) else {
            continue;
        };
        // the payload must name this manifest, in this repository
        if p["critical"]["image"]["docker-manifest-digest"] != digest
            || p["critical"]["identity"]["docker-reference"] != identity.as_str()
        {
            continue;
        }
        if let Some(k) = keys.iter().find(|k| k.verifies(&body, &sig)) {
            return Ok(Verdict::Trusted(k.fingerprint.clone()));
        }
    }
    Ok(Verdict::Untrusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_signs_what_its_public_key_verifies() {
        let (private, public) = generate().expect("keys");
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
        let key = PublicKey::from_pem(&public).expect("public key");
        let der = unpem("PRIVATE KEY", &private).expect("der");
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &der, &rng)
            .expect("pair");
        let sig = pair.sign(&rng, b"payload").expect("sign");
        assert!(key.verifies(b"payload", sig.as_ref()));
        assert!(!key.verifies(b"other", sig.as_ref()));
        let (_, other) = generate().expect("keys");
        assert!(
            !PublicKey::from_pem(&other)
                .expect("k")
                .verifies(b"payload", sig.as_ref())
        );
        assert!(
            PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
        assert_eq!(signature_tag("sha256:ab"), "sha256-ab.sig");
    }
}
