//! What a pipeline grants of one bucket: where it is (`s3://bucket/prefix`,
//! `gs://bucket/prefix`, `az://container/prefix` or `file:///dir`), how the host signs in, and
//! the name a connector knows it by.

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
    /// an Azure storage account's key, read from the pipeline's secrets
    AccountKey(String),
    /// a Google Cloud service account's JSON key, read from the pipeline's secrets
    ServiceAccountKey(String),
}

impl Credentials {
    /// Every credential value, for redacting them from messages.
    pub(crate) fn values(&self) -> Vec<String> {
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
            .map(str::to_owned)
            .collect(),
            Credentials::AccountKey(k) if !k.is_empty() => vec![k.clone()],
            Credentials::ServiceAccountKey(k) if !k.is_empty() => service_account_values(k),
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
            Credentials::AccountKey(_) => "AccountKey(…)",
            Credentials::ServiceAccountKey(_) => "ServiceAccountKey(…)",
        })
    }
}

/// What of a service account's JSON key must never be shown: the whole text, and each of its
/// identifying values (the private key, its id, the account's email and id), so that a message
/// quoting one of them alone is redacted too.
fn service_account_values(key: &str) -> Vec<String> {
    let mut values = vec![key.to_owned()];
    if let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(key) {
        for field in ["private_key", "private_key_id", "client_email", "client_id"] {
            if let Some(v) = fields.get(field).and_then(|v| v.as_str())
                && !v.is_empty()
            {
                values.push(v.to_owned());
            }
        }
    }
    values
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
    /// an Azure Blob Storage container
    Azure {
        /// the storage account; `AZURE_STORAGE_ACCOUNT_NAME` when absent
        account: Option<String>,
        container: String,
        /// blobs below this (no leading or trailing `/`)
        prefix: String,
        /// the account's blob endpoint (`http://127.0.0.1:10000/devstoreaccount1` for
        /// Azurite); `https://<account>.blob.core.windows.net` when absent
        endpoint: Option<String>,
        /// an account key, or the environment (`AZURE_STORAGE_ACCOUNT_KEY`, …)
        credentials: Credentials,
    },
    /// a Google Cloud Storage bucket
    Gcs {
        bucket: String,
        /// keys below this (no leading or trailing `/`)
        prefix: String,
        /// a GCS-compatible server (`http://127.0.0.1:4443` for fake-gcs-server);
        /// `https://storage.googleapis.com` when absent
        endpoint: Option<String>,
        /// a service account's key, the environment (`GOOGLE_APPLICATION_CREDENTIALS`, …)
        /// or none
        credentials: Credentials,
    },
    /// a local folder
    Local { dir: PathBuf },
}

impl Location {
    /// `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix` or `file:///dir`,
    /// with the credentials to sign requests with.
    pub fn parse(url: &str, credentials: Credentials) -> Result<Location, String> {
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = split(url, rest, "bucket")?;
            return Ok(Location::S3 {
                bucket,
                prefix,
                region: None,
                endpoint: None,
                credentials,
            });
        }
        if let Some(rest) = url.strip_prefix("gs://") {
            let (bucket, prefix) = split(url, rest, "bucket")?;
            return Ok(Location::Gcs {
                bucket,
                prefix,
                endpoint: None,
                credentials,
            });
        }
        if let Some(rest) = url.strip_prefix("az://") {
            let (container, prefix) = split(url, rest, "container")?;
            return Ok(Location::Azure {
                account: None,
                container,
                prefix,
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
             S3-compatible servers), gs://bucket/prefix (Google Cloud Storage), \
             az://container/prefix (Azure Blob Storage) or file:///folder"
        ))
    }

    /// How the host signs in, for a bucket or container.
    pub(crate) fn credentials(&self) -> Option<&Credentials> {
        match self {
            Location::S3 { credentials, .. }
            | Location::Gcs { credentials, .. }
            | Location::Azure { credentials, .. } => Some(credentials),
            Location::Local { .. } => None,
        }
    }

    /// What a connector must not see of the location: endpoint, account, bucket, prefix, folder.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names = match self {
            Location::S3 {
                bucket,
                prefix,
                endpoint,
                ..
            }
            | Location::Gcs {
                bucket,
                prefix,
                endpoint,
                ..
            } => vec![
                bucket.clone(),
                prefix.clone(),
                endpoint.clone().unwrap_or_default(),
            ],
            Location::Azure {
                account,
                container,
                prefix,
                endpoint,
                ..
            } => vec![
                container.clone(),
                prefix.clone(),
                endpoint.clone().unwrap_or_default(),
                account.clone().unwrap_or_default(),
            ],
            Location::Local { dir } => vec![dir.to_string_lossy().into_owned()],
        };
        // longest first, so an endpoint is hidden whole before the names inside it
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        names
    }

    /// The location in words, with no credential (`s3://raw/exports`, `file:///srv/x`).
    pub fn describe(&self) -> String {
        let (scheme, name, prefix, endpoint) = match self {
            Location::S3 {
                bucket,
                prefix,
                endpoint,
                ..
            } => ("s3", bucket, prefix, endpoint),
            Location::Gcs {
                bucket,
                prefix,
                endpoint,
                ..
            } => ("gs", bucket, prefix, endpoint),
            Location::Azure {
                container,
                prefix,
                endpoint,
                ..
            } => ("az", container, prefix, endpoint),
            Location::Local { dir } => return format!("file://{}", dir.display()),
        };
        let at = endpoint
            .as_ref()
            .map(|e| format!(" at {e}"))
            .unwrap_or_default();
        format!("{scheme}://{name}/{prefix}{at}")
    }
}

