//! A throwaway OCI registry per test: Debian's `docker-registry` (Distribution 2.8, installed
//! by scripts/bootstrap) on a free loopback port, its storage in a temporary folder, with
//! htpasswd auth when asked (`htpasswd` from apache2-utils makes the bcrypt file). Stopped
//! on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RegistryServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    /// the token issuer's key and certificate, for a token-auth registry
    _issuer: Option<tempfile::TempDir>,
}

/// How the registry signs clients in.
enum Auth<'a> {
    None,
    Htpasswd(&'a str, &'a str),
    Token {
        realm: &'a str,
        cert: &'a std::path::Path,
    },
}

impl RegistryServer {
    pub fn start() -> RegistryServer {
        RegistryServer::launch(Auth::None)
    }

    /// A registry that asks for `user` and `password` (Basic).
    pub fn with_password(user: &str, password: &str) -> RegistryServer {
        RegistryServer::launch(Auth::Htpasswd(user, password))
    }

    /// A registry that asks for a Bearer token from a token server on loopback, which
    /// issues one to `user` with `password`; the token server lives as long as the registry.
    pub fn with_token(
        user: &str,
        password: &str,
    ) -> (RegistryServer, crate::api_server::ApiServer) {
        let keys = tempfile::tempdir().expect("issuer dir");
        let issuer = crate::registry_token::Issuer::new(keys.path());
        let cert = issuer.cert_pem_path.clone();
        let tokens = crate::registry_token::token_server(issuer, user, password);
        let realm = format!("{}/token", tokens.url());
        let mut server = RegistryServer::launch(Auth::Token {
            realm: &realm,
            cert: &cert,
        });
        server._issuer = Some(keys);
        (server, tokens)
    }

    fn launch(auth: Auth<'_>) -> RegistryServer {
        let dir = tempfile::tempdir().expect("registry dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Auth::Token { realm, cert } = auth {
            config.push_str(&format!(
                "auth:\n  token:\n    realm: {realm}\n    service: sluice-test\n    issuer: sluice-token-issuer\n    rootcertbundle: {}\n",
                cert.display()
            ));
        }
        if let Auth::Htpasswd(user, password) = auth {
            let file = dir.path().join("htpasswd");
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (scripts/bootstrap installs apache2-utils)");
            assert!(out.status.success());
            std::fs::write(&file, out.stdout).expect("htpasswd file");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: sluice-test\n    path: {}\n",
                file.display()
            ));
        }
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).expect("config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (scripts/bootstrap installs it)");
        let server = RegistryServer {
            child: Some(child),
            port,
            dir,
            _issuer: None,
        };
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "the registry did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// `oci://127.0.0.1:PORT/<repo_tag>`.
    pub fn reference(&self, repo_tag: &str) -> String {
        format!("oci://127.0.0.1:{}/{repo_tag}", self.port)
    }

    /// Where the registry keeps blob `digest` on disk.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Stop the server (a registry that is down).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        self.stop();
    }
}
