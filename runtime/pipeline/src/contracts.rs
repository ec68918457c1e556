//! Data contracts, schema files and schema-change notifications of a pipeline: what the
//! pipeline file says about the schema, applied to every package (pending ones included, so a
//! relaxed contract lets a refused package load).

use std::path::Path;

use indexmap::IndexMap;
use serde_json::Value;
use sluice_normalize::{ColumnHint, JsonSchema, ResourceTable};
use sluice_schema::{DataType, Schema, SchemaContract};

use crate::{PipelineError, PipelineSpec, RunSummary, io_err};

/// The contract layers of one resource.
#[derive(Clone, Debug, Default)]
pub(crate) struct ResourceContract {
    /// the run's or the resource's contract
    pub schema_contract: Option<SchemaContract>,
    /// the JSON Schema document and the column hints it gives
    pub json_schema: Option<(Value, Vec<ColumnHint>)>,
}

/// Contracts of a run: the run-level override, the source's, and per resource.
#[derive(Clone, Debug, Default)]
pub(crate) struct Contracts {
    run: Option<SchemaContract>,
    source: Option<SchemaContract>,
    resources: IndexMap<String, ResourceContract>,
}

impl Contracts {
    /// Read the contracts and JSON Schema files the pipeline names.
    pub fn from_spec(
        spec: &PipelineSpec,
        run: Option<SchemaContract>,
    ) -> Result<Contracts, PipelineError> {
        let cfg = |reason: String| PipelineError::Config {
            pipeline: spec.name.clone(),
            reason,
        };
        let mut resources = IndexMap::new();
        for (name, o) in &spec.resources {
            let mut rc = ResourceContract {
                schema_contract: run.or(o.schema_contract),
                json_schema: None,
            };
            if let Some(path) = &o.json_schema {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    cfg(format!(
                        "resource `{name}`: json_schema `{}`: {e}",
                        path.display()
                    ))
                })?;
                let doc: Value = serde_json::from_str(&text).map_err(|e| {
                    cfg(format!(
                        "resource `{name}`: json_schema `{}` is not JSON: {e}",
                        path.display()
                    ))
                })?;
                let compiled = JsonSchema::compile(&doc).map_err(|e| {
                    cfg(format!(
                        "resource `{name}`: json_schema `{}`: {e}",
                        path.display()
                    ))
                })?;
                // dlt's model default; the schema's additionalProperties picks the columns mode
                if rc.schema_contract.is_none() {
                    rc.schema_contract = Some(SchemaContract {
                        columns: compiled.columns_mode(),
                        ..SchemaContract::for_model()
                    });
                }
                rc.json_schema = Some((doc, compiled.column_hints()));
            }
            resources.insert(name.clone(), rc);
        }
        Ok(Contracts {
            run,
            source: spec.schema_contract,
            resources,
        })
    }

    /// Column hints a resource's JSON Schema gives (before the pipeline file's own hints).
    pub fn json_hints(&self, resource: &str) -> &[ColumnHint] {
        self.resources
            .get(resource)
            .and_then(|r| r.json_schema.as_ref())
            .map(|(_, h)| h.as_slice())
            .unwrap_or_default()
    }

    /// Put the current contracts on a resource's hints (planned now or in a pending package).
    pub fn apply(&self, hints: &mut ResourceTable) {
        let rc = self.resources.get(&hints.resource);
        hints.schema_contract = rc.and_then(|r| r.schema_contract).or(self.run);
        hints.source_contract = self.source;
        hints.json_schema = rc
            .and_then(|r| r.json_schema.as_ref())
            .map(|(d, _)| d.clone());
    }
}

