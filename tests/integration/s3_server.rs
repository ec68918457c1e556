//! A throwaway S3-compatible server per test: moto's (`tests/s3_server.py`, `moto[server]`
//! from PyPI, which scripts/bootstrap installs) on a free loopback port, checking request
//! signatures against the one access key it makes. Chosen over an S3 server crate because it
//! needs no compile step and implements what the host uses (signed V4 requests, ListObjectsV2
//! with start-after, ranged GETs, If-Match). [`S3Server::azurite`] starts Azurite instead
//! (`tests/azure_server.py`), an Azure Blob Storage emulator, and [`S3Server::gcs`]
//! fake-gcs-server (`tests/gcs_server.py`), a Google Cloud Storage one, behind the same
//! commands. Stopped on drop.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

use crate::support::manifest_dir;

pub struct S3Server {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pub endpoint: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    cloud: Cloud,
}

/// Which store a server emulates.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cloud {
    S3,
    Azure,
    Gcs,
}

impl S3Server {
    pub fn start() -> S3Server {
        S3Server::script("s3_server.py", Cloud::S3)
    }

    /// Azurite: `endpoint` is the account's blob endpoint, `access_key_id` the account and
    /// `secret_access_key` its key.
    pub fn azurite() -> S3Server {
        S3Server::script("azure_server.py", Cloud::Azure)
    }

    /// fake-gcs-server: `endpoint` is its base URL; it checks no credentials (both keys are
    /// empty).
    pub fn gcs() -> S3Server {
        S3Server::script("gcs_server.py", Cloud::Gcs)
    }

    fn script(name: &str, cloud: Cloud) -> S3Server {
        let mut child = Command::new("python3")
            .arg(manifest_dir().join(name))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 (scripts/bootstrap installs moto[server])");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the server's first line");
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!("tests/{name} did not start (run scripts/bootstrap): {e}: {line:?}")
        });
        let s = |k: &str| v[k].as_str().expect(k).to_owned();
        S3Server {
            endpoint: s("endpoint"),
            access_key_id: s("access_key_id"),
            secret_access_key: s("secret_access_key"),
            cloud,
            child,
            stdin,
            stdout,
        }
    }

    fn command(&mut self, cmd: Value) -> Value {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{cmd}").expect("command");
        stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("answer");
        let v: Value = serde_json::from_str(&line).expect("answer JSON");
        assert_eq!(v["ok"], true, "{cmd}: {line}");
        v
    }

    /// Every key of `bucket` starting with `prefix`, in key order.
    pub fn keys(&mut self, bucket: &str, prefix: &str) -> Vec<String> {
        let v = self.command(json!({"op": "list", "bucket": bucket, "prefix": prefix}));
        v["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect()
    }

    /// Download `key` to `file`.
    pub fn get(&mut self, bucket: &str, key: &str, file: &Path) {
        self.command(json!({"op": "get", "bucket": bucket, "key": key, "file": file}));
    }

    /// The environment a process reaches this server with (AWS's, Azure's, or Google's
    /// emulator variable).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        if self.cloud == Cloud::Gcs {
            let host = self.endpoint.trim_start_matches("http://");
            return vec![("STORAGE_EMULATOR_HOST", host.to_owned())];
        }
        if self.cloud == Cloud::Azure {
            return vec![
                ("AZURE_STORAGE_ACCOUNT_NAME", self.access_key_id.clone()),
                ("AZURE_STORAGE_ACCOUNT_KEY", self.secret_access_key.clone()),
                ("AZURE_STORAGE_ENDPOINT", self.endpoint.clone()),
            ];
        }
        vec![
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".to_owned()),
        ]
    }

    pub fn bucket(&mut self, bucket: &str) {
        self.command(json!({"op": "bucket", "bucket": bucket}));
    }

    pub fn put_file(&mut self, bucket: &str, key: &str, file: &Path) {
        self.command(json!({"op": "put", "bucket": bucket, "key": key, "file": file}));
    }

    pub fn delete(&mut self, bucket: &str, key: &str) {
        self.command(json!({"op": "delete", "bucket": bucket, "key": key}));
    }

    /// Upload `bytes` as `key` (through a file in `dir`).
    pub fn put(&mut self, dir: &Path, bucket: &str, key: &str, bytes: &[u8]) {
        let file = dir.join(format!("upload-{}", key.replace('/', "_")));
        std::fs::write(&file, bytes).expect("upload file");
        self.put_file(bucket, key, &file);
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if self.child.try_wait().ok().flatten().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
