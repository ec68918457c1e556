//! Token auth for the test registry, as Docker Hub and GHCR do it: the registry answers
//! `401` with a `Bearer realm=…,service=…,scope=…` challenge, a token server on loopback
//! takes Basic credentials and issues a JWT (ES256, its certificate in `x5c`), and the
//! registry (Distribution's `auth: token`) checks the JWT against that certificate.

use base64::Engine as _;
use serde_json::json;

use crate::api_server::{ApiResponse, ApiServer};

/// A token issuer: its key, its certificate (PEM, for the registry's `rootcertbundle`).
pub struct Issuer {
    key: ring::signature::EcdsaKeyPair,
    cert_der: Vec<u8>,
    pub cert_pem_path: std::path::PathBuf,
}

impl Issuer {
    /// A P-256 key and a self-signed certificate made by `openssl` in `dir`.
    pub fn new(dir: &std::path::Path) -> Issuer {
        let key = dir.join("token.key");
        let cert = dir.join("token.crt");
        let out = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=sluice-token-issuer",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let der = |path: &std::path::Path, label: &str| {
            let text = std::fs::read_to_string(path).expect("pem");
            let body: String = text
                .lines()
                .skip_while(|l| !l.contains(&format!("BEGIN {label}")))
                .skip(1)
                .take_while(|l| !l.contains("END"))
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .expect("base64")
        };
        let rng = ring::rand::SystemRandom::new();
        let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &der(&key, "PRIVATE KEY"),
            &rng,
        )
        .expect("the issuer key");
        Issuer {
            key: pair,
            cert_der: der(&cert, "CERTIFICATE"),
            cert_pem_path: cert,
        }
    }

    /// A JWT granting `access` to `subject` for `service`.
    fn token(&self, subject: &str, service: &str, access: serde_json::Value) -> String {
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let header = json!({
            "typ": "JWT", "alg": "ES256",
            "x5c": [base64::engine::general_purpose::STANDARD.encode(&self.cert_der)],
        });
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let claims = json!({
            "iss": "sluice-token-issuer", "sub": subject, "aud": service,
            "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{subject}"),
            "access": access,
        });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self
            .key
            .sign(&ring::rand::SystemRandom::new(), input.as_bytes())
            .expect("sign");
        format!("{input}.{}", b64(sig.as_ref()))
    }
}

/// The `access` claim for a `scope` query (`repository:NAME:pull,push`, space-separated).
fn access(scopes: &str) -> serde_json::Value {
    let list: Vec<serde_json::Value> = scopes
        .split(' ')
        .filter_map(|s| {
            let mut parts = s.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    serde_json::Value::Array(list)
}

/// A token server on loopback that issues tokens to `user` with `password` (Basic) only.
pub fn token_server(issuer: Issuer, user: &str, password: &str) -> ApiServer {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    let user = user.to_owned();
    ApiServer::start(move |req| {
        if req.header("authorization") != Some(expected.as_str()) {
            return ApiResponse::raw(401, r#"{"details":"bad credentials"}"#);
        }
        let service = req.param("service").unwrap_or_default().to_owned();
        let scope = req.param("scope").unwrap_or_default().to_owned();
        ApiResponse::json(&json!({"token": issuer.token(&user, &service, access(&scope))}))
    })
}