/// Apply the pipeline's `[schema]` options to the working schema: preferred types, and the
/// import file when it changed since it was last imported.
pub(crate) fn apply_schema_options(
    spec: &PipelineSpec,
    schema: &mut Schema,
) -> Result<Option<String>, PipelineError> {
    let cfg = |reason: String| PipelineError::Config {
        pipeline: spec.name.clone(),
        reason,
    };
    let mut imported = None;
    if let Some(path) = &spec.schema.import {
        let text = std::fs::read_to_string(path)
            .map_err(|e| cfg(format!("schema import `{}`: {e}", path.display())))?;
        let file = Schema::from_yaml(&text)
            .map_err(|e| cfg(format!("schema import `{}`: {e}", path.display())))?;
        let hash = file.content_hash();
        if schema.imported_version_hash.as_deref() != Some(hash.as_str()) {
            schema
                .merge_import(&file)
                .map_err(|e| cfg(format!("schema import `{}`: {e}", path.display())))?;
            schema.imported_version_hash = Some(hash);
            imported = Some(path.display().to_string());
        }
    }
    for (pattern, t) in &spec.schema.preferred_types {
        let data_type = DataType::parse(t).ok_or_else(|| {
            cfg(format!(
                "schema.preferred_types `{pattern}`: unknown type `{t}`"
            ))
        })?;
        schema
            .settings
            .preferred_types
            .insert(pattern.clone(), data_type);
    }
    sluice_normalize::PreferredTypes::compile(&schema.settings.preferred_types)
        .map_err(|e| cfg(format!("schema.{e}")))?;
    Ok(imported)
}

/// Write `<dir>/<schema>.schema.yaml` (dlt's export layout).
pub(crate) fn export_schema(dir: &Path, schema: &Schema) -> Result<(), PipelineError> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let path = dir.join(format!("{}.schema.yaml", schema.name));
    crate::package::write_synced(&path, schema.to_yaml().as_bytes())
}

/// The webhook URL the pipeline posts schema changes to, if any.
pub(crate) fn webhook_url(spec: &PipelineSpec) -> Result<Option<String>, PipelineError> {
    let n = &spec.notifications;
    match (&n.webhook_url, &n.webhook_url_env) {
        (Some(u), None) => Ok(Some(u.clone())),
        (None, Some(var)) => std::env::var(var)
            .map(Some)
            .map_err(|_| PipelineError::Config {
                pipeline: spec.name.clone(),
                reason: format!("notifications: environment variable `{var}` is not set"),
            }),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(PipelineError::Config {
            pipeline: spec.name.clone(),
            reason: "notifications: give one of `webhook_url` or `webhook_url_env`".into(),
        }),
    }
}

/// The Slack incoming-webhook message announcing a run's schema changes.
pub fn schema_change_message(s: &RunSummary) -> Value {
    let mut lines = vec![format!(
        "Sluice pipeline `{}` changed the schema of dataset `{}` on {} (schema version {}, load {}):",
        s.pipeline,
        s.dataset,
        s.destination,
        s.schema_version,
        s.load_ids.join(", ")
    )];
    for (table, cols) in &s.schema_update.tables {
        let cols = cols
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        if s.schema_update.new_tables.contains(table) {
            lines.push(format!("• new table `{table}`: {cols}"));
        } else {
            lines.push(format!("• table `{table}`: new columns {cols}"));
        }
    }
    for (table, d) in &s.discarded {
        lines.push(format!(
            "• table `{table}`: data contract discarded {} row(s) and {} value(s)",
            d.rows, d.values
        ));
    }
    serde_json::json!({ "text": lines.join("\n") })
}

/// Post the message; the outcome is returned for the summary (the URL is a secret: only its
/// host is ever shown).
pub(crate) async fn notify(url: &str, message: &Value) -> String {
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "an unparseable URL".into());
    let client = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return format!(
                "schema change notification to {host} failed: {}",
                e.without_url()
            );
        }
    };
    let request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(message.to_string());
    match request.send().await {
        Ok(r) if r.status().is_success() => format!("schema change notification sent to {host}"),
        Ok(r) => format!(
            "schema change notification to {host} failed: HTTP {}",
            r.status().as_u16()
        ),
        Err(e) => format!(
            "schema change notification to {host} failed: {}",
            e.without_url()
        ),
    }
}
