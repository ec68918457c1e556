//! Row identifiers exactly as dlt makes them (reference §1.4).
//!
//! All ids are 10 bytes of shake_128 (or randomness), standard base64 without padding: 14
//! characters.

use base64::Engine as _;
use sha3::digest::{ExtendableOutput, Update, XofReader};

/// Number of bytes in a `_dlt_id`.
pub const ID_BYTES: usize = 10;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// shake_128 of `input`, `N` bytes.
pub fn shake128<const N: usize>(input: &[u8]) -> [u8; N] {
    let mut hasher = sha3::Shake128::default();
    hasher.update(input);
    let mut out = [0u8; N];
    hasher.finalize_xof().read(&mut out);
    out
}

/// `_dlt_id` of a nested row: `shake_128(f"{parent_id}_{table}_{idx}")`.
pub fn child_row_id(parent_id: &str, table: &str, list_idx: usize) -> String {
    let input = format!("{parent_id}_{table}_{list_idx}");
    b64(&shake128::<ID_BYTES>(input.as_bytes()))
}

/// Id of a root row from a digest input (key hash / row hash) — dlt's `digest128`.
pub fn digest_id(input: &[u8]) -> String {
    b64(&shake128::<ID_BYTES>(input))
}

/// A root row id that is unpredictable across packages but reproducible inside one: derived
/// from the package's random salt and the row's position. Re-normalizing a package after a
/// crash therefore gives the same ids, which keeps resumed loads exactly-once.
pub fn salted_row_id(salt: &[u8; 16], page: u64, index: u64) -> String {
    let mut input = [0u8; 32];
    input[..16].copy_from_slice(salt);
    input[16..24].copy_from_slice(&page.to_le_bytes());
    input[24..].copy_from_slice(&index.to_le_bytes());
    b64(&shake128::<ID_BYTES>(&input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_id_matches_dlt() {
        assert_eq!(child_row_id("z5jIxXIbUnmbKw", "r6__l", 0), "2uHj82Yh0QxnHw");
    }

    #[test]
    fn key_hash_matches_dlt() {
        assert_eq!(digest_id(br#"{"id":1}"#), "z5jIxXIbUnmbKw");
    }

    #[test]
    fn salted_ids_differ_by_position() {
        let salt = [7u8; 16];
        assert_ne!(salted_row_id(&salt, 0, 0), salted_row_id(&salt, 0, 1));
        assert_eq!(salted_row_id(&salt, 3, 9), salted_row_id(&salt, 3, 9));
        assert_eq!(salted_row_id(&salt, 3, 9).len(), 14);
    }
}
