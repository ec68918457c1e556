//! The sandbox a pipeline grants its connector: the HTTP policy (hosts, private addresses,
//! rates, timeouts, caps), secrets with where the host places them, read grants and the
//! store's limits; and the digest pin a pipeline may set.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sluice_host::{Policy, Sandbox};

use crate::{PipelineError, PipelineSpec, grants, spec};

pub(crate) use crate::bucket_grants::describe as describe_buckets;
pub(crate) use crate::db_grants::describe as describe_databases;

/// A pipeline that pins its connector's digest refuses any other component.
pub(crate) fn check_pin(
    spec: &PipelineSpec,
    connector: &str,
    digest: &str,
) -> Result<(), PipelineError> {
    match &spec.connector.digest {
        Some(pin) if !pin.eq_ignore_ascii_case(digest) => Err(PipelineError::Config {
            pipeline: spec.name.clone(),
            reason: format!(
                "connector `{connector}` has digest `{digest}` but the pipeline pins `{pin}`"
            ),
        }),
        _ => Ok(()),
    }
}

/// The sandbox of a run of `spec`, and the folder of its linked read grants (removed when
/// the value is dropped: keep it as long as the sandbox is used).
pub(crate) fn sandbox_for(
    spec: &PipelineSpec,
    pipelines_dir: &Path,
    workdir: &Path,
) -> Result<(Sandbox, Option<grants::Staged>), PipelineError> {
    let mut policy = policy_for(spec)?;
    grant_secrets(spec, &mut policy)?;
    let (read_dirs, staged) = grants::read_dirs(spec, pipelines_dir, workdir)?;
    let sandbox = Sandbox {
        memory_bytes: (spec.limits.memory_mb << 20) as usize,
        max_log_lines: spec.limits.max_log_lines,
        max_log_lines_per_sec: spec.limits.max_log_lines_per_sec,
        call_timeout: Duration::from_secs(spec.limits.call_timeout_secs.max(1)),
        read_dirs,
        policy: Arc::new(policy),
        max_http_in_flight: spec.limits.http_in_flight.max(1),
        databases: crate::db_grants::databases(spec)?,
        buckets: crate::bucket_grants::buckets(spec)?,
    };
    Ok((sandbox, staged))
}

/// The HTTP policy of `spec`'s grants and limits, without secrets.
fn policy_for(spec: &PipelineSpec) -> Result<Policy, PipelineError> {
    let mut policy =
        Policy::allow(&spec.grants.allow_hosts).map_err(|reason| PipelineError::Config {
            pipeline: spec.name.clone(),
            reason,
        })?;
    policy.allow_private = spec.grants.allow_private_addresses;
    policy.retry_budget_ms = spec.limits.http_retry_budget_secs.saturating_mul(1000);
    policy.timeout_ms = spec.limits.http_timeout_secs.max(1).saturating_mul(1000);
    policy.max_header_bytes = spec.limits.http_max_header_kb.max(1) << 10;
    policy.max_body_bytes = spec.limits.http_max_body_mb.max(1) << 20;
    policy.per_host = spec.limits.http_per_host.max(1);
    for (host, rate) in &spec.limits.http_rate_per_second {
        if !(rate.is_finite() && *rate > 0.0) {
            return Err(PipelineError::Config {
                pipeline: spec.name.clone(),
                reason: format!(
                    "limits.http_rate_per_second `{host}`: {rate} is not a positive number"
                ),
            });
        }
        policy.rate_limits.push((host.clone(), *rate));
    }
    Ok(policy)
}

/// Each secret of `spec` with a host, read from its source and placed for its host; an
/// optional secret whose variable is unset is recorded as absent. Secrets without a host are
/// for database grants only ([`crate::db_grants`]) and never reach the HTTP policy.
fn grant_secrets(spec: &PipelineSpec, policy: &mut Policy) -> Result<(), PipelineError> {
    for (name, s) in &spec.secrets {
        let cfg = |reason: String| PipelineError::Config {
            pipeline: spec.name.clone(),
            reason: format!("secret `{name}`: {reason}"),
        };
        let Some(host) = &s.host else {
            no_placement(s).map_err(cfg)?;
            continue;
        };
        let placement = secret_placement(s).map_err(cfg)?;
        let Some(value) = secret_value(s).map_err(cfg)? else {
            tracing::info!("secret `{name}`: its variable is not set; requests go without it");
            policy.absent_secrets.push(name.clone());
            continue;
        };
        Policy::allow(std::slice::from_ref(host)).map_err(cfg)?;
        policy.secrets.push(sluice_host::SecretGrant {
            name: name.clone(),
            value,
            host: host.clone(),
            placement,
        });
    }
    Ok(())
}

