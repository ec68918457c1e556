//! What a connector may ask for, declared by its author and carried by the component (a
//! `sluice-manifest` custom section, JSON) and repeated in the artifact's config: the
//! interfaces it imports (read from the binary at publish, never taken from the author),
//! its resources, and the grants it needs — hosts, secrets, directories, databases,
//! buckets — each a list of names, or `["*"]` for "whatever the pipeline grants" (as
//! `rest_api`, whose hosts come from its config).

use serde::{Deserialize, Serialize};

use crate::{RegistryError, Result};

/// The name of the custom section a component carries its manifest in.
pub const SECTION: &str = "sluice-manifest";

/// A connector's declared capabilities.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    /// interfaces the component imports (set from the binary)
    #[serde(default)]
    pub imports: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default)]
    pub directories: Vec<String>,
    #[serde(default)]
    pub databases: Vec<String>,
    #[serde(default)]
    pub buckets: Vec<String>,
}

/// One kind of capability: its name and the manifest's list.
type Kinds<'a> = [(&'static str, &'a [String]); 7];

impl Manifest {
    /// Parse an author's manifest file (TOML).
    pub fn from_toml(text: &str) -> Result<Manifest> {
        toml::from_str(text).map_err(|e| RegistryError::Invalid(format!("the manifest: {e}")))
    }

    fn kinds(&self) -> Kinds<'_> {
        [
            ("import", &self.imports),
            ("resource", &self.resources),
            ("host", &self.hosts),
            ("secret", &self.secrets),
            ("directory", &self.directories),
            ("database", &self.databases),
            ("bucket", &self.buckets),
        ]
    }

    /// What `self` asks for that `before` did not (`kind name` each): new imports, hosts,
    /// secrets, directories, databases, buckets, resources.
    pub fn more_than(&self, before: &Manifest) -> Vec<String> {
        let mut out = Vec::new();
        for ((kind, now), (_, was)) in self.kinds().iter().zip(before.kinds().iter()) {
            // a grant kind asked as "whatever the pipeline grants" already covers any name
            let any_before =
                was.iter().any(|w| w == "*") && !matches!(*kind, "import" | "resource");
            let covered = |n: &String| any_before || was.contains(n);
            out.extend(
                now.iter()
                    .filter(|n| !covered(n))
                    .map(|n| format!("{kind} {n}")),
            );
        }
        out
    }

    /// What `self` no longer asks for that `before` did.
    pub fn less_than(&self, before: &Manifest) -> Vec<String> {
        before.more_than(self)
    }

    /// Check the imports the binary has against what the manifest declares: an import of
    /// `http` needs hosts, of `sql` databases, of `objects` buckets. The manifest's imports
    /// become the binary's.
    pub fn with_imports(mut self, imports: Vec<String>) -> Result<Manifest> {
        let uses = |needle: &str| imports.iter().any(|i| i.contains(needle));
        for (iface, kind, list) in [
            ("/http", "hosts", &self.hosts),
            ("/sql", "databases", &self.databases),
            ("/objects", "buckets", &self.buckets),
        ] {
            if uses(iface) && list.is_empty() {
                return Err(RegistryError::Invalid(format!(
                    "the component imports `{}` but the manifest declares no {kind} (list them, or `[\"*\"]` for what the pipeline grants)",
                    imports
                        .iter()
                        .find(|i| i.contains(iface))
                        .map_or("", String::as_str)
                )));
            }
        }
        self.imports = imports;
        Ok(self)
    }
}

/// What a pipeline grants, by kind, for [`fit`].
#[derive(Clone, Debug, Default)]
pub struct Granted {
    pub hosts: Vec<String>,
    pub secrets: Vec<String>,
    pub directories: Vec<String>,
    pub databases: Vec<String>,
    pub buckets: Vec<String>,
}

/// How grants fit a manifest: what it needs that is not granted (the run must not start),
/// and what is granted beyond what it declares (a warning).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fit {
    pub missing: Vec<String>,
    pub beyond: Vec<String>,
}

/// Compare `granted` with `manifest`.
pub fn fit(manifest: &Manifest, granted: &Granted) -> Fit {
    let mut f = Fit::default();
    for (kind, declared, given) in [
        ("host", &manifest.hosts, &granted.hosts),
        ("secret", &manifest.secrets, &granted.secrets),
        ("directory", &manifest.directories, &granted.directories),
        ("database", &manifest.databases, &granted.databases),
        ("bucket", &manifest.buckets, &granted.buckets),
    ] {
        let any = declared.iter().any(|d| d == "*");
        for d in declared.iter().filter(|d| *d != "*") {
            if !given.iter().any(|g| g == d) {
                f.missing.push(format!("{kind} {d}"));
            }
        }
        if !any {
            for g in given.iter().filter(|g| !declared.contains(g)) {
                f.beyond.push(format!("{kind} {g}"));
            }
        }
    }
    f
}

