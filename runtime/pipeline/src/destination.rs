//! The destination a pipeline names, opened for its dataset: the URL or TOML form is parsed
//! once into a [`DestinationConfig`] (in `sluice_load`), errors naming the pipeline.

use sluice_load::{Destination, DestinationConfig, ReplaceStrategy};
use sluice_schema::Schema;

use crate::{PipelineError, PipelineSpec, state};

/// The DuckDB file a destination string names.
pub fn duckdb_path(destination: &str, pipeline: &str) -> Option<String> {
    DestinationConfig::parse(destination, pipeline)
        .ok()?
        .duckdb_file()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Open the destination a pipeline names: `duckdb`, `duckdb:PATH`, `postgres://…`,
/// `file:///dir[?format=parquet|jsonl]`.
pub fn open_destination(spec: &PipelineSpec) -> Result<Box<dyn Destination>, PipelineError> {
    open_named(
        &spec.name,
        &spec.destination,
        &spec.dataset_name(),
        spec.replace_strategy.as_deref(),
    )
}

/// The destination `dest` parsed for `pipeline`, errors naming the pipeline.
pub(crate) fn destination_config(
    pipeline: &str,
    dest: &str,
) -> Result<DestinationConfig, PipelineError> {
    DestinationConfig::parse(dest, pipeline).map_err(|reason| PipelineError::Config {
        pipeline: pipeline.to_owned(),
        reason,
    })
}

/// Open destination `dest` for `dataset` of `pipeline`, emptying tables for `replace` by
/// `replace_strategy`.
pub(crate) fn open_named(
    pipeline: &str,
    dest: &str,
    dataset: &str,
    replace_strategy: Option<&str>,
) -> Result<Box<dyn Destination>, PipelineError> {
    let replace = parse_replace(pipeline, replace_strategy)?;
    let config = destination_config(pipeline, dest)?;
    config
        .build(dataset, pipeline, replace)
        .map_err(|source| PipelineError::Load {
            load_id: "-".into(),
            destination: config.describe(),
            source,
        })
}

/// A pipeline file's `replace_strategy` (truncate-and-insert when unset).
pub(crate) fn parse_replace(
    pipeline: &str,
    strategy: Option<&str>,
) -> Result<ReplaceStrategy, PipelineError> {
    match strategy {
        None => Ok(ReplaceStrategy::default()),
        Some(s) => ReplaceStrategy::parse(s).ok_or_else(|| PipelineError::Config {
            pipeline: pipeline.to_owned(),
            reason: format!(
                "replace_strategy `{s}` is not one of truncate-and-insert, insert-from-staging"
            ),
        }),
    }
}

/// The newest of the local schema and the one stored in the destination.
pub(crate) fn restore_schema(
    dest: &mut dyn Destination,
    local: &state::LocalState,
    pipeline: &str,
    db_path: &str,
) -> Result<Schema, PipelineError> {
    let local_schema = local.schema.clone();
    let schema_name = local_schema
        .as_ref()
        .map(|s| s.name.clone())
        .unwrap_or_else(|| pipeline.to_owned());
    let remote = dest
        .stored_schema(&schema_name)
        .map_err(|source| PipelineError::Load {
            load_id: "-".into(),
            destination: db_path.to_owned(),
            source,
        })?
        .and_then(|text| Schema::from_json(&text).ok());
    Ok(match (local_schema, remote) {
        (Some(l), Some(r)) if r.version > l.version => r,
        (Some(l), _) => l,
        (None, Some(r)) => r,
        (None, None) => Schema::new(pipeline),
    })
}