/// A secret's value from the environment or the file; `None` for an optional secret whose
/// variable is unset.
pub(crate) fn secret_value(s: &spec::SecretSpec) -> Result<Option<String>, String> {
    match (&s.env, &s.value) {
        (Some(var), None) if s.optional && std::env::var_os(var).is_none() => Ok(None),
        (Some(var), None) => std::env::var(var)
            .map(Some)
            .map_err(|_| format!("environment variable `{var}` is not set")),
        (None, Some(v)) => Ok(Some(v.clone())),
        _ => Err("give exactly one of `env` or `value`".into()),
    }
}

/// A secret without a host says nothing of how HTTP would carry it.
fn no_placement(s: &spec::SecretSpec) -> Result<(), String> {
    let fields = [
        ("scheme", s.scheme.is_some()),
        ("header", s.header.is_some()),
        ("query", s.query.is_some()),
        ("prefix", !s.prefix.is_empty()),
        ("username", s.username.is_some()),
        ("token_url", s.token_url.is_some()),
        ("client_id", s.client_id.is_some()),
    ];
    match fields.iter().find(|(_, set)| *set) {
        Some((f, _)) => Err(format!(
            "`{f}` places the secret in HTTP requests: give the `host` it goes to (a secret \
             without `host` is only for database grants)"
        )),
        None => Ok(()),
    }
}

/// How the host sends a secret, from its `scheme` and the fields that scheme takes.
fn secret_placement(s: &spec::SecretSpec) -> Result<sluice_host::SecretPlacement, String> {
    use sluice_host::SecretPlacement as P;
    let scheme = s.scheme.as_deref().unwrap_or("api_key");
    let unused = |fields: &[(&str, bool)]| -> Result<(), String> {
        match fields.iter().find(|(_, set)| *set) {
            Some((f, _)) => Err(format!("`{f}` does not apply to scheme `{scheme}`")),
            None => Ok(()),
        }
    };
    let oauth_fields = [
        ("token_url", s.token_url.is_some()),
        ("client_id", s.client_id.is_some()),
        ("token_request", !s.token_request.is_empty()),
    ];
    match scheme {
        "api_key" | "bearer" => {
            unused(&[
                ("username", s.username.is_some()),
                ("password", s.password.is_some()),
            ])?;
            unused(&oauth_fields)?;
            let prefix = if scheme == "bearer" && s.prefix.is_empty() {
                "Bearer ".to_owned()
            } else {
                s.prefix.clone()
            };
            match (&s.header, &s.query) {
                (Some(h), None) => Ok(P::Header {
                    name: h.clone(),
                    prefix,
                }),
                (None, Some(q)) if scheme == "api_key" => Ok(P::Query { name: q.clone() }),
                (None, None) if scheme == "bearer" => Ok(P::Header {
                    name: "Authorization".into(),
                    prefix,
                }),
                (None, None) => Err("give one of `header` or `query` (or a `scheme`)".into()),
                _ if scheme == "bearer" => {
                    Err("a bearer token goes in a header, not `query`".into())
                }
                _ => Err("give exactly one of `header` or `query`".into()),
            }
        }
        "http_basic" => {
            unused(&[
                ("header", s.header.is_some()),
                ("query", s.query.is_some()),
                ("prefix", !s.prefix.is_empty()),
            ])?;
            unused(&oauth_fields)?;
            match (&s.username, &s.password) {
                (Some(username), None) => Ok(P::Basic {
                    username: username.clone(),
                }),
                (None, Some(password)) => Ok(P::BasicUser {
                    password: password.clone(),
                }),
                _ => Err("scheme `http_basic` needs `username` (the secret is the password) or `password` (the secret is the user name), not both".into()),
            }
        }
        "oauth2_client_credentials" => {
            unused(&[
                ("header", s.header.is_some()),
                ("query", s.query.is_some()),
                ("prefix", !s.prefix.is_empty()),
                ("username", s.username.is_some()),
                ("password", s.password.is_some()),
            ])?;
            let token_url = s
                .token_url
                .clone()
                .ok_or("scheme `oauth2_client_credentials` needs `token_url`")?;
            url::Url::parse(&token_url).map_err(|e| format!("token_url `{token_url}`: {e}"))?;
            let client_id = s
                .client_id
                .clone()
                .ok_or("scheme `oauth2_client_credentials` needs `client_id`")?;
            Ok(P::OAuth2 {
                token_url,
                client_id,
                extra: s
                    .token_request
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                cache: Default::default(),
            })
        }
        other => Err(format!(
            "unknown scheme `{other}` (api_key, bearer, http_basic, oauth2_client_credentials)"
        )),
    }
}
