//! Where a pipeline loads, as a typed value: parsed once from the destination string of a
//! pipeline file or the command line, shown without credentials, and built into a
//! [`Destination`]. The lease ([`crate::lease`]) takes its place from the same value.

use std::path::{Path, PathBuf};

use crate::{
    Destination, DuckDb, FileFormat, FileRotation, Filesystem, LoadError, PgUrl, Postgres,
    ReplaceStrategy,
};

/// A destination: `duckdb`, `duckdb:PATH`, `postgres://…`,
/// `file:///dir[?format=parquet|jsonl&file_max_rows=N&file_max_mb=N]`, or
/// `s3://bucket/prefix[?…&endpoint=URL&region=R]` (signed with the AWS environment), or
/// `az://container/prefix[?…&endpoint=URL&account=A]` (the Azure environment).
#[derive(Clone, Debug, PartialEq)]
pub enum DestinationConfig {
    DuckDb {
        path: PathBuf,
    },
    Postgres(PgUrl),
    Filesystem {
        dir: PathBuf,
        format: FileFormat,
        rotation: FileRotation,
    },
    /// the filesystem destination's layout under a bucket (or container) prefix
    Bucket {
        cloud: Cloud,
        /// the bucket, or the Azure container
        bucket: String,
        /// no leading or trailing `/`
        prefix: String,
        /// an S3-compatible server (`AWS_ENDPOINT_URL`, else AWS), or an Azure account's blob
        /// endpoint (Azurite; else the account's)
        endpoint: Option<String>,
        /// S3: the region; Azure: the storage account
        region: Option<String>,
        format: FileFormat,
        rotation: FileRotation,
    },
}

/// Which object store a bucket destination is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cloud {
    /// `s3://`: AWS S3 and S3-compatible servers
    S3,
    /// `az://`: Azure Blob Storage
    Azure,
}

/// The options of a `file://` or `s3://` destination.
struct FileOptions {
    format: FileFormat,
    rotation: FileRotation,
    endpoint: Option<String>,
    region: Option<String>,
}

impl DestinationConfig {
    /// Parse `text` for pipeline `pipeline` (`duckdb` alone is `./<pipeline>.duckdb`).
    pub fn parse(text: &str, pipeline: &str) -> Result<DestinationConfig, String> {
        if text == "duckdb" {
            return Ok(DestinationConfig::DuckDb {
                path: PathBuf::from(format!("{pipeline}.duckdb")),
            });
        }
        if let Some(path) = text.strip_prefix("duckdb:")
            && !path.is_empty()
        {
            return Ok(DestinationConfig::DuckDb { path: path.into() });
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return PgUrl::parse(text)
                .map(DestinationConfig::Postgres)
                .map_err(|e| format!("destination: {e}"));
        }
        if let Some(rest) = text.strip_prefix("file://") {
            return parse_file_url(text, rest);
        }
        if let Some(rest) = text.strip_prefix("s3://") {
            return parse_bucket_url(text, rest, Cloud::S3);
        }
        if let Some(rest) = text.strip_prefix("az://") {
            return parse_bucket_url(text, rest, Cloud::Azure);
        }
        Err(format!(
            "destination `{}` is not supported; use `duckdb`, `duckdb:PATH`, \
             `postgres://user@host:port/db`, `file:///dir`, `s3://bucket/prefix` or \
             `az://container/prefix`",
            PgUrl::parse(text).map_or_else(|_| text.to_owned(), |u| u.redacted())
        ))
    }

