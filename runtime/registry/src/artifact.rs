//! The Wasm OCI artifact layout (CNCF TAG Runtime's, as `wkg` and Spin push it): an OCI image
//! manifest whose config is `application/vnd.wasm.config.v0+json` and whose one layer is the
//! component, `application/wasm`. The config repeats the component's manifest under `sluice`.

use serde_json::{Value, json};

use crate::manifest::Manifest;
use crate::{RegistryError, Result};

pub const CONFIG_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const LAYER_TYPE: &str = "application/wasm";
pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// The config blob of a component whose layer is `layer_digest`.
pub fn config(manifest: &Manifest, layer_digest: &str) -> Vec<u8> {
    let config = json!({
        "created": null,
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer_digest],
        "component": {
            "imports": manifest.imports,
            "exports": ["sluice:connector/source"],
            "target": null,
        },
        "sluice": manifest,
    });
    serde_json::to_vec(&config).unwrap_or_default()
}

/// The image manifest for a config and a layer (digest and size each).
pub fn image_manifest(config: (&str, usize), layer: (&str, usize), title: &str) -> Vec<u8> {
    let m = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": LAYER_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": config.0, "size": config.1},
        "layers": [{
            "mediaType": LAYER_TYPE,
            "digest": layer.0,
            "size": layer.1,
            "annotations": {"org.opencontainers.image.title": title},
        }],
    });
    serde_json::to_vec(&m).unwrap_or_default()
}

/// The config and layer digests an image manifest names, checked to be a Wasm artifact.
pub fn parts(manifest: &[u8]) -> Result<(String, String)> {
    let m: Value = serde_json::from_slice(manifest)
        .map_err(|e| RegistryError::Invalid(format!("the image manifest is not JSON: {e}")))?;
    let config = &m["config"];
    if config["mediaType"] != CONFIG_TYPE {
        return Err(RegistryError::Invalid(format!(
            "not a Wasm component artifact (config media type {})",
            config["mediaType"]
        )));
    }
    let layers: Vec<&Value> = m["layers"]
        .as_array()
        .map(|l| l.iter().filter(|l| l["mediaType"] == LAYER_TYPE).collect())
        .unwrap_or_default();
    let [layer] = layers.as_slice() else {
        return Err(RegistryError::Invalid(
            "a Wasm artifact has exactly one `application/wasm` layer".into(),
        ));
    };
    let digest = |v: &Value| {
        v["digest"]
            .as_str()
            .filter(|d| crate::reference::is_digest(d))
            .map(str::to_owned)
            .ok_or_else(|| RegistryError::Invalid("a digest in the manifest is not sha256".into()))
    };
    Ok((digest(config)?, digest(layer)?))
}

/// The component manifest a config blob repeats.
pub fn manifest_of_config(config: &[u8]) -> Result<Manifest> {
    let v: Value = serde_json::from_slice(config)
        .map_err(|e| RegistryError::Invalid(format!("the artifact's config is not JSON: {e}")))?;
    serde_json::from_value(v["sluice"].clone()).map_err(|e| {
        RegistryError::Invalid(format!(
            "the artifact's config holds no Sluice manifest: {e}"
        ))
    })
}
