//! What a pipeline grants of one bucket: where it is (`s3://bucket/prefix` or
//! `file:///dir`), how the host signs in, and the name a connector knows it by.

use std::path::PathBuf;

/// How the host signs requests to an S3 bucket.
#[derive(Clone)]
pub enum Credentials {
    /// the standard AWS environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL`) and instance metadata
    Environment,
    /// keys read from the pipeline's secrets
    Keys {
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
    },
    /// unsigned requests (public buckets)
    Anonymous,
}

impl Credentials {
    /// Every credential value, for redacting them from messages.
    pub(crate) fn values(&self) -> Vec<&str> {
        match self {
            Credentials::Keys {
                access_key_id,
                secret_access_key,
                session_token,
            } => [
                Some(access_key_id),
                Some(secret_access_key),
                session_token.as_ref(),
            ]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .collect(),
            _ => Vec::new(),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::Environment => "Environment",
            Credentials::Keys { .. } => "Keys(…)",
            Credentials::Anonymous => "Anonymous",
        })
    }
}

/// Where a grant's objects are.
#[derive(Clone, Debug)]
pub enum Location {
    S3 {
        bucket: String,
        /// keys below this (no leading or trailing `/`; empty: the whole bucket)
        prefix: String,
        /// the region; the environment's or `us-east-1` when absent
        region: Option<String>,
        /// an S3-compatible server (`http://127.0.0.1:9000`); AWS when absent
        endpoint: Option<String>,
        credentials: Credentials,
    },
    /// a local folder
    Local { dir: PathBuf },
}

impl Location {
    /// `s3://bucket/prefix` or `file:///dir`, with the credentials to sign S3 requests with.
    pub fn parse(url: &str, credentials: Credentials) -> Result<Location, String> {
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("`{url}` names no bucket"));
            }
            let prefix = prefix.trim_matches('/');
            if !prefix.is_empty() {
                crate::key::check(bucket, prefix).map_err(|e| e.to_string())?;
            }
            return Ok(Location::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
                region: None,
                endpoint: None,
                credentials,
            });
        }
        if url.starts_with("file://") {
            let parsed = url::Url::parse(url).map_err(|e| format!("`{url}`: {e}"))?;
            let dir = parsed
                .to_file_path()
                .map_err(|()| format!("`{url}` is not an absolute local path"))?;
            return Ok(Location::Local { dir });
        }
        let scheme = url.split("://").next().unwrap_or_default();
        Err(format!(
            "`{scheme}://` buckets are not supported: use s3://bucket/prefix (AWS S3 and \
             S3-compatible servers) or file:///folder"
        ))
    }

    /// The location in words, with no credential (`s3://raw/exports`, `file:///srv/x`).
    pub fn describe(&self) -> String {
        match self {
            Location::S3 {
                bucket,
                prefix,
                endpoint,
                ..
            } => {
                let at = endpoint
                    .as_ref()
                    .map(|e| format!(" at {e}"))
                    .unwrap_or_default();
                format!("s3://{bucket}/{prefix}{at}")
            }
            Location::Local { dir } => format!("file://{}", dir.display()),
        }
    }
}

/// One `[grants.buckets.NAME]`.
#[derive(Clone, Debug)]
pub struct BucketGrant {
    pub name: String,
    pub location: Location,
}