    /// The destination as it may be shown: no password.
    pub fn describe(&self) -> String {
        match self {
            DestinationConfig::DuckDb { path } => format!("duckdb:{}", path.display()),
            DestinationConfig::Postgres(url) => url.redacted(),
            DestinationConfig::Filesystem {
                dir,
                format,
                rotation,
            } => format!(
                "file://{}{}",
                dir.display(),
                query(file_options(*format, *rotation))
            ),
            DestinationConfig::Bucket {
                cloud,
                bucket,
                prefix,
                endpoint,
                region,
                format,
                rotation,
            } => {
                let mut options = file_options(*format, *rotation);
                options.extend(endpoint.iter().map(|e| format!("endpoint={e}")));
                let (scheme, region_key) = match cloud {
                    Cloud::S3 => ("s3", "region"),
                    Cloud::Azure => ("az", "account"),
                };
                options.extend(region.iter().map(|r| format!("{region_key}={r}")));
                format!("{scheme}://{bucket}/{prefix}{}", query(options))
            }
        }
    }

    /// Whether merge dispositions can be applied here (SQL destinations; files take append
    /// and replace).
    pub fn supports_merge(&self) -> bool {
        !matches!(
            self,
            DestinationConfig::Filesystem { .. } | DestinationConfig::Bucket { .. }
        )
    }

    /// The DuckDB file, when it is one.
    pub fn duckdb_file(&self) -> Option<&Path> {
        match self {
            DestinationConfig::DuckDb { path } => Some(path),
            _ => None,
        }
    }

    /// Open `dataset` of this destination for `pipeline`.
    pub fn build(
        &self,
        dataset: &str,
        pipeline: &str,
        replace: ReplaceStrategy,
    ) -> Result<Box<dyn Destination>, LoadError> {
        Ok(match self {
            DestinationConfig::DuckDb { path } => {
                let mut db = DuckDb::open(&path.to_string_lossy(), dataset)?;
                db.set_replace_strategy(replace);
                Box::new(db)
            }
            DestinationConfig::Postgres(url) => {
                let mut pg = Postgres::connect(url, dataset)?;
                pg.set_replace_strategy(replace);
                Box::new(pg)
            }
            DestinationConfig::Filesystem {
                dir,
                format,
                rotation,
            } => Box::new(Filesystem::open(
                dir, dataset, *format, *rotation, pipeline,
            )?),
            DestinationConfig::Bucket {
                format, rotation, ..
            } => Box::new(Filesystem::on(
                Box::new(self.bucket_tree(dataset)?),
                *format,
                *rotation,
                pipeline,
            )),
        })
    }

    /// The dataset's folder in the bucket.
    pub(crate) fn bucket_tree(
        &self,
        dataset: &str,
    ) -> Result<crate::bucket_tree::BucketTree, LoadError> {
        let DestinationConfig::Bucket {
            cloud,
            bucket,
            prefix,
            endpoint,
            region,
            ..
        } = self
        else {
            return Err(LoadError::Plan("not a bucket destination".into()));
        };
        let credentials = sluice_objects::Credentials::Environment;
        let location = match cloud {
            Cloud::S3 => sluice_objects::Location::S3 {
                bucket: bucket.clone(),
                prefix: prefix.clone(),
                region: region.clone(),
                endpoint: endpoint.clone(),
                credentials,
            },
            Cloud::Azure => sluice_objects::Location::Azure {
                account: region.clone(),
                container: bucket.clone(),
                prefix: prefix.clone(),
                endpoint: endpoint.clone(),
                credentials,
            },
        };
        let (store, _) = sluice_objects::open_store(&location).map_err(|e| LoadError::Open {
            destination: self.describe(),
            source: e.into(),
        })?;
        let under = match prefix.as_str() {
            "" => dataset.to_owned(),
            p => format!("{p}/{dataset}"),
        };
        crate::bucket_tree::BucketTree::open(store, under, self.describe())
    }

    /// Try once to take `pipeline`'s lease on this destination ([`crate::lease`]).
    pub fn try_lease(
        &self,
        dataset: &str,
        pipeline: &str,
        holder: &crate::lease::Holder,
    ) -> crate::Result<crate::lease::Attempt> {
        use crate::lease;
        match self {
            DestinationConfig::DuckDb { path } => {
                lease::try_file(&lease::duckdb_lease_path(path, pipeline), holder)
            }
            DestinationConfig::Postgres(url) => lease::try_postgres(url, dataset, pipeline, holder),
            DestinationConfig::Filesystem { dir, .. } => lease::try_file(
                &lease::filesystem_lease_path(&dir.join(dataset), pipeline),
                holder,
            ),
            DestinationConfig::Bucket { .. } => {
                lease::try_bucket(self.bucket_tree(dataset)?, pipeline, holder)
            }
        }
    }
}

