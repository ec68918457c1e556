//! The HTTP transport both interfaces (`http` and `wasi:http`) send through: a client whose
//! resolver checks every address it hands out ([`Policy::resolve`]) and is the only source of
//! addresses the client connects to — resolve once, connect to what was checked — with no
//! proxy from the environment and no redirects of its own (the callers follow them, checking
//! each hop and deciding per hop which secrets go along).

use std::sync::Arc;

use crate::policy::Policy;

/// A name the resolver refused to hand out (it resolves to a non-public address).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// A name that did not resolve (a transport failure, retryable).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unresolved(pub String);

struct CheckedResolver {
    policy: Arc<Policy>,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            match policy.resolve(&host, 0).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                Err(why) if why.starts_with(crate::policy::UNRESOLVED) => {
                    Err(Box::new(Unresolved(why)) as Box<dyn std::error::Error + Send + Sync>)
                }
                Err(why) => Err(Box::new(Refused(why)) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}

/// The client every guest request goes through.
pub fn checked_client(policy: &Arc<Policy>) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(CheckedResolver {
            policy: policy.clone(),
        }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
}

/// A client for requests the pipeline file itself names (OAuth2 token endpoints): trusted
/// like the file, so not held to the guest's address rules; still no proxy, no redirects.
pub fn trusted_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
}

/// The resolver's refusal inside a transport error, if that is why it failed.
pub fn refusal(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(r) = e.downcast_ref::<Refused>() {
            return Some(r.0.clone());
        }
        source = e.source();
    }
    None
}

/// The error and its causes in one line.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Bytes of a header section as sent on the wire (name, `: `, value, CRLF).
pub fn header_bytes(headers: &http::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum()
}

/// Masks secret forms in a body that arrives in chunks: each chunk is masked together with
/// the tail of the one before, so a secret split across chunks is still found; the tail
/// (one byte shorter than the longest form) is held back until the next chunk or the end.
pub struct StreamMask {
    forms: Vec<String>,
    keep: usize,
    tail: Vec<u8>,
}

impl StreamMask {
    pub fn new(forms: Vec<String>) -> StreamMask {
        let keep = forms
            .iter()
            .map(String::len)
            .filter(|l| *l >= crate::policy::MIN_MASKED_BYTES)
            .max()
            .unwrap_or(1)
            - 1;
        StreamMask {
            forms,
            keep,
            tail: Vec::new(),
        }
    }

    /// The masked bytes that can be released after `chunk`.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.tail);
        buf.extend_from_slice(chunk);
        crate::policy::mask(&mut buf, &self.forms);
        let cut = buf.len().saturating_sub(self.keep);
        self.tail = buf.split_off(cut);
        buf
    }

    /// What is held back, at the end of the body.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_split_across_chunks_is_masked() {
        let mut m = StreamMask::new(vec!["topsecret".into()]);
        let mut out = Vec::new();
        for chunk in ["{\"a\":\"tops", "ecr", "et\",\"b\":\"x\"}"] {
            out.extend(m.push(chunk.as_bytes()));
        }
        out.extend(m.finish());
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "{\"a\":\"*********\",\"b\":\"x\"}"
        );
    }
}
