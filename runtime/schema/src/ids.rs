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

/// A `_dlt_id` as its 14 ASCII characters (standard base64 of 10 bytes, no padding).
pub type IdText = [u8; 14];

/// The `_dlt_id`s of `count` nested rows of `table`, row `i` hanging at index `idx` under
/// the row whose id is `id`, where `(id, idx) = parent(i)`: [`child_row_id`] for the rows of
/// many lists at once, several digests at a time (see [`crate::keccak_lanes`]).
pub fn child_row_ids_with(
    table: &str,
    count: usize,
    parent: impl Fn(usize) -> (IdText, usize),
) -> Vec<IdText> {
    ids_batched(count, |i, buf| {
        let (id, idx) = parent(i);
        buf.extend_from_slice(&id);
        buf.push(b'_');
        buf.extend_from_slice(table.as_bytes());
        buf.push(b'_');
        push_decimal(buf, idx as u64);
    })
}

/// Root ids of records `from..from + count` of page `page`, as [`salted_row_id`] makes them.
pub fn salted_row_ids(salt: &[u8; 16], page: u64, from: u64, count: usize) -> Vec<IdText> {
    ids_batched(count, |i, buf| {
        buf.extend_from_slice(salt);
        buf.extend_from_slice(&page.to_le_bytes());
        buf.extend_from_slice(&(from + i as u64).to_le_bytes());
    })
}

/// `count` ids from the messages `message(i, buf)` writes, digested as many at a time as the
/// CPU's vectors hold (eight with AVX-512, four with AVX2).
fn ids_batched(count: usize, message: impl Fn(usize, &mut Vec<u8>)) -> Vec<IdText> {
    let mut out = Vec::with_capacity(count);
    let mut bufs: [Vec<u8>; 8] = Default::default();
    let lanes = crate::keccak_lanes::lanes().clamp(4, 8);
    let mut i = 0;
    while i < count {
        let n = (count - i).min(lanes);
        for (k, buf) in bufs.iter_mut().enumerate().take(n) {
            buf.clear();
            message(i + k, buf);
        }
        let msgs = [
            &bufs[0][..],
            &bufs[1],
            &bufs[2],
            &bufs[3],
            &bufs[4],
            &bufs[5],
            &bufs[6],
            &bufs[7],
        ];
        let digests = crate::keccak_lanes::shake128_many::<ID_BYTES>(msgs, n);
        out.extend(digests[..n].iter().map(b64_id));
        i += n;
    }
    out
}

fn push_decimal(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[at..]);
}

/// Standard base64 of an id's 10 bytes without padding: 14 characters.
fn b64_id(bytes: &[u8; ID_BYTES]) -> IdText {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = [0u8; 14];
    for (group, chunk) in bytes.chunks(3).enumerate() {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        let chars = [(v >> 18) & 63, (v >> 12) & 63, (v >> 6) & 63, v & 63];
        let take = chunk.len() + 1;
        for (k, c) in chars.iter().take(take).enumerate() {
            out[group * 4 + k] = ALPHABET[*c as usize];
        }
    }
    out
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
    fn batched_ids_match_one_by_one() {
        for count in [0, 1, 3, 4, 5, 9] {
            let parent = *b"z5jIxXIbUnmbKw";
            let ids = child_row_ids_with("r6__l", count, |i| (parent, i));
            let one: Vec<String> = (0..count)
                .map(|i| child_row_id("z5jIxXIbUnmbKw", "r6__l", i))
                .collect();
            let texts: Vec<&str> = ids
                .iter()
                .map(|t| std::str::from_utf8(t).unwrap())
                .collect();
            assert_eq!(texts, one);
            let salt = [9u8; 16];
            let roots = salted_row_ids(&salt, 4, 100, count);
            for (i, r) in roots.iter().enumerate() {
                assert_eq!(
                    std::str::from_utf8(r).unwrap(),
                    salted_row_id(&salt, 4, 100 + i as u64)
                );
            }
        }
        let long_table = "t".repeat(300);
        let ids = child_row_ids_with(&long_table, 6, |i| (*b"z5jIxXIbUnmbKw", i));
        assert_eq!(
            std::str::from_utf8(&ids[5]).unwrap(),
            child_row_id("z5jIxXIbUnmbKw", &long_table, 5)
        );
        assert_eq!(
            ids[0],
            b64_id(&shake128::<ID_BYTES>(
                format!("z5jIxXIbUnmbKw_{long_table}_0").as_bytes()
            ))
        );
    }

    #[test]
    fn salted_ids_differ_by_position() {
        let salt = [7u8; 16];
        assert_ne!(salted_row_id(&salt, 0, 0), salted_row_id(&salt, 0, 1));
        assert_eq!(salted_row_id(&salt, 3, 9), salted_row_id(&salt, 3, 9));
        assert_eq!(salted_row_id(&salt, 3, 9).len(), 14);
    }
}
