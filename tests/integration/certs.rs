//! Throwaway certificates made with the `openssl` command line: a CA, a server certificate it
//! signs for `localhost` only, a client certificate it signs for user `postgres`, and a second
//! CA that signs only a client certificate for `postgres` — for TLS tests against real
//! servers on loopback.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct TestCa {
    _dir: tempfile::TempDir,
    /// the CA that signed the server certificate (PEM)
    pub ca: PathBuf,
    /// a CA that signed no server certificate (PEM)
    pub other_ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// (certificate, key) of user `postgres`, signed by `ca`
    pub client: (PathBuf, PathBuf),
    /// (certificate, key) of user `postgres`, signed by `other_ca`
    pub other_client: (PathBuf, PathBuf),
}

/// Run `openssl` in `dir` with `args` (words without spaces).
fn openssl(dir: &Path, args: &str) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args.split_whitespace())
        .output()
        .expect("openssl (scripts/bootstrap installs it)");
    assert!(
        out.status.success(),
        "openssl {args} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const EC_KEY: &str = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

/// A self-signed CA: `<name>.crt`, `<name>.key`.
fn new_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &format!(
            "req -x509 {EC_KEY} -days 2 -subj /CN={name} \
             -addext basicConstraints=critical,CA:TRUE \
             -addext keyUsage=critical,keyCertSign,cRLSign \
             -keyout {name}.key -out {name}.crt"
        ),
    );
}

/// A certificate for `cn` with extensions `ext`, signed by CA `ca`: `<name>.crt`, `<name>.key`.
fn signed(dir: &Path, name: &str, cn: &str, ca: &str, ext: &str) -> (PathBuf, PathBuf) {
    openssl(
        dir,
        &format!("req {EC_KEY} -subj /CN={cn} -keyout {name}.key -out {name}.csr"),
    );
    std::fs::write(dir.join(format!("{name}.ext")), ext).expect("write ext");
    openssl(
        dir,
        &format!(
            "x509 -req -in {name}.csr -CA {ca}.crt -CAkey {ca}.key -CAcreateserial -days 2 \
             -extfile {name}.ext -out {name}.crt"
        ),
    );
    (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    )
}

impl TestCa {
    pub fn new() -> TestCa {
        let dir = tempfile::Builder::new()
            .prefix("sluice-ca-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path();
        new_ca(d, "ca");
        new_ca(d, "other_ca");
        let (server_cert, server_key) = signed(
            d,
            "server",
            "localhost",
            "ca",
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        );
        let client_ext = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
                          extendedKeyUsage=clientAuth\n";
        let client = signed(d, "client", "postgres", "ca", client_ext);
        let other_client = signed(d, "other_client", "postgres", "other_ca", client_ext);
        TestCa {
            ca: d.join("ca.crt"),
            other_ca: d.join("other_ca.crt"),
            server_cert,
            server_key,
            client,
            other_client,
            _dir: dir,
        }
    }
}
