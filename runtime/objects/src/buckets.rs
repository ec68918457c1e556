//! The granted buckets, opened: one store per grant, and the three reads a connector may
//! ask for (list, head, ranged get), each checked against the grant before it is sent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectMeta, ObjectStore, RetryConfig,
};

use crate::{BucketGrant, Credentials, Listing, Location, ObjectError, ObjectInfo, Result, key};

/// Most objects one `list` call returns.
pub const MAX_LIST: usize = 1000;
/// Most bytes one `get` call returns.
pub const MAX_GET_BYTES: u64 = 16 << 20;

/// A grant with its store.
struct Opened {
    grant: BucketGrant,
    store: Arc<dyn ObjectStore>,
    /// keys below this (`""`: the store's root)
    prefix: String,
    /// whether the store lists in key order (S3 does; a local folder does not)
    sorted: bool,
}

/// The buckets a pipeline grants, by name. Cloning shares the stores.
#[derive(Clone, Default)]
pub struct Buckets {
    open: Arc<BTreeMap<String, Opened>>,
}

impl std::fmt::Debug for Buckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.open.values().map(|o| &o.grant))
            .finish()
    }
}

impl Buckets {
    /// Open every grant (no request is made yet); an error names the grant.
    pub fn new(grants: Vec<BucketGrant>) -> std::result::Result<Buckets, String> {
        let mut open = BTreeMap::new();
        for grant in grants {
            let opened =
                opened(grant).map_err(|(name, e)| format!("bucket grant `{name}`: {e}"))?;
            open.insert(opened.grant.name.clone(), opened);
        }
        Ok(Buckets {
            open: Arc::new(open),
        })
    }

    pub fn names(&self) -> Vec<String> {
        self.open.keys().cloned().collect()
    }

    fn get_grant(&self, bucket: &str) -> Result<&Opened> {
        self.open.get(bucket).ok_or_else(|| {
            ObjectError::Denied(format!(
                "no bucket grant `{}`: the pipeline grants {}",
                bucket.escape_debug(),
                match self.names() {
                    n if n.is_empty() => "none".to_owned(),
                    n => n
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            ))
        })
    }

    /// Objects of `bucket` whose key starts with `prefix`, after `start_after`, in key order.
    pub async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Listing> {
        let o = self.get_grant(bucket)?;
        key::check_prefix(bucket, prefix)?;
        if let Some(after) = start_after {
            key::check(bucket, after)?;
        }
        // the store lists whole segments: ask for the prefix's folder, keep what starts with it
        let folder = prefix.rsplit_once('/').map_or("", |(f, _)| f);
        let at = o.folder(folder, bucket)?;
        let mut stream = match start_after {
            Some(after) => o
                .store
                .list_with_offset(at.as_ref(), &o.path(after, bucket)?),
            None => o.store.list(at.as_ref()),
        };
        let mut found = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|e| o.failure(prefix, e))?;
            let Some(info) = o.info(&meta) else { continue };
            if info.key.starts_with(prefix) && start_after.is_none_or(|a| info.key.as_str() > a) {
                found.push(info);
            }
            if o.sorted && found.len() > MAX_LIST {
                break;
            }
        }
        found.sort_by(|a, b| a.key.cmp(&b.key));
        let more = found.len() > MAX_LIST;
        found.truncate(MAX_LIST);
        Ok(Listing {
            objects: found,
            more,
        })
    }

    /// One object's size, time and entity tag.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<ObjectInfo> {
        let o = self.get_grant(bucket)?;
        key::check(bucket, key)?;
        let meta = o
            .store
            .head(&o.path(key, bucket)?)
            .await
            .map_err(|e| o.failure(key, e))?;
        o.info(&meta)
            .ok_or_else(|| ObjectError::Store(format!("bucket `{bucket}`: `{key}` has no key")))
    }

    /// Bytes `offset .. offset + length` of an object (fewer at its end, at most
    /// [`MAX_GET_BYTES`]); with `if_match`, only while the object keeps that entity tag.
    pub async fn get(
        &self,
        bucket: &str,
        key: &str,
        offset: u64,
        length: u64,
        if_match: Option<String>,
    ) -> Result<Vec<u8>> {
        let o = self.get_grant(bucket)?;
        key::check(bucket, key)?;
        let length = length.min(MAX_GET_BYTES);
        if length == 0 {
            return Ok(Vec::new());
        }
        let options = GetOptions {
            if_match,
            range: Some(GetRange::Bounded(offset..offset.saturating_add(length))),
            ..GetOptions::default()
        };
        let result = o
            .store
            .get_opts(&o.path(key, bucket)?, options)
            .await
            .map_err(|e| o.failure(key, e))?;
        let bytes = result.bytes().await.map_err(|e| o.failure(key, e))?;
        Ok(bytes.to_vec())
    }
}

