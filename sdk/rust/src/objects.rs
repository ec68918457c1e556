//! Buckets the pipeline grants, read through the host: list keys below a grant's prefix,
//! look one up, and read it in ranged gets ([`ObjectReader`] turns them into a
//! `std::io::Read`). The connector names a grant and keys; the host holds the bucket's URL
//! and credentials.

use std::io::Read;

pub use crate::bindings::sluice::connector::objects::{
    Listing, ObjectError, ObjectInfo, buckets, get, head, list,
};

/// Bytes asked of the host per get: large, since each get is a request to the store.
pub const GET_BYTES: u64 = 8 << 20;

/// Every object of `bucket` whose key starts with `prefix`, in key order, following the
/// listing's pages.
pub fn list_all(bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, ObjectError> {
    let mut all: Vec<ObjectInfo> = Vec::new();
    loop {
        let after = all.last().map(|o| o.key.clone());
        let page = list(bucket, prefix, after.as_deref())?;
        let more = page.more && !page.objects.is_empty();
        all.extend(page.objects);
        if !more {
            return Ok(all);
        }
    }
}

/// Bytes `start .. end` of an object, read in gets of [`GET_BYTES`] that each require the
/// object's entity tag unchanged (when it has one): a change while it is read fails the read
/// with [`ObjectError::Changed`] inside the `io::Error`.
pub struct ObjectReader {
    bucket: String,
    key: String,
    etag: Option<String>,
    pos: u64,
    end: u64,
    chunk: Vec<u8>,
    at: usize,
}

impl ObjectReader {
    /// `object` from byte `start` to its end.
    pub fn new(bucket: &str, object: &ObjectInfo, start: u64) -> ObjectReader {
        ObjectReader::range(bucket, object, start, object.size)
    }

    /// `object`'s bytes `start .. end`.
    pub fn range(bucket: &str, object: &ObjectInfo, start: u64, end: u64) -> ObjectReader {
        ObjectReader {
            bucket: bucket.to_owned(),
            key: object.key.clone(),
            etag: object.etag.clone(),
            pos: start,
            end: end.min(object.size),
            chunk: Vec::new(),
            at: 0,
        }
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.chunk.len() {
            if self.pos >= self.end || buf.is_empty() {
                return Ok(0);
            }
            let want = (self.end - self.pos).min(GET_BYTES);
            self.chunk = get(
                &self.bucket,
                &self.key,
                self.pos,
                want,
                self.etag.as_deref(),
            )
            .map_err(|e| std::io::Error::other(error(e).message))?;
            self.at = 0;
            if self.chunk.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("`{}` ended at byte {} of {}", self.key, self.pos, self.end),
                ));
            }
            self.pos += self.chunk.len() as u64;
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The connector error for a refused or failed bucket call.
pub fn error(e: ObjectError) -> crate::Error {
    use crate::ErrorKind as K;
    let (kind, message, retryable) = match e {
        ObjectError::Denied(m) | ObjectError::NotFound(m) => (K::Config, m, false),
        ObjectError::Changed(m) => (K::Data, m, true),
        ObjectError::Auth(m) => (K::Auth, m, false),
        ObjectError::Store(m) => (K::External, m, true),
    };
    crate::Error {
        kind,
        message,
        retryable,
    }
}
