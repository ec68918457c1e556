//! Resuming a root resource's pagination after a failed run. Each page's checkpoint holds the
//! request for the next page and the paginator's position, tied to a fingerprint of the
//! configuration they were made with; when a run fails, the host commits the pages before the
//! failure with the checkpoint of the last one, and the next run — finding that checkpoint
//! and the same configuration — starts from that request instead of the first page. The last
//! page's checkpoint is empty: a finished run leaves nothing to resume.

use serde_json::{Value, json};

use crate::paginate::Request;

/// FNV-1a of the configuration's JSON text, in hex: a resume point is only taken up by the
/// configuration that made it.
pub fn fingerprint(config: &Value) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in config.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The checkpoint of a page after which `next` (with the paginator at `position`) follows.
pub fn checkpoint(fingerprint: &str, next: &Request, position: i64) -> Value {
    json!({"resume": {
        "fingerprint": fingerprint,
        "position": position,
        "method": next.method,
        "url": next.url.as_str(),
        "params": next.params,
        "headers": next.headers,
        "json": next.json,
    }})
}

/// The request and paginator position a committed state resumes at, when it holds one made
/// by this configuration.
pub fn from_state(state: Option<&Value>, fingerprint: &str) -> Option<(Request, i64)> {
    let r = state?.get("resume")?;
    if r.get("fingerprint")?.as_str()? != fingerprint {
        return None;
    }
    let pairs = |k: &str| -> Option<Vec<(String, String)>> {
        r.get(k)?
            .as_array()?
            .iter()
            .map(|p| {
                Some((
                    p.get(0)?.as_str()?.to_owned(),
                    p.get(1)?.as_str()?.to_owned(),
                ))
            })
            .collect()
    };
    let req = Request {
        method: r.get("method")?.as_str()?.to_owned(),
        url: url::Url::parse(r.get("url")?.as_str()?).ok()?,
        params: pairs("params")?,
        headers: pairs("headers")?,
        json: r.get("json").filter(|j| !j.is_null()).cloned(),
    };
    Some((req, r.get("position")?.as_i64()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_resumes_only_under_its_configuration() {
        let req = Request {
            method: "GET".into(),
            url: url::Url::parse("https://api.example.com/v1/items").expect("url"),
            params: vec![("page".into(), "7".into())],
            headers: vec![("Accept".into(), "application/json".into())],
            json: None,
        };
        let fp = fingerprint(&json!({"client": {"base_url": "https://api.example.com/v1/"}}));
        let cp = checkpoint(&fp, &req, 7);
        let (back, at) = from_state(Some(&cp), &fp).expect("resumes");
        assert_eq!((back.full_url().as_str(), at), (req.full_url().as_str(), 7));
        assert_eq!(back.headers, req.headers);
        let other = fingerprint(&json!({"client": {"base_url": "https://api.example.com/v2/"}}));
        assert!(from_state(Some(&cp), &other).is_none());
        assert!(from_state(Some(&json!({})), &fp).is_none());
    }
}