/// A grant's store, built from its location (no request is made).
fn opened(grant: BucketGrant) -> std::result::Result<Opened, (String, String)> {
    let (store, prefix) = open_store(&grant.location).map_err(|e| (grant.name.clone(), e))?;
    let sorted = !matches!(grant.location, Location::Local { .. });
    Ok(Opened {
        grant,
        store,
        prefix,
        sorted,
    })
}

/// The store of `location` and the prefix its keys are below (`""`: its root). No request is
/// made; errors carry no credential.
pub fn open_store(
    location: &Location,
) -> std::result::Result<(Arc<dyn ObjectStore>, String), String> {
    match location {
        Location::S3 {
            bucket,
            prefix,
            region,
            endpoint,
            credentials,
        } => {
            let mut b = match credentials {
                Credentials::Environment => AmazonS3Builder::from_env(),
                _ => AmazonS3Builder::new(),
            }
            .with_bucket_name(bucket)
            .with_retry(retry())
            .with_client_options(client_options());
            if let Some(r) = region {
                b = b.with_region(r);
            }
            if let Some(e) = endpoint {
                b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
            }
            match credentials {
                Credentials::Environment => {}
                Credentials::Anonymous => b = b.with_skip_signature(true),
                Credentials::Keys {
                    access_key_id,
                    secret_access_key,
                    session_token,
                } => {
                    b = b
                        .with_access_key_id(access_key_id)
                        .with_secret_access_key(secret_access_key);
                    if let Some(t) = session_token {
                        b = b.with_token(t);
                    }
                }
                Credentials::AccountKey(_) | Credentials::ServiceAccountKey(_) => {
                    return Err("only S3 keys sign S3 requests".into());
                }
            }
            let store = b.build().map_err(|e| scrub(&e.to_string(), credentials))?;
            Ok((Arc::new(store), prefix.clone()))
        }
        Location::Gcs {
            bucket,
            prefix,
            endpoint,
            credentials,
        } => {
            let store = gcs_store(bucket, endpoint, credentials)?;
            Ok((store, prefix.clone()))
        }
        Location::Azure {
            account,
            container,
            prefix,
            endpoint,
            credentials,
        } => {
            let store = azure_store(account, container, endpoint, credentials)?;
            Ok((store, prefix.clone()))
        }
        Location::Local { dir } => {
            let store = LocalFileSystem::new_with_prefix(dir)
                .map_err(|e| format!("folder `{}`: {e}", dir.display()))?;
            Ok((Arc::new(store), String::new()))
        }
    }
}

/// An Azure container's store.
fn azure_store(
    account: &Option<String>,
    container: &str,
    endpoint: &Option<String>,
    credentials: &Credentials,
) -> std::result::Result<Arc<dyn ObjectStore>, String> {
    use object_store::azure::MicrosoftAzureBuilder;
    let mut b = match credentials {
        Credentials::Environment => MicrosoftAzureBuilder::from_env(),
        _ => MicrosoftAzureBuilder::new(),
    }
    .with_container_name(container)
    .with_retry(retry())
    .with_client_options(client_options());
    if let Some(a) = account {
        b = b.with_account(a);
    }
    if let Some(e) = endpoint {
        b = b
            .with_endpoint(e.clone())
            .with_allow_http(e.starts_with("http://"));
    }
    match credentials {
        Credentials::Environment => {}
        Credentials::Anonymous => b = b.with_skip_signature(true),
        Credentials::AccountKey(k) => b = b.with_access_key(k),
        Credentials::Keys { .. } | Credentials::ServiceAccountKey(_) => {
            return Err("only an account key signs Azure requests".into());
        }
    }
    let store = b.build().map_err(|e| scrub(&e.to_string(), credentials))?;
    Ok(Arc::new(store))
}

