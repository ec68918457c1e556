//! `sluice init pipeline --openapi SPEC NAME`: read the document (a file, or fetched once from
//! an http(s) URL), generate the pipeline file, and print what was detected and how sure.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sluice_openapi::{Generated, Options, Sure};

/// Largest document read, bytes.
const MAX_SPEC_BYTES: usize = 64 << 20;

pub fn run(name: &str, spec: &str, base_url: Option<String>, out: Option<PathBuf>) -> Result<()> {
    let out = out.unwrap_or_else(|| PathBuf::from(format!("{name}.toml")));
    if out.exists() {
        bail!("{} exists; choose another --out", out.display());
    }
    let (text, spec_url) = read(spec)?;
    let opts = Options {
        name: name.to_owned(),
        base_url,
        spec_url,
    };
    let g = sluice_openapi::generate(&text, &opts).with_context(|| format!("reading {spec}"))?;
    std::fs::write(&out, &g.toml).with_context(|| format!("writing {}", out.display()))?;
    report(&g);
    println!(
        "wrote {}; next:\n    sluice plan {0}\n    sluice run {0}",
        out.display()
    );
    Ok(())
}

/// The document's text, and its URL when it was fetched.
fn read(spec: &str) -> Result<(String, Option<url::Url>)> {
    let Some(url) = url::Url::parse(spec)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
    else {
        let text = std::fs::read_to_string(spec).with_context(|| format!("reading {spec}"))?;
        return Ok((text, None));
    };
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let bytes = rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let mut resp = client.get(url.clone()).send().await?.error_for_status()?;
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_SPEC_BYTES {
                anyhow::bail!("the document is over {} MiB", MAX_SPEC_BYTES >> 20);
            }
        }
        Ok::<_, anyhow::Error>(body)
    });
    let bytes = bytes.with_context(|| format!("fetching {url}"))?;
    let text = String::from_utf8(bytes).with_context(|| format!("{url} is not UTF-8 text"))?;
    Ok((text, Some(url)))
}

fn report(g: &Generated) {
    println!("{} ({}): base URL {}", g.title, g.spec_version, g.base_url);
    if let Some(note) = &g.base_url_note {
        println!("  ! {note}");
    }
    for s in &g.secrets {
        match &s.unusable {
            None => println!(
                "  secret `{}` from ${} (security scheme `{}`){}",
                s.name,
                s.env,
                s.scheme_key,
                if g.auth.as_deref() == Some(s.name.as_str()) {
                    ", sent by the client"
                } else {
                    ""
                }
            ),
            Some(why) => println!("  secret `{}` commented out: {why}", s.name),
        }
    }
    let live = g.resources.iter().filter(|r| r.unresolved.is_none());
    let mut counts = [0usize; 3];
    for r in live {
        counts[r.sure as usize] += 1;
        println!(
            "  {:<7} {:<32} GET {}",
            r.sure.to_string(),
            r.name,
            r.spec_path
        );
        println!("          {}", r.notes.join("; "));
    }
    let skipped: Vec<_> = g
        .resources
        .iter()
        .filter(|r| r.unresolved.is_some())
        .collect();
    for r in &skipped {
        println!(
            "  skipped {:<32} GET {}: {}",
            r.name,
            r.spec_path,
            r.unresolved.as_deref().unwrap_or_default()
        );
    }
    println!(
        "{} resources: {} certain, {} likely, {} guesses; {} written commented out",
        counts.iter().sum::<usize>(),
        counts[Sure::Certain as usize],
        counts[Sure::Likely as usize],
        counts[Sure::Guess as usize],
        skipped.len()
    );
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// A document served once over loopback HTTP is read from its URL, and its relative
    /// server resolves against that URL.
    #[test]
    fn a_document_is_fetched_from_its_url_and_relative_servers_resolve_against_it() {
        let doc = "openapi: 3.0.0\ninfo: {title: T, version: '1'}\nservers: [{url: /v1}]\npaths:\n  /pets:\n    get:\n      responses:\n        '200':\n          content:\n            application/json:\n              schema: {type: array, items: {type: object, properties: {id: {type: integer}}}}\n";
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let served = doc.to_owned();
        std::thread::spawn(move || {
            if let Ok((mut conn, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/yaml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    served.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(served.as_bytes());
            }
        });
        let url = format!("http://127.0.0.1:{port}/specs/pets.yaml");
        let (text, from) = read(&url).expect("fetched");
        assert_eq!(text, doc);
        let g = sluice_openapi::generate(
            &text,
            &Options {
                name: "pets".into(),
                base_url: None,
                spec_url: from,
            },
        )
        .expect("generates");
        assert_eq!(g.base_url, format!("http://127.0.0.1:{port}/v1"));
        assert!(g.base_url_note.is_none());
        assert!(read("/no/such/spec.yaml").is_err());
    }
}
