//! Local pipeline state: the schema and resource states, mirrored from what the destination
//! committed, in dlt's state shape.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sluice_load::StateRow;
use sluice_schema::Schema;

use crate::{PipelineError, io_err};

/// dlt's state engine version.
pub const STATE_ENGINE_VERSION: i64 = 4;

/// Schema and state kept in the pipeline's working directory.
#[derive(Clone)]
pub struct LocalState {
    dir: PathBuf,
    pub schema: Option<Schema>,
    /// dlt's state document
    pub state: Value,
}

impl LocalState {
    pub fn load(dir: &Path) -> Result<LocalState, PipelineError> {
        std::fs::create_dir_all(dir.join("schemas")).map_err(|e| io_err(dir, e))?;
        let state_path = dir.join("state.json");
        let state = match std::fs::read(&state_path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| io_err(&state_path, e))?,
            Err(_) => empty_state(),
        };
        let schema_name = state
            .get("default_schema_name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let schema = match schema_name {
            Some(n) => {
                let p = dir.join("schemas").join(format!("{n}.schema.json"));
                match std::fs::read_to_string(&p) {
                    Ok(t) => Some(Schema::from_json(&t).map_err(|e| io_err(&p, e))?),
                    Err(_) => None,
                }
            }
            None => None,
        };
        Ok(LocalState {
            dir: dir.to_owned(),
            schema,
            state,
        })
    }

    /// Take the destination's committed state when it is newer than the local one (a crash
    /// between the destination commit and the local save, or a fresh worker).
    pub fn restore(&mut self, version: i64, state: Value) -> bool {
        let local = self
            .state
            .get("_state_version")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if version > local {
            self.state = state;
            true
        } else {
            false
        }
    }

    /// Forget local schema and state (the destination holds none: dlt wipes local state when
    /// the dataset does not exist remotely).
    pub fn reset(&mut self) {
        self.schema = None;
        self.state = empty_state();
    }

    /// The committed state of `resource` of `source`, as JSON text.
    pub fn resource_state(&self, source: &str, resource: &str) -> Option<String> {
        self.state
            .pointer(&format!("/sources/{source}/resources/{resource}"))
            .filter(|v| !v.is_null())
            .map(Value::to_string)
    }

    /// The state document with the resource checkpoints of a package applied.
    pub fn with_checkpoints(
        &self,
        pipeline: &str,
        dataset: &str,
        schema: &str,
        source: &str,
        checkpoints: &[(String, Value)],
    ) -> Value {
        let mut st = self.state.clone();
        st["pipeline_name"] = json!(pipeline);
        st["dataset_name"] = json!(dataset);
        st["default_schema_name"] = json!(schema);
        st["schema_names"] = json!([schema]);
        st["destination_type"] = json!("sluice.destinations.duckdb");
        for (resource, value) in checkpoints {
            st["sources"][source]["resources"][resource] = value.clone();
        }
        st
    }

    /// When `new_state` differs from the committed state: bump its version and hash and
    /// return the `_dlt_pipeline_state` row to commit with it.
    pub fn state_row(&self, new_state: &mut Value, pipeline: &str) -> Option<StateRow> {
        let old_hash = self
            .state
            .get("_version_hash")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let hash = Self::version_hash(new_state);
        if hash == old_hash {
            return None;
        }
        let version = new_state
            .get("_state_version")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            + 1;
        new_state["_state_version"] = Value::from(version);
        new_state["_version_hash"] = Value::from(hash.clone());
        Some(StateRow {
            version,
            engine_version: STATE_ENGINE_VERSION,
            pipeline_name: pipeline.to_owned(),
            state: compress_state(new_state),
            version_hash: hash,
        })
    }

    /// `_version_hash` of a state document (sha3-256 of its canonical JSON minus versions).
    pub fn version_hash(state: &Value) -> String {
        use sha3_like::hash;
        let mut copy = state.clone();
        if let Some(o) = copy.as_object_mut() {
            for k in [
                "_state_version",
                "_state_engine_version",
                "_version_hash",
                "_local",
            ] {
                o.shift_remove(k);
            }
        }
        hash(sluice_schema::canonical_json(&copy).as_bytes())
    }

    /// Persist schema and state after a committed load.
    pub fn save(&mut self, schema: &Schema, state: Value) -> Result<(), PipelineError> {
        let sp = self
            .dir
            .join("schemas")
            .join(format!("{}.schema.json", schema.name));
        crate::package::write_synced(&sp, schema.to_json_pretty().as_bytes())?;
        let p = self.dir.join("state.json");
        let text = serde_json::to_vec_pretty(&state).map_err(|e| io_err(&p, e))?;
        crate::package::write_synced(&p, &text)?;
        self.schema = Some(schema.clone());
        self.state = state;
        Ok(())
    }
}

/// A state document with no sources, before any load.
fn empty_state() -> Value {
    json!({"_state_version": 0, "_state_engine_version": STATE_ENGINE_VERSION, "sources": {}})
}

pub use sluice_schema::{compress_state, decompress_state};

mod sha3_like {
    use base64::Engine as _;

    /// base64 of a 32-byte shake_128 digest.
    pub fn hash(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(sluice_schema::shake128::<32>(bytes))
    }
}