/// A Google Cloud Storage bucket's store. `object_store` takes another server's address only
/// inside a service account's key (`gcs_base_url`), so an endpoint goes there: into the
/// granted key, or into a key that turns signing off (`anonymous`, as an emulator wants).
fn gcs_store(
    bucket: &str,
    endpoint: &Option<String>,
    credentials: &Credentials,
) -> std::result::Result<Arc<dyn ObjectStore>, String> {
    use object_store::gcp::GoogleCloudStorageBuilder;
    let http = endpoint.as_ref().is_some_and(|e| e.starts_with("http://"));
    let mut b = match credentials {
        Credentials::Environment => GoogleCloudStorageBuilder::from_env(),
        _ => GoogleCloudStorageBuilder::new(),
    }
    .with_bucket_name(bucket)
    .with_retry(retry())
    .with_client_options(client_options().with_allow_http(http));
    let key = match (credentials, endpoint) {
        (Credentials::ServiceAccountKey(k), e) => Some(with_base_url(k, e.as_deref())?),
        (Credentials::Anonymous, e) => {
            b = b.with_skip_signature(true);
            e.as_deref().map(unsigned_key)
        }
        (Credentials::Environment, None) => None,
        (Credentials::Environment, Some(_)) => {
            return Err(
                "a gs:// grant with an `endpoint` needs `service_account_key` \
                 (the name of a secret) or `anonymous = true`"
                    .into(),
            );
        }
        (Credentials::Keys { .. } | Credentials::AccountKey(_), _) => {
            return Err("only a service account's key signs Google Cloud Storage requests".into());
        }
    };
    if let Some(key) = key {
        b = b.with_service_account_key(key);
    }
    let store = b.build().map_err(|e| scrub(&e.to_string(), credentials))?;
    Ok(Arc::new(store))
}

/// A service account's key with `gcs_base_url` set to `endpoint` (when given).
fn with_base_url(key: &str, endpoint: Option<&str>) -> std::result::Result<String, String> {
    let Some(endpoint) = endpoint else {
        return Ok(key.to_owned());
    };
    let mut fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(key)
        .map_err(|e| format!("the service account key is not a JSON object ({e})"))?;
    fields.insert("gcs_base_url".into(), endpoint.trim_end_matches('/').into());
    Ok(serde_json::Value::Object(fields).to_string())
}

/// A key that only carries `endpoint` and signs nothing (`disable_oauth`): a public bucket
/// or an emulator there.
fn unsigned_key(endpoint: &str) -> String {
    serde_json::json!({
        "disable_oauth": true,
        "gcs_base_url": endpoint.trim_end_matches('/'),
        "private_key": "",
        "private_key_id": "",
        "client_email": "",
    })
    .to_string()
}

/// Timeouts of every request to a store.
fn client_options() -> ClientOptions {
    ClientOptions::new()
        .with_timeout(Duration::from_secs(60))
        .with_connect_timeout(Duration::from_secs(10))
}

/// A few quick retries: a server that is down fails the read in seconds, not minutes.
fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
    }
}

impl Opened {
    /// `key` (already checked) below the grant's prefix, as the store's path.
    fn path(&self, key: &str, bucket: &str) -> Result<Path> {
        let full = match (self.prefix.as_str(), key) {
            ("", k) => k.to_owned(),
            (p, "") => p.to_owned(),
            (p, k) => format!("{p}/{k}"),
        };
        Path::parse(&full).map_err(|e| {
            ObjectError::Denied(format!(
                "bucket `{bucket}`: key `{}`: {e}",
                key.escape_debug()
            ))
        })
    }

    /// Folder `folder` (a checked key or `""`) below the prefix; `None` for the store's root.
    fn folder(&self, folder: &str, bucket: &str) -> Result<Option<Path>> {
        if folder.is_empty() && self.prefix.is_empty() {
            return Ok(None);
        }
        self.path(folder, bucket).map(Some)
    }

    /// What a connector sees of `meta`: its key relative to the prefix (`None` when outside).
    fn info(&self, meta: &ObjectMeta) -> Option<ObjectInfo> {
        let full = meta.location.as_ref();
        let key = match self.prefix.as_str() {
            "" => full,
            p => full.strip_prefix(p)?.strip_prefix('/')?,
        };
        Some(ObjectInfo {
            key: key.to_owned(),
            size: meta.size,
            last_modified_us: meta.last_modified.timestamp_micros(),
            etag: meta.e_tag.clone(),
        })
    }