/// `rest` of `url` (`name/prefix/…`) as the bucket's or container's name and the prefix
/// (checked as a key).
fn split(url: &str, rest: &str, what: &str) -> Result<(String, String), String> {
    let (name, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if name.is_empty() {
        return Err(format!("`{url}` names no {what}"));
    }
    let prefix = prefix.trim_matches('/');
    if !prefix.is_empty() {
        crate::key::check(name, prefix).map_err(|e| e.to_string())?;
    }
    Ok((name.to_owned(), prefix.to_owned()))
}

/// One `[grants.buckets.NAME]`.
#[derive(Clone, Debug)]
pub struct BucketGrant {
    pub name: String,
    pub location: Location,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_locations_that_describe_themselves_without_credentials() {
        let keys = || Credentials::AccountKey("k3y".into());
        let az = Location::parse("az://box/a/b/", keys()).expect("az");
        assert!(matches!(&az, Location::Azure { container, prefix, .. }
            if container == "box" && prefix == "a/b"));
        assert_eq!(az.describe(), "az://box/a/b");
        assert_eq!(
            az.credentials().map(|c| c.values()),
            Some(vec!["k3y".to_owned()])
        );
        let s3 = Location::parse("s3://lake", Credentials::Environment).expect("s3");
        assert_eq!(s3.describe(), "s3://lake/");
        let gs = Location::parse("gs://lake/raw", Credentials::Anonymous).expect("gs");
        assert_eq!(gs.describe(), "gs://lake/raw");
        for bad in ["s3:///x", "az://", "s3://b/../x", "gs:///x", "ftp://h/x"] {
            assert!(
                Location::parse(bad, Credentials::Anonymous).is_err(),
                "{bad}"
            );
        }
        let with = Location::S3 {
            bucket: "lake".into(),
            prefix: String::new(),
            region: None,
            endpoint: Some("http://127.0.0.1:9000/lake".into()),
            credentials: Credentials::Environment,
        };
        assert_eq!(
            with.names()[0],
            "http://127.0.0.1:9000/lake",
            "longest hidden first"
        );
    }

    #[test]
    fn a_service_account_key_is_redacted_whole_and_by_its_values() {
        let key = r#"{"type": "service_account", "private_key_id": "abc123def",
            "private_key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
            "client_email":"loader@proj.iam.gserviceaccount.com"}"#;
        let values = Credentials::ServiceAccountKey(key.into()).values();
        assert_eq!(values[0], key);
        for part in [
            "abc123def",
            "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
            "loader@proj.iam.gserviceaccount.com",
        ] {
            assert!(values.iter().any(|v| v == part), "{part} in {values:?}");
        }
        assert!(!values.iter().any(|v| v == "service_account"));
    }
}
