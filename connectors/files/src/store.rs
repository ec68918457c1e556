//! Where a resource's files are: folders the pipeline grants (read through WASI), or a bucket
//! grant (`"bucket": "NAME"`, read through the host's `objects` interface by key, each ranged
//! get requiring the object's entity tag unchanged). The rest of the connector sees paths,
//! their size and time, and readers of their bytes.

use std::io::Read;

use sluice_sdk::objects::{self, ObjectInfo, ObjectReader};
use sluice_sdk::serde_json::Value;
use sluice_sdk::{Error, ErrorKind, error};

/// A file's size, modification time and (in a bucket) entity tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    pub size: u64,
    /// microseconds since the Unix epoch
    pub modified_us: i64,
    pub etag: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Store {
    /// paths in the granted folders
    Disk,
    /// keys of a bucket grant
    Bucket(String),
}

impl Store {
    pub fn from_config(config: &Value) -> Store {
        match config.get("bucket").and_then(Value::as_str) {
            Some(b) => Store::Bucket(b.to_owned()),
            None => Store::Disk,
        }
    }

    /// `path`'s size, time and tag now.
    pub fn stat(&self, path: &str) -> Result<Stat, Error> {
        match self {
            Store::Disk => disk_stat(path),
            Store::Bucket(b) => objects::head(b, path)
                .map(|o| stat_of(&o))
                .map_err(objects::error),
        }
    }

    /// `path`'s bytes from `start` to its end (`stat` as taken when it was opened).
    pub fn reader_at(&self, path: &str, stat: &Stat, start: u64) -> Result<Box<dyn Read>, Error> {
        self.range(path, stat, start, stat.size)
    }

    /// `path`'s bytes `start .. end`.
    pub fn range(
        &self,
        path: &str,
        stat: &Stat,
        start: u64,
        end: u64,
    ) -> Result<Box<dyn Read>, Error> {
        match self {
            Store::Disk => {
                use std::io::{Seek, SeekFrom};
                let mut f = std::fs::File::open(path)
                    .map_err(|e| error(ErrorKind::Config, format!("cannot open `{path}`: {e}")))?;
                f.seek(SeekFrom::Start(start))
                    .map_err(|e| error(ErrorKind::Data, format!("file `{path}`: {e}")))?;
                Ok(Box::new(f.take(end.saturating_sub(start))))
            }
            Store::Bucket(b) => {
                let info = ObjectInfo {
                    key: path.to_owned(),
                    size: stat.size,
                    last_modified_us: stat.modified_us,
                    etag: stat.etag.clone(),
                };
                Ok(Box::new(ObjectReader::range(b, &info, start, end)))
            }
        }
    }

    /// Every object below `base` (a key's folder, `""` for the whole grant) with its path
    /// below `base`; only for buckets (folders are walked, see `listing`).
    pub fn objects_below(&self, base: &str) -> Result<Vec<(String, String, Stat)>, Error> {
        let Store::Bucket(b) = self else {
            return Ok(Vec::new());
        };
        let prefix = match base {
            "" => String::new(),
            b => format!("{}/", b.trim_end_matches('/')),
        };
        let found = objects::list_all(b, &prefix).map_err(objects::error)?;
        Ok(found
            .into_iter()
            .map(|o| {
                let rel = o.key.strip_prefix(&prefix).unwrap_or(&o.key).to_owned();
                (o.key.clone(), rel, stat_of(&o))
            })
            .collect())
    }
}

fn stat_of(o: &ObjectInfo) -> Stat {
    Stat {
        size: o.size,
        modified_us: o.last_modified_us,
        etag: o.etag.clone(),
    }
}

fn disk_stat(path: &str) -> Result<Stat, Error> {
    let meta = std::fs::metadata(path)
        .map_err(|e| error(ErrorKind::Config, format!("cannot read `{path}`: {e}")))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    Ok(Stat {
        size: meta.len(),
        modified_us: modified,
        etag: None,
    })
}
