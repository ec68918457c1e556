//! A dataset under a bucket prefix (`s3://bucket/prefix/<dataset>/…`, `az://…`), for the
//! filesystem destination: every operation is one or a few requests through `object_store`, run on a
//! small runtime of its own so the destination's synchronous calls can wait on them from any
//! thread. A package's table files are written to a local temporary folder and uploaded whole
//! (multipart when large); each small file is one PUT, which S3 makes visible all at once, so
//! the `_dlt_loads` marker, written last, still commits a load. Conditional writes
//! (`If-None-Match: *`, `If-Match`) carry the pipeline lease ([`crate::lease`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use sluice_objects::object_store::{
    self, ObjectStore, PutMode, PutOptions, PutPayload, UpdateVersion, path::Path as Key,
};

use crate::tree::Tree;
use crate::{LoadError, Result};

/// A conditional write's outcome.
pub(crate) enum Written {
    /// written; its new entity tag
    Done(Option<String>),
    /// the object exists (create) or changed (update)
    Lost,
}

pub(crate) struct BucketTree {
    store: Arc<dyn ObjectStore>,
    /// keys of the dataset are below this
    prefix: String,
    shown: String,
    runtime: Option<tokio::runtime::Runtime>,
    staging: tempfile::TempDir,
}

impl BucketTree {
    /// The dataset below `prefix` of `store` (shown as `shown`). No request is made.
    pub(crate) fn open(
        store: Arc<dyn ObjectStore>,
        prefix: String,
        shown: String,
    ) -> Result<BucketTree> {
        let open = |e: std::io::Error| LoadError::Open {
            destination: shown.clone(),
            source: e.into(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sluice-bucket")
            .enable_all()
            .build()
            .map_err(open)?;
        let staging = tempfile::Builder::new()
            .prefix("sluice-bucket-staging-")
            .tempdir()
            .map_err(open)?;
        Ok(BucketTree {
            store,
            prefix,
            shown,
            runtime: Some(runtime),
            staging,
        })
    }

    /// Run `fut` on the tree's runtime and wait for it.
    fn run<T: Send + 'static>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = object_store::Result<T>> + Send + 'static,
    ) -> Result<T> {
        let Some(rt) = &self.runtime else {
            return Err(LoadError::Plan(format!("{what}: the bucket is closed")));
        };
        match futures_executor::block_on(rt.spawn(fut)) {
            Ok(r) => r.map_err(|e| LoadError::sql(format!("{what} in {}", self.shown), e)),
            Err(e) => Err(LoadError::sql(what, e)),
        }
    }

    fn key(&self, rel: &str) -> Key {
        match rel {
            "" => Key::from(self.prefix.as_str()),
            r => Key::from(format!("{}/{r}", self.prefix)),
        }
    }

    fn listed(&self, rel: &str) -> Result<object_store::ListResult> {
        let (store, key) = (self.store.clone(), self.key(rel));
        self.run(&format!("listing `{rel}`"), async move {
            store.list_with_delimiter(Some(&key)).await
        })
    }

    /// The object's bytes and entity tag; `None` when it does not exist.
    pub(crate) fn read_tagged(&self, rel: &str) -> Result<Option<(Vec<u8>, Option<String>)>> {
        let (store, key) = (self.store.clone(), self.key(rel));
        self.run(&format!("reading `{rel}`"), async move {
            match store.get(&key).await {
                Ok(r) => {
                    let tag = r.meta.e_tag.clone();
                    Ok(Some((r.bytes().await?.to_vec(), tag)))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    /// Write `rel` only if it does not exist (`etag: None`) or still has entity tag `etag`.
    pub(crate) fn write_if(
        &self,
        rel: &str,
        bytes: &[u8],
        etag: Option<String>,
    ) -> Result<Written> {
        let mode = match etag {
            None => PutMode::Create,
            Some(e) => PutMode::Update(UpdateVersion {
                e_tag: Some(e),
                version: None,
            }),
        };
        let (store, key) = (self.store.clone(), self.key(rel));
        let payload = PutPayload::from(bytes.to_vec());
        self.run(&format!("writing `{rel}`"), async move {
            let options = PutOptions {
                mode,
                ..PutOptions::default()
            };
            match store.put_opts(&key, payload, options).await {
                Ok(r) => Ok(Written::Done(r.e_tag)),
                Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => Ok(Written::Lost),
                Err(e) => Err(e),
            }
        })
    }
}

impl Drop for BucketTree {
    fn drop(&mut self) {
        // never blocks, so a tree may be dropped inside an async task
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Tree for BucketTree {
    fn describe(&self) -> String {
        self.shown.clone()
    }

    fn exists(&self, rel: &str) -> Result<bool> {
        let (store, key) = (self.store.clone(), self.key(rel));
        self.run(&format!("looking up `{rel}`"), async move {
            match store.head(&key).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    fn files(&self, rel: &str) -> Result<Vec<String>> {
        let mut out: Vec<String> = self
            .listed(rel)?
            .objects
            .into_iter()
            .filter_map(|o| o.location.filename().map(str::to_owned))
            .collect();
        out.sort();
        Ok(out)
    }

    fn folders(&self, rel: &str) -> Result<Vec<String>> {
        let mut out: Vec<String> = self
            .listed(rel)?
            .common_prefixes
            .into_iter()
            .filter_map(|p| p.filename().map(str::to_owned))
            .collect();
        out.sort();
        Ok(out)
    }

    fn read(&self, rel: &str) -> Result<Vec<u8>> {
        self.read_tagged(rel)?
            .map(|(b, _)| b)
            .ok_or_else(|| LoadError::Plan(format!("`{rel}` is missing from {}", self.shown)))
    }

    fn write(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        let (store, key) = (self.store.clone(), self.key(rel));
        let payload = PutPayload::from(bytes.to_vec());
        self.run(&format!("writing `{rel}`"), async move {
            store.put(&key, payload).await.map(drop)
        })
    }

    fn place(&self, local: &Path, rel: &str) -> Result<()> {
        let (store, key) = (self.store.clone(), self.key(rel));
        let file = local.to_path_buf();
        self.run(&format!("uploading `{rel}`"), async move {
            use tokio::io::AsyncWriteExt as _;
            let io = |e: std::io::Error| object_store::Error::Generic {
                store: "upload",
                source: e.into(),
            };
            let mut from = tokio::fs::File::open(&file).await.map_err(io)?;
            let mut to = object_store::buffered::BufWriter::new(store, key);
            tokio::io::copy(&mut from, &mut to).await.map_err(io)?;
            to.shutdown().await.map_err(io)
        })?;
        std::fs::remove_file(local).map_err(crate::tree::io("removing an uploaded file"))
    }

    fn remove(&self, rel: &str) -> Result<()> {
        let (store, key) = (self.store.clone(), self.key(rel));
        self.run(&format!("removing `{rel}`"), async move {
            match store.delete(&key).await {
                Err(object_store::Error::NotFound { .. }) => Ok(()),
                r => r,
            }
        })
    }

    fn remove_folder(&self, rel: &str) -> Result<()> {
        let (store, key) = (self.store.clone(), self.key(rel));
        self.run(&format!("removing `{rel}`"), async move {
            let keys = store
                .list(Some(&key))
                .map(|m| m.map(|m| m.location))
                .boxed();
            let mut deleted = store.delete_stream(keys);
            while let Some(r) = deleted.next().await {
                match r {
                    Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
    }

    fn local_staging(&self, load_id: &str) -> PathBuf {
        self.staging.path().join(load_id)
    }

    fn remove_staging(&self, load_id: &str) -> Result<()> {
        let _ = std::fs::remove_dir_all(self.local_staging(load_id));
        self.remove_folder(&crate::filesystem::staging_rel(load_id))
    }

    fn tail(&self, rel: &str, n: u64) -> Result<Vec<u8>> {
        let (store, key) = (self.store.clone(), self.key(rel));
        self.run(&format!("reading `{rel}`"), async move {
            let size = store.head(&key).await?.size;
            let range = size.saturating_sub(n)..size;
            Ok(store.get_range(&key, range).await?.to_vec())
        })
    }
}