/// The `?a=b&…` of `options` (empty when none).
fn query(options: Vec<String>) -> String {
    if options.is_empty() {
        String::new()
    } else {
        format!("?{}", options.join("&"))
    }
}

/// The non-default file options, as written in a destination URL.
fn file_options(format: FileFormat, rotation: FileRotation) -> Vec<String> {
    let mut options = Vec::new();
    if format == FileFormat::Jsonl {
        options.push("format=jsonl".to_owned());
    }
    let default = FileRotation::default();
    if rotation.max_rows != default.max_rows {
        options.push(format!("file_max_rows={}", rotation.max_rows));
    }
    if rotation.max_bytes != default.max_bytes {
        options.push(format!("file_max_mb={}", rotation.max_bytes >> 20));
    }
    options
}

/// `file:///dir` and its options: `format=parquet|jsonl`, `file_max_rows=N`,
/// `file_max_mb=N` (when a table's file of a load is finished and the next begun).
fn parse_file_url(text: &str, rest: &str) -> Result<DestinationConfig, String> {
    let (dir, query) = rest.split_once('?').unwrap_or((rest, ""));
    let o = parse_options(text, query, None)?;
    if dir.is_empty() {
        return Err(format!(
            "destination `{text}` names no directory (file:///path/to/dir)"
        ));
    }
    Ok(DestinationConfig::Filesystem {
        dir: dir.into(),
        format: o.format,
        rotation: o.rotation,
    })
}

/// `s3://bucket/prefix` with the file options and `endpoint=URL`, `region=R` (defaults:
/// `AWS_ENDPOINT_URL`, `AWS_REGION`), or `az://container/prefix` with `endpoint=URL`,
/// `account=A` (default: `AZURE_STORAGE_ACCOUNT_NAME`, read when the store is opened).
fn parse_bucket_url(text: &str, rest: &str, cloud: Cloud) -> Result<DestinationConfig, String> {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let o = parse_options(text, query, Some(cloud))?;
    let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
    if bucket.is_empty() {
        return Err(format!(
            "destination `{text}` names no bucket (s3://bucket/prefix, az://container/prefix)"
        ));
    }
    let env = |var: &str| std::env::var(var).ok().filter(|v| !v.is_empty());
    let (endpoint, region) = match cloud {
        Cloud::S3 => (
            o.endpoint.or_else(|| env("AWS_ENDPOINT_URL")),
            o.region.or_else(|| env("AWS_REGION")),
        ),
        Cloud::Azure => (o.endpoint, o.region),
    };
    Ok(DestinationConfig::Bucket {
        cloud,
        bucket: bucket.to_owned(),
        prefix: prefix.trim_matches('/').to_owned(),
        endpoint,
        region,
        format: o.format,
        rotation: o.rotation,
    })
}