/// The manifest a component carries in its `sluice-manifest` custom section, if any.
pub fn read_section(component: &[u8]) -> Result<Option<Manifest>> {
    let Some(payload) = custom_section(component, SECTION)? else {
        return Ok(None);
    };
    serde_json::from_slice(payload)
        .map(Some)
        .map_err(|e| RegistryError::Invalid(format!("the component's `{SECTION}` section: {e}")))
}

/// `component` with `manifest` as its `sluice-manifest` custom section (replacing one).
pub fn write_section(component: &[u8], manifest: &Manifest) -> Result<Vec<u8>> {
    let mut out = without_section(component, SECTION)?;
    let payload =
        serde_json::to_vec(manifest).map_err(|e| RegistryError::Invalid(e.to_string()))?;
    let mut body = Vec::new();
    leb128(&mut body, SECTION.len() as u64);
    body.extend_from_slice(SECTION.as_bytes());
    body.extend_from_slice(&payload);
    out.push(0);
    leb128(&mut out, body.len() as u64);
    out.extend_from_slice(&body);
    Ok(out)
}

fn leb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_leb128(bytes: &[u8], at: &mut usize) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes
            .get(*at)
            .ok_or_else(|| bad("a section length runs past the end"))?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(bad("a section length is too long"))
}

fn bad(why: &str) -> RegistryError {
    RegistryError::Invalid(format!("not a wasm component: {why}"))
}

/// The top-level sections of `bytes`: (id, start of the section's contents, end).
fn sections(bytes: &[u8]) -> Result<Vec<(u8, usize, usize, usize)>> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(bad("no `\\0asm` header"));
    }
    let mut at = 8;
    let mut out = Vec::new();
    while at < bytes.len() {
        let start = at;
        let id = bytes[at];
        at += 1;
        let len = usize::try_from(read_leb128(bytes, &mut at)?)
            .map_err(|_| bad("a section too large"))?;
        let end = at
            .checked_add(len)
            .filter(|e| *e <= bytes.len())
            .ok_or_else(|| bad("a section runs past the end"))?;
        out.push((id, start, at, end));
        at = end;
    }
    Ok(out)
}

fn custom_section<'a>(bytes: &'a [u8], name: &str) -> Result<Option<&'a [u8]>> {
    for (id, _, body, end) in sections(bytes)? {
        if id != 0 {
            continue;
        }
        let mut at = body;
        let n =
            usize::try_from(read_leb128(bytes, &mut at)?).map_err(|_| bad("a name too long"))?;
        if bytes.get(at..at + n) == Some(name.as_bytes()) {
            return Ok(Some(&bytes[at + n..end]));
        }
    }
    Ok(None)
}

fn without_section(bytes: &[u8], name: &str) -> Result<Vec<u8>> {
    let mut out = bytes[..8.min(bytes.len())].to_vec();
    for (id, start, body, end) in sections(bytes)? {
        if id == 0 {
            let mut at = body;
            let n = usize::try_from(read_leb128(bytes, &mut at)?)
                .map_err(|_| bad("a name too long"))?;
            if bytes.get(at..at + n) == Some(name.as_bytes()) {
                continue;
            }
        }
        out.extend_from_slice(&bytes[start..end]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(hosts: &[&str]) -> Manifest {
        Manifest {
            name: "c".into(),
            version: "1".into(),
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            ..Manifest::default()
        }
    }

    #[test]
    fn a_manifest_round_trips_through_the_custom_section() {
        // the smallest component: header only (version 13, layer 1)
        let component = b"\0asm\x0d\x00\x01\x00".to_vec();
        assert_eq!(read_section(&component).expect("reads"), None);
        let with = write_section(&component, &m(&["api.example.com"])).expect("writes");
        assert_eq!(
            read_section(&with).expect("reads"),
            Some(m(&["api.example.com"]))
        );
        let again = write_section(&with, &m(&["b.example.com"])).expect("replaces");
        assert_eq!(
            read_section(&again).expect("reads"),
            Some(m(&["b.example.com"]))
        );
        assert!(read_section(b"nope").is_err());
    }

    #[test]
    fn the_diff_and_the_fit_name_each_capability() {
        let old = m(&["a.example"]);
        let new = m(&["a.example", "b.example"]);
        assert_eq!(new.more_than(&old), ["host b.example"]);
        assert_eq!(new.less_than(&old), Vec::<String>::new());
        assert!(
            new.more_than(&m(&["*"])).is_empty(),
            "any host was already asked for"
        );
        let granted = Granted {
            hosts: vec!["a.example".into(), "c.example".into()],
            ..Granted::default()
        };
        let f = fit(&new, &granted);
        assert_eq!(f.missing, ["host b.example"]);
        assert_eq!(f.beyond, ["host c.example"]);
        assert_eq!(fit(&m(&["*"]), &granted), Fit::default());
        let http = vec!["sluice:connector/http@0.2.2".to_owned()];
        assert!(
            m(&[]).with_imports(http.clone()).is_err(),
            "http without hosts"
        );
        assert_eq!(
            m(&["*"]).with_imports(http.clone()).expect("ok").imports,
            http
        );
    }
}
