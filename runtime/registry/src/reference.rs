//! `oci://REGISTRY/NAMESPACE/NAME:TAG` (or `@sha256:…`): where a connector is published.
//! Plain HTTP is used only for a loopback registry; every other one is HTTPS.

use crate::{RegistryError, Result};

/// A parsed reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`
    pub registry: String,
    /// `namespace/name` (lower case, `/`-separated)
    pub repository: String,
    /// the tag, or `None` when pinned by digest
    pub tag: Option<String>,
    /// `sha256:<hex>` of the manifest, when the reference names one
    pub digest: Option<String>,
}

impl Reference {
    /// Parse `oci://host[:port]/repo[:tag][@sha256:hex]` (tag `latest` when neither is given).
    pub fn parse(text: &str) -> Result<Reference> {
        let bad = |why: &str| {
            RegistryError::Invalid(format!("`{text}` is not an oci:// reference: {why}"))
        };
        let rest = text
            .strip_prefix("oci://")
            .ok_or_else(|| bad("it must start with oci://"))?;
        let (registry, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("no repository after the registry"))?;
        if registry.is_empty() || registry.contains(['@', '?', '#']) {
            return Err(bad("no registry host"));
        }
        let (path, digest) = match path.split_once('@') {
            Some((p, d)) => (p, Some(d.to_owned())),
            None => (path, None),
        };
        if let Some(d) = &digest
            && !is_digest(d)
        {
            return Err(bad("a digest is sha256: and 64 hex digits"));
        }
        // a tag follows the last `:` after the last `/`
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t.to_owned())),
            _ => (path, None),
        };
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
                && c != "."
                && c != ".."
        };
        if !repository.split('/').all(component_ok) {
            return Err(bad(
                "repository parts are lower-case letters, digits, `.`, `_`, `-`",
            ));
        }
        if let Some(t) = &tag
            && (t.is_empty()
                || t.len() > 128
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
        {
            return Err(bad("a tag is letters, digits, `.`, `_`, `-`"));
        }
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_owned())
        } else {
            tag
        };
        Ok(Reference {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag,
            digest,
        })
    }

    /// The tag or digest a manifest is asked for by.
    pub fn target(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// Whether the registry is on this machine (`127.0.0.0/8`, `::1`, `localhost`).
    pub fn is_loopback(&self) -> bool {
        let host = match self.registry.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
            _ => self.registry.as_str(),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// `http://` for a loopback registry, `https://` for any other.
    pub fn base_url(&self) -> String {
        let scheme = if self.is_loopback() { "http" } else { "https" };
        format!("{scheme}://{}", self.registry)
    }

    /// The same repository at `tag`.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        }
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "oci://{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Whether `d` is `sha256:` and 64 lower-case hex digits.
pub fn is_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_only_loopback_is_plain_http() {
        let r = Reference::parse("oci://127.0.0.1:5000/sluice/hello:1.0").expect("parses");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "sluice/hello");
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert_eq!(r.base_url(), "http://127.0.0.1:5000");
        assert_eq!(r.to_string(), "oci://127.0.0.1:5000/sluice/hello:1.0");
        let r = Reference::parse("oci://ghcr.io/acme/conn").expect("parses");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.base_url(), "https://ghcr.io");
        assert!(
            Reference::parse("oci://localhost:5000/a/b:x")
                .expect("p")
                .is_loopback()
        );
        assert!(
            Reference::parse("oci://[::1]:5000/a/b:x")
                .expect("p")
                .is_loopback()
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("oci://h/a/b@{d}")).expect("digest");
        assert_eq!(r.target(), d);
        for bad in [
            "http://h/a",
            "oci://h",
            "oci://h/A/b",
            "oci://h/a/../b",
            "oci://h/a@sha256:zz",
            "oci:///a",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
