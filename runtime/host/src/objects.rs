//! The `objects` import: the connector names a bucket grant and keys below its prefix;
//! `sluice-objects` checks each key and reads through the store the host holds the
//! credentials of.

use crate::State;
use crate::bindings::sluice::connector::objects;

impl objects::Host for State {
    async fn buckets(&mut self) -> Vec<String> {
        self.buckets.names()
    }

    async fn list(
        &mut self,
        bucket: String,
        prefix: String,
        start_after: Option<String>,
    ) -> Result<objects::Listing, objects::ObjectError> {
        let listing = self
            .buckets
            .list(&bucket, &prefix, start_after.as_deref())
            .await
            .map_err(wit_error)?;
        Ok(objects::Listing {
            objects: listing.objects.into_iter().map(info).collect(),
            more: listing.more,
        })
    }

    async fn head(
        &mut self,
        bucket: String,
        key: String,
    ) -> Result<objects::ObjectInfo, objects::ObjectError> {
        self.buckets
            .head(&bucket, &key)
            .await
            .map(info)
            .map_err(wit_error)
    }

    async fn get(
        &mut self,
        bucket: String,
        key: String,
        offset: u64,
        length: u64,
        if_match: Option<String>,
    ) -> Result<Vec<u8>, objects::ObjectError> {
        self.buckets
            .get(&bucket, &key, offset, length, if_match)
            .await
            .map_err(wit_error)
    }
}

fn info(o: sluice_objects::ObjectInfo) -> objects::ObjectInfo {
    objects::ObjectInfo {
        key: o.key,
        size: o.size,
        last_modified_us: o.last_modified_us,
        etag: o.etag,
    }
}

fn wit_error(e: sluice_objects::ObjectError) -> objects::ObjectError {
    use sluice_objects::ObjectError as E;
    match e {
        E::Denied(m) => objects::ObjectError::Denied(m),
        E::NotFound(m) => objects::ObjectError::NotFound(m),
        E::Changed(m) => objects::ObjectError::Changed(m),
        E::Auth(m) => objects::ObjectError::Auth(m),
        E::Store(m) => objects::ObjectError::Store(m),
    }
}