fn parse_options(text: &str, query: &str, cloud: Option<Cloud>) -> Result<FileOptions, String> {
    let mut o = FileOptions {
        format: FileFormat::Parquet,
        rotation: FileRotation::default(),
        endpoint: None,
        region: None,
    };
    let number = |key: &str, v: &str| -> Result<u64, String> {
        v.parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("destination `{text}`: `{key}` must be a positive number"))
    };
    for option in query.split('&').filter(|o| !o.is_empty()) {
        match option.split_once('=').unwrap_or((option, "")) {
            ("format", "parquet") => o.format = FileFormat::Parquet,
            ("format", "jsonl") => o.format = FileFormat::Jsonl,
            ("file_max_rows", v) => o.rotation.max_rows = number("file_max_rows", v)?,
            ("file_max_mb", v) => {
                o.rotation.max_bytes = number("file_max_mb", v)?.saturating_mul(1 << 20)
            }
            ("endpoint", v) if cloud.is_some() && !v.is_empty() => o.endpoint = Some(v.to_owned()),
            ("region", v) if cloud == Some(Cloud::S3) && !v.is_empty() => {
                o.region = Some(v.to_owned())
            }
            ("account", v) if cloud == Some(Cloud::Azure) && !v.is_empty() => {
                o.region = Some(v.to_owned())
            }
            _ => {
                let more = match cloud {
                    Some(Cloud::S3) => ", endpoint=URL, region=R",
                    Some(Cloud::Azure) => ", endpoint=URL, account=A",
                    None => "",
                };
                return Err(format!(
                    "destination `{text}`: unknown option `{option}` (use format=parquet|jsonl, \
                     file_max_rows=N, file_max_mb=N{more})"
                ));
            }
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_destination_form_parses_and_shows_no_password() {
        let d = |t: &str| DestinationConfig::parse(t, "p");
        assert_eq!(
            d("duckdb").expect("duckdb"),
            DestinationConfig::DuckDb {
                path: "p.duckdb".into()
            }
        );
        assert_eq!(
            d("duckdb:/x/y.db").expect("path").describe(),
            "duckdb:/x/y.db"
        );
        let pg = d("postgres://u:secret@h:5433/db").expect("pg");
        assert!(!pg.describe().contains("secret"), "{}", pg.describe());
        assert_eq!(
            d("file:///out?format=jsonl").expect("files"),
            DestinationConfig::Filesystem {
                dir: "/out".into(),
                format: FileFormat::Jsonl,
                rotation: FileRotation::default(),
            }
        );
        assert!(d("file:///out?format=csv").is_err());
        let rotated = d("file:///out?file_max_rows=500&format=jsonl&file_max_mb=2").expect("files");
        assert_eq!(
            rotated,
            DestinationConfig::Filesystem {
                dir: "/out".into(),
                format: FileFormat::Jsonl,
                rotation: FileRotation {
                    max_rows: 500,
                    max_bytes: 2 << 20
                },
            }
        );
        assert_eq!(
            rotated.describe(),
            "file:///out?format=jsonl&file_max_rows=500&file_max_mb=2"
        );
        assert!(d("file:///out?file_max_rows=0").is_err());
        assert!(d("file:///out?file_max_mb=x").is_err());
        assert!(d("file://").is_err());
        let s3 = d("s3://lake/raw/ds?format=jsonl&endpoint=http://127.0.0.1:9000&region=eu-west-1")
            .expect("bucket");
        assert!(matches!(
            &s3,
            DestinationConfig::Bucket { bucket, prefix, format: FileFormat::Jsonl, .. }
                if bucket == "lake" && prefix == "raw/ds"
        ));
        assert_eq!(
            s3.describe(),
            "s3://lake/raw/ds?format=jsonl&endpoint=http://127.0.0.1:9000&region=eu-west-1"
        );
        assert!(!s3.supports_merge());
        assert!(d("s3://?format=jsonl").is_err());
        let az = d("az://box/raw?endpoint=http://127.0.0.1:10000/dev&account=dev").expect("az");
        assert!(
            matches!(&az, DestinationConfig::Bucket { cloud: Cloud::Azure, bucket, .. }
            if bucket == "box")
        );
        assert_eq!(
            az.describe(),
            "az://box/raw?endpoint=http://127.0.0.1:10000/dev&account=dev"
        );
        assert!(d("az://box?region=x").is_err(), "a region is for s3");
        assert!(
            d("file:///out?endpoint=http://x").is_err(),
            "endpoint is for buckets"
        );
        let e = d("mysql://u:secret@h/db").expect_err("unsupported");
        assert!(e.contains("not supported"), "{e}");
    }
}
