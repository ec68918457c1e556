//! dlt's encoding of pipeline state in `_dlt_pipeline_state.state`: base64 of the zlib-compressed
//! JSON. Runs write it; runs, `sluice pipeline NAME sync` and the dataset readers decode it.

use std::io::{Read as _, Write as _};

use base64::Engine as _;
use serde_json::Value;

/// `state` as dlt stores it: base64(zlib(json)).
pub fn compress_state(state: &Value) -> String {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = enc.write_all(state.to_string().as_bytes());
    let bytes = enc.finish().unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A stored `_dlt_pipeline_state.state` value decoded (`None` when it is not one).
pub fn decompress_state(text: &str) -> Option<Value> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    let mut json = String::new();
    flate2::read::ZlibDecoder::new(&bytes[..])
        .read_to_string(&mut json)
        .ok()?;
    serde_json::from_str(&json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_garbage_is_none() {
        let state = serde_json::json!({"sources": {"s": {"resources": {"r": {"cursor": 3}}}}});
        assert_eq!(decompress_state(&compress_state(&state)), Some(state));
        assert_eq!(decompress_state("not base64 at all!"), None);
    }
}
