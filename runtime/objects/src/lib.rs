//! Buckets a pipeline grants, read by key.
//!
//! Invariant: a connector reaches a bucket only through a [`BucketGrant`] and only keys below
//! the grant's prefix: every key is checked ([`key`]) before it is joined to the prefix, so no
//! `..`, empty or `.` segment can climb out of it. The grant's URL, prefix and credentials
//! never leave this crate: what a connector sees (keys, errors) is relative to the grant and
//! names it.
//!
//! S3 and S3-compatible servers, Google Cloud Storage and Azure Blob Storage are reached with
//! the `object_store` crate (signed requests, retries, timeouts); `file://` grants read a
//! local folder through the same interface.

mod buckets;
mod grant;
pub mod key;

pub use buckets::{Buckets, MAX_GET_BYTES, MAX_LIST, open_store};
pub use grant::{BucketGrant, Credentials, Location};
/// The store crate, for the host's own use of a store ([`open_store`]): the bucket destination.
pub use object_store;

/// One object, with its key relative to the grant's prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// microseconds since the Unix epoch
    pub last_modified_us: i64,
    pub etag: Option<String>,
}

/// A page of a listing: objects in key order, and whether more follow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub objects: Vec<ObjectInfo>,
    pub more: bool,
}

/// What went wrong, in words that name the grant and the key but never the bucket's URL or
/// a credential.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ObjectError {
    /// no such grant, or a key the grant does not reach
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    NotFound(String),
    /// the object changed since its entity tag was taken
    #[error("{0}")]
    Changed(String),
    /// the store refused the credentials
    #[error("{0}")]
    Auth(String),
    #[error("{0}")]
    Store(String),
}

pub type Result<T, E = ObjectError> = std::result::Result<T, E>;