    /// The store's error in words a connector may see: the grant's name and the key, never
    /// the bucket's URL, prefix or a credential.
    fn failure(&self, key: &str, e: object_store::Error) -> ObjectError {
        use object_store::Error as E;
        let what = format!("bucket `{}`: `{}`", self.grant.name, key.escape_debug());
        let text = e.to_string();
        let code = s3_code(&text)
            .or_else(|| {
                ["403 Forbidden", "401 Unauthorized"]
                    .into_iter()
                    .find(|s| text.contains(s))
            })
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        let refused = text.contains("403 Forbidden") || text.contains("401 Unauthorized");
        tracing::debug!(bucket = %self.grant.name, "object store: {}", self.scrub(&text));
        match e {
            _ if text.contains("NoSuchBucket") || text.contains("ContainerNotFound") => {
                ObjectError::Store(format!(
                    "bucket grant `{}`: the bucket does not exist{code}",
                    self.grant.name
                ))
            }
            E::NotFound { .. } => ObjectError::NotFound(format!("{what}: no such object")),
            E::Precondition { .. } | E::NotModified { .. } => ObjectError::Changed(format!(
                "{what}: the object changed while it was read{code}"
            )),
            E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
                ObjectError::Auth(format!("{what}: the store refused the credentials{code}"))
            }
            _ if refused => {
                ObjectError::Auth(format!("{what}: the store refused the credentials{code}"))
            }
            other => ObjectError::Store(format!("{what}: {}", self.scrub(&root_cause(&other)))),
        }
    }

    /// `text` without credentials, the endpoint, the bucket's name or the prefix.
    fn scrub(&self, text: &str) -> String {
        let location = &self.grant.location;
        let mut out = match location.credentials() {
            Some(c) => scrub(text, c),
            None => text.to_owned(),
        };
        for hide in location.names() {
            if hide.len() > 1 {
                out = out.replace(&hide, "…");
            }
        }
        out
    }
}

/// `text` with every credential value replaced.
fn scrub(text: &str, credentials: &Credentials) -> String {
    credentials
        .values()
        .into_iter()
        .fold(text.to_owned(), |t, v| t.replace(&v, "…"))
}

/// The innermost cause of an error (`Connection refused (os error 111)`).
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// The S3 error code in a response body (`<Code>SignatureDoesNotMatch</Code>`).
fn s3_code(text: &str) -> Option<&str> {
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    Some(&text[start..start + len]).filter(|c| c.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(dir: &std::path::Path) -> Buckets {
        Buckets::new(vec![BucketGrant {
            name: "disk".into(),
            location: Location::Local {
                dir: dir.to_path_buf(),
            },
        }])
        .expect("opens")
    }

    #[tokio::test]
    async fn a_local_folder_lists_heads_and_reads_ranges_by_relative_key() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("2024/05")).expect("mkdir");
        std::fs::write(dir.path().join("2024/05/b.csv"), b"x,y\n1,2\n").expect("write");
        std::fs::write(dir.path().join("2024/a.csv"), b"x\n").expect("write");
        std::fs::write(dir.path().join("top.json"), b"[]").expect("write");
        let b = local(dir.path());
        let all = b.list("disk", "", None).await.expect("lists");
        let keys: Vec<&str> = all.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["2024/05/b.csv", "2024/a.csv", "top.json"]);
        let part = b.list("disk", "2024/0", None).await.expect("lists");
        assert_eq!(part.objects.len(), 1, "a partial name filters");
        let after = b.list("disk", "", Some("2024/a.csv")).await.expect("lists");
        assert_eq!(after.objects[0].key, "top.json");
        let head = b.head("disk", "2024/05/b.csv").await.expect("heads");
        assert_eq!(head.size, 8);
        let bytes = b
            .get("disk", "2024/05/b.csv", 2, 100, head.etag.clone())
            .await;
        assert_eq!(bytes.expect("reads"), b"y\n1,2\n");
        let stale = b
            .get("disk", "2024/05/b.csv", 0, 4, Some("\"other\"".into()))
            .await;
        assert!(matches!(stale, Err(ObjectError::Changed(_))), "{stale:?}");
    }

    #[tokio::test]
    async fn nothing_outside_the_grant_is_reachable() {
        let dir = tempfile::tempdir().expect("tmp");
        let inner = dir.path().join("granted");
        std::fs::create_dir_all(&inner).expect("mkdir");
        std::fs::write(dir.path().join("secret.txt"), b"s").expect("write");
        let b = local(&inner);
        for key in ["../secret.txt", "/etc/passwd", "a/../../secret.txt"] {
            let e = b.get("disk", key, 0, 10, None).await;
            assert!(matches!(e, Err(ObjectError::Denied(_))), "{key}: {e:?}");
        }
        let other = b.head("other", "x").await.expect_err("refused").to_string();
        assert!(
            other.contains("no bucket grant `other`") && other.contains("`disk`"),
            "{other}"
        );
        let missing = b.head("disk", "nope.csv").await;
        assert!(
            matches!(missing, Err(ObjectError::NotFound(_))),
            "{missing:?}"
        );
        assert!(
            !missing
                .expect_err("refused")
                .to_string()
                .contains(&*inner.to_string_lossy())
        );
    }

    #[test]
    fn s3_codes_are_read_from_response_bodies() {
        assert_eq!(
            s3_code("403: <Error><Code>SignatureDoesNotMatch</Code>"),
            Some("SignatureDoesNotMatch")
        );
        assert_eq!(s3_code("no body"), None);
    }
}
