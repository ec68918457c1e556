//! A throwaway MariaDB server per test: `mariadb-install-db` (as the `mysql` user when the
//! tests run as root) into a temporary directory, `mariadbd` started on a free loopback port
//! with its socket in that directory and time zone UTC, killed and removed on drop. `root`
//! logs in over loopback TCP without a password; the tests read back with the `mariadb`
//! client over the socket.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct MariaDb {
    dir: tempfile::TempDir,
    server: Child,
    pub port: u16,
}

impl MariaDb {
    pub fn start() -> MariaDb {
        let dir = tempfile::Builder::new()
            .prefix("sluice-mariadb-")
            .tempdir()
            .expect("temp dir");
        let user: Vec<&str> = if crate::pg::is_root() {
            let st = Command::new("chown")
                .args(["-R", "mysql:mysql"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(st.success(), "chown of the MariaDB directory failed");
            vec!["--user=mysql"]
        } else {
            vec![]
        };
        let data = dir.path().join("data");
        let out = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .args(&user)
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .env("TMPDIR", dir.path())
            .output()
            .expect(
                "mariadb-install-db not found (scripts/bootstrap installs it: apt-get install \
                 mariadb-server)",
            );
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let server = Command::new("mariadbd")
            .arg("--no-defaults")
            .args(&user)
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .arg(format!("--port={port}"))
            .args([
                "--bind-address=127.0.0.1",
                "--default-time-zone=+00:00",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=32M",
                "--innodb-flush-log-at-trx-commit=0",
            ])
            // its own temporary folder (and the installer's, by TMPDIR): a starting server
            // clears stale temporary tables from its tmpdir, which would pull them from under
            // a neighbour sharing /tmp
            .arg(format!("--tmpdir={}", dir.path().display()))
            .arg(format!(
                "--log-error={}",
                dir.path().join("err.log").display()
            ))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd");
        let db = MariaDb { dir, server, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while db.try_query("SELECT 1").is_err() {
            assert!(
                Instant::now() < deadline,
                "mariadbd did not start: {}",
                std::fs::read_to_string(db.dir.path().join("err.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        db.query("CREATE DATABASE src");
        db
    }

    /// The source URL of database `src` (root, no password).
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/src", self.port)
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    fn try_query(&self, sql: &str) -> Result<Vec<String>, String> {
        let out = Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .args(["-u", "root", "--batch", "--skip-column-names", "-e", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect())
    }

    /// Run `sql` (statements separated by `;`) in database `src`; rows as tab-separated lines.
    pub fn query(&self, sql: &str) -> Vec<String> {
        let sql = if sql.starts_with("CREATE DATABASE") {
            sql.to_owned()
        } else {
            format!("USE src; {sql}")
        };
        self.try_query(&sql)
            .unwrap_or_else(|e| panic!("mariadb `{sql}` failed: {e}"))
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("err.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            eprintln!("mariadbd's log, last lines first:\n{}", tail.join("\n"));
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
