//! A throwaway PostgreSQL server per test: `initdb` (as the `postgres` user when the tests run
//! as root, since initdb refuses root) into a temporary directory, started on a free loopback
//! port with its socket in that directory, stopped and removed on drop. No mocks: the tests
//! talk to the real server through Sluice's destination and read back with `psql`. A server
//! started with [`PgServer::start_tls`] takes TCP sessions over TLS only.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .filter(|p| p.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().expect(
        "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin \
         (scripts/bootstrap installs them: apt-get install postgresql)",
    )
}

/// Whether the tests run as root (server binaries then run as their own user).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Run a server binary, as `postgres` when we are root.
fn run(bin: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()))
}

impl PgServer {
    pub fn start() -> PgServer {
        Self::start_with(None)
    }

    /// A server with `ssl = on` and the certificate `ca` signed, whose `pg_hba.conf` rejects
    /// TCP sessions without TLS.
    pub fn start_tls(ca: &crate::certs::TestCa) -> PgServer {
        Self::start_with(Some((ca, false)))
    }

    /// As [`PgServer::start_tls`], and TCP sessions must also present a client certificate
    /// signed by `ca` for their user (`clientcert=verify-full`).
    pub fn start_tls_client_auth(ca: &crate::certs::TestCa) -> PgServer {
        Self::start_with(Some((ca, true)))
    }

    fn start_with(tls: Option<(&crate::certs::TestCa, bool)>) -> PgServer {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("sluice-pg-")
            .tempdir()
            .expect("temp dir");
        if is_root() {
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(st.success(), "chown of the PostgreSQL directory failed");
        }
        let data = dir.path().join("data");
        let d = data.to_string_lossy().into_owned();
        let out = run(
            &bin.join("initdb"),
            &[
                "-D",
                &d,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ssl = tls
            .map(|(ca, client_auth)| require_tls(dir.path(), &data, ca, client_auth))
            .unwrap_or_default();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off{ssl}",
            dir.path().display()
        );
        let log = dir.path().join("server.log").to_string_lossy().into_owned();
        let out = run(
            &bin.join("pg_ctl"),
            &["-D", &d, "-l", &log, "-o", &opts, "-w", "-t", "60", "start"],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        PgServer { dir, bin, port }
    }

    /// The destination URL of database `postgres`.
    pub fn url(&self) -> String {
        self.url_db("postgres")
    }

    /// The destination URL of database `db`.
    pub fn url_db(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Make TCP sessions of `user` authenticate with `password` (SCRAM), creating the role.
    pub fn require_password(&self, user: &str, password: &str) {
        self.query(&format!(
            "CREATE ROLE {user} LOGIN PASSWORD '{password}'; GRANT pg_read_all_data TO {user}"
        ));
        let hba = self.dir.path().join("data/pg_hba.conf");
        let old = std::fs::read_to_string(&hba).expect("pg_hba.conf");
        let line = format!("host all {user} 127.0.0.1/32 scram-sha-256\n");
        std::fs::write(&hba, format!("{line}{old}")).expect("write pg_hba.conf");
        let d = self.dir.path().join("data").to_string_lossy().into_owned();
        let out = run(&self.bin.join("pg_ctl"), &["-D", &d, "reload"]);
        assert!(out.status.success(), "pg_ctl reload failed");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    /// Run `sql` with psql in database `postgres`; rows as `|`-separated text lines.
    pub fn query(&self, sql: &str) -> Vec<String> {
        self.query_db("postgres", sql)
    }

    /// Run `sql` with psql in database `db`, over the server's Unix socket (so it needs no
    /// certificate where TCP sessions do).
    pub fn query_db(&self, db: &str, sql: &str) -> Vec<String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.dir.path())
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db])
            .args(["-c", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql `{sql}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Put the server's certificate and key (and the CA, for client certificates) where the
/// server reads them (owned by it, the key private), and let TCP sessions in only over TLS,
/// with a client certificate when `client_auth`. The server options that turn TLS on.
fn require_tls(dir: &Path, data: &Path, ca: &crate::certs::TestCa, client_auth: bool) -> String {
    let cert = dir.join("server.crt");
    let key = dir.join("server.key");
    let root = dir.join("ca.crt");
    std::fs::copy(&ca.server_cert, &cert).expect("copy cert");
    std::fs::copy(&ca.server_key, &key).expect("copy key");
    std::fs::copy(&ca.ca, &root).expect("copy ca");
    let client = if client_auth {
        " clientcert=verify-full"
    } else {
        ""
    };
    let hba = format!(
        "local all all trust\nhostssl all all 127.0.0.1/32 trust{client}\n\
         hostnossl all all 127.0.0.1/32 reject\n"
    );
    std::fs::write(data.join("pg_hba.conf"), hba).expect("write pg_hba.conf");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod key");
    if is_root() {
        let st = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir)
            .status()
            .expect("chown");
        assert!(st.success(), "chown of the certificates failed");
    }
    format!(
        " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={} -c ssl_ca_file={}",
        cert.display(),
        key.display(),
        root.display()
    )
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let d = self.dir.path().join("data").to_string_lossy().into_owned();
        let _ = run(
            &self.bin.join("pg_ctl"),
            &["-D", &d, "-m", "immediate", "-w", "stop"],
        );
    }
}
