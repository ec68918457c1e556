//! `[grants.buckets.NAME]` turned into the host's bucket grants: the URL parsed, and the
//! credentials read from named secrets (ones without a host, so they can never go out over
//! HTTP), from the cloud's environment, or none for a public bucket.

use sluice_objects::{BucketGrant, Buckets, Credentials, Location};

use crate::spec::BucketGrantSpec;
use crate::{PipelineError, PipelineSpec};

/// The bucket grants of `spec`, opened.
pub(crate) fn buckets(spec: &PipelineSpec) -> Result<Buckets, PipelineError> {
    let cfg = |name: &str, reason: String| PipelineError::Config {
        pipeline: spec.name.clone(),
        reason: format!("bucket grant `{name}`: {reason}"),
    };
    let mut grants = Vec::new();
    for (name, g) in &spec.grants.buckets {
        grants.push(grant(spec, name, g).map_err(|r| cfg(name, r))?);
    }
    Buckets::new(grants).map_err(|reason| PipelineError::Config {
        pipeline: spec.name.clone(),
        reason,
    })
}

fn grant(spec: &PipelineSpec, name: &str, g: &BucketGrantSpec) -> Result<BucketGrant, String> {
    let azure = g.url.starts_with("az://");
    let gcs = g.url.starts_with("gs://");
    if !azure && (g.account.is_some() || g.access_key.is_some()) {
        return Err("`account` and `access_key` are for az:// grants".into());
    }
    if !gcs && g.service_account_key.is_some() {
        return Err("`service_account_key` is for gs:// grants".into());
    }
    let credentials = if azure {
        one_key_credentials(
            spec,
            g,
            "access_key",
            &g.access_key,
            Credentials::AccountKey,
        )?
    } else if gcs {
        let key = &g.service_account_key;
        one_key_credentials(
            spec,
            g,
            "service_account_key",
            key,
            Credentials::ServiceAccountKey,
        )?
    } else {
        credentials(spec, g)?
    };
    let mut location = Location::parse(&g.url, credentials)?;
    match &mut location {
        Location::Azure {
            account, endpoint, ..
        } => {
            account.clone_from(&g.account);
            endpoint.clone_from(&g.endpoint);
        }
        Location::S3 {
            region, endpoint, ..
        } => {
            region.clone_from(&g.region);
            endpoint.clone_from(&g.endpoint);
        }
        Location::Gcs { endpoint, .. } => {
            if g.region.is_some() {
                return Err("a gs:// grant takes no `region` (a bucket has its own)".into());
            }
            endpoint.clone_from(&g.endpoint);
        }
        Location::Local { dir } => {
            if g.region.is_some() || g.endpoint.is_some() || g.access_key_id.is_some() {
                return Err("a file:// grant takes no region, endpoint or keys".into());
            }
            if !dir.is_dir() {
                return Err(format!("folder `{}` does not exist", dir.display()));
            }
        }
    }
    Ok(BucketGrant {
        name: name.to_owned(),
        location,
    })
}

/// The credentials of a grant signed by one key (Azure's account key, a GCS service account's
/// JSON key) that field `field` names the secret of: that key, none (`anonymous`), or the
/// cloud's environment.
fn one_key_credentials(
    spec: &PipelineSpec,
    g: &BucketGrantSpec,
    field: &str,
    secret: &Option<String>,
    wrap: fn(String) -> Credentials,
) -> Result<Credentials, String> {
    if g.access_key_id.is_some() || g.secret_access_key.is_some() || g.session_token.is_some() {
        let scheme = g.url.split("://").next().unwrap_or_default();
        return Err(format!(
            "a {scheme}:// grant takes `{field}` (the name of a secret), not S3 keys"
        ));
    }
    match (secret, g.anonymous) {
        (Some(k), false) => Ok(wrap(hostless_secret(spec, field, k)?)),
        (None, true) => Ok(Credentials::Anonymous),
        (None, false) => Ok(Credentials::Environment),
        (Some(_), true) => Err("`anonymous` takes no key".into()),
    }
}

/// The value of secret `name` that field `field` names: a secret without a host (a bucket
/// key, a registry password), so it can never be sent over HTTP by a connector.
pub fn hostless_secret(spec: &PipelineSpec, field: &str, name: &str) -> Result<String, String> {
    let s = spec.secrets.get(name).ok_or_else(|| {
        format!("`{field}` names secret `{name}`, which the pipeline does not define")
    })?;
    if s.host.is_some() {
        return Err(format!(
            "secret `{name}` has a `host`: a credential the host itself uses must not be \
             sendable over HTTP; define a secret without `host` for it"
        ));
    }
    crate::sandbox::secret_value(s)
        .map_err(|e| format!("secret `{name}`: {e}"))?
        .ok_or_else(|| format!("secret `{name}` is optional and unset"))
}

fn credentials(spec: &PipelineSpec, g: &BucketGrantSpec) -> Result<Credentials, String> {
    let secret = |field: &str, name: &str| hostless_secret(spec, field, name);
    match (&g.access_key_id, &g.secret_access_key, g.anonymous) {
        (Some(id), Some(key), false) => Ok(Credentials::Keys {
            access_key_id: secret("access_key_id", id)?,
            secret_access_key: secret("secret_access_key", key)?,
            session_token: g
                .session_token
                .as_ref()
                .map(|t| secret("session_token", t))
                .transpose()?,
        }),
        (None, None, true) if g.session_token.is_none() => Ok(Credentials::Anonymous),
        (None, None, false) if g.session_token.is_none() => Ok(Credentials::Environment),
        (_, _, true) => Err("`anonymous` takes no keys".into()),
        _ => Err(
            "give both `access_key_id` and `secret_access_key` (names of secrets), or \
                  neither to sign with the AWS environment"
                .into(),
        ),
    }
}

/// Each grant in words for `sluice plan`: name, where (no credential), how it signs in.
pub(crate) fn describe(spec: &PipelineSpec) -> Vec<String> {
    spec.grants
        .buckets
        .iter()
        .map(|(name, g)| {
            let how = match (&g.access_key_id, g.anonymous) {
                _ if g.url.starts_with("file://") => String::new(),
                _ if g.url.starts_with("az://") => match &g.access_key {
                    Some(k) => format!(", account key from secret `{k}`"),
                    None if g.anonymous => ", unsigned (public)".to_owned(),
                    None => ", keys from the Azure environment".to_owned(),
                },
                _ if g.url.starts_with("gs://") => match &g.service_account_key {
                    Some(k) => format!(", service account key from secret `{k}`"),
                    None if g.anonymous => ", unsigned (public)".to_owned(),
                    None => ", credentials from the Google environment".to_owned(),
                },
                (Some(id), _) => format!(
                    ", keys from secrets `{id}`, `{}`",
                    g.secret_access_key.as_deref().unwrap_or("?")
                ),
                (None, true) => ", unsigned (public)".to_owned(),
                (None, false) => ", keys from the AWS environment".to_owned(),
            };
            let at = g
                .endpoint
                .as_ref()
                .map(|e| format!(" at {e}"))
                .unwrap_or_default();
            format!("`{name}` → {}{at}{how}", g.url)
        })
        .collect()
}
