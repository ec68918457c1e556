//! `shake_128` of several short messages at once: Keccak-f[1600] states side by side in
//! vector registers, one 64-bit lane of each state per register — eight in AVX-512 (which
//! also has rotates and three-input logic), four in AVX2. dlt's row ids are shake-128
//! digests, one per nested row, and the permutation is most of their cost. Without either
//! (or for a message longer than one block) the scalar `sha3` implementation runs; a test
//! holds every way to the same digests.

/// Bytes absorbed per Keccak block of shake-128 (its rate).
pub const RATE: usize = 168;

/// How many messages [`shake128_many`] digests at once on this CPU.
pub fn lanes() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return 8;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return 4;
        }
    }
    1
}

/// `N` bytes of `shake_128(msg)` for each of up to eight messages (`msgs[..n]`).
pub fn shake128_many<const N: usize>(msgs: [&[u8]; 8], n: usize) -> [[u8; N]; 8] {
    let mut out = [[0u8; N]; 8];
    let single_block = N <= RATE && msgs[..n].iter().all(|m| m.len() < RATE);
    #[cfg(target_arch = "x86_64")]
    if single_block && n > 4 && std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F (checked just above), the only requirement of the
        // target-feature function; it touches nothing but its argument.
        #[allow(unsafe_code)]
        return side_by_side(&msgs[..n], |states| unsafe { avx512::keccak_f_x8(states) });
    }
    let _ = single_block;
    for (k, group) in [0usize, 4].into_iter().enumerate() {
        if group >= n {
            break;
        }
        let m = (n - group).min(4);
        let four = [
            msgs[group],
            msgs[group + 1],
            msgs[group + 2],
            msgs[group + 3],
        ];
        let digests = shake128_x4::<N>(four, m);
        out[k * 4..k * 4 + m].copy_from_slice(&digests[..m]);
    }
    out
}

/// `N` bytes of `shake_128(msg)` for each of up to four messages (`msgs[..n]`).
pub fn shake128_x4<const N: usize>(msgs: [&[u8]; 4], n: usize) -> [[u8; N]; 4] {
    let mut out = [[0u8; N]; 4];
    let single_block = N <= RATE && msgs[..n].iter().all(|m| m.len() < RATE);
    #[cfg(target_arch = "x86_64")]
    if single_block && n > 1 && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above), the only requirement of the
        // target-feature function; it touches nothing but its argument.
        #[allow(unsafe_code)]
        return side_by_side(&msgs[..n], |states| unsafe { avx2::keccak_f_x4(states) });
    }
    let _ = single_block;
    for (o, msg) in out.iter_mut().zip(&msgs[..n]) {
        *o = crate::shake128::<N>(msg);
    }
    out
}

/// Digest single-block messages with `L` states permuted side by side by `permute`.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn side_by_side<const L: usize, const N: usize>(
    msgs: &[&[u8]],
    permute: impl FnOnce(&mut [[u64; 25]; L]),
) -> [[u8; N]; L] {
    let mut states = [[0u64; 25]; L];
    for (state, msg) in states.iter_mut().zip(msgs) {
        absorb_one_block(state, msg);
    }
    permute(&mut states);
    let mut out = [[0u8; N]; L];
    for (o, state) in out.iter_mut().zip(&states) {
        squeeze(state, o);
    }
    out
}

/// The first block of shake-128: the message, the domain byte 0x1F and the final bit.
fn absorb_one_block(state: &mut [u64; 25], msg: &[u8]) {
    let mut block = [0u8; RATE];
    block[..msg.len()].copy_from_slice(msg);
    block[msg.len()] ^= 0x1F;
    block[RATE - 1] ^= 0x80;
    for (lane, bytes) in state.iter_mut().zip(block.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(bytes);
        *lane = u64::from_le_bytes(b);
    }
}

fn squeeze<const N: usize>(state: &[u64; 25], out: &mut [u8; N]) {
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = state[i / 8].to_le_bytes()[i % 8];
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m256i, _mm256_andnot_si256, _mm256_extract_epi64, _mm256_or_si256, _mm256_set_epi64x,
        _mm256_set1_epi64x, _mm256_sllv_epi64, _mm256_srlv_epi64, _mm256_xor_si256,
    };

    pub(super) const RC: [u64; 24] = [
        0x0000000000000001,
        0x0000000000008082,
        0x800000000000808a,
        0x8000000080008000,
        0x000000000000808b,
        0x0000000080000001,
        0x8000000080008081,
        0x8000000000008009,
        0x000000000000008a,
        0x0000000000000088,
        0x0000000080008009,
        0x000000008000000a,
        0x000000008000808b,
        0x800000000000008b,
        0x8000000000008089,
        0x8000000000008003,
        0x8000000000008002,
        0x8000000000000080,
        0x000000000000800a,
        0x800000008000000a,
        0x8000000080008081,
        0x8000000000008080,
        0x0000000080000001,
        0x8000000080008008,
    ];
    pub(super) const RHO: [i64; 24] = [
        1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 2, 14, 27, 41, 56, 8, 25, 43, 62, 18, 39, 61, 20, 44,
    ];
    pub(super) const PI: [usize; 24] = [
        10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4, 15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1,
    ];

    #[inline]
    #[target_feature(enable = "avx2")]
    fn rotl(v: __m256i, n: i64) -> __m256i {
        _mm256_or_si256(
            _mm256_sllv_epi64(v, _mm256_set1_epi64x(n)),
            _mm256_srlv_epi64(v, _mm256_set1_epi64x(64 - n)),
        )
    }

    /// Keccak-f[1600] on four states at once (the reference round: θ, ρ and π, χ, ι).
    #[target_feature(enable = "avx2")]
    pub fn keccak_f_x4(states: &mut [[u64; 25]; 4]) {
        let mut a: [__m256i; 25] = [_mm256_set1_epi64x(0); 25];
        for (i, lane) in a.iter_mut().enumerate() {
            *lane = _mm256_set_epi64x(
                states[3][i] as i64,
                states[2][i] as i64,
                states[1][i] as i64,
                states[0][i] as i64,
            );
        }
        for rc in RC {
            // θ
            let mut c = [_mm256_set1_epi64x(0); 5];
            for (x, cx) in c.iter_mut().enumerate() {
                *cx = _mm256_xor_si256(
                    _mm256_xor_si256(_mm256_xor_si256(a[x], a[x + 5]), a[x + 10]),
                    _mm256_xor_si256(a[x + 15], a[x + 20]),
                );
            }
            for x in 0..5 {
                let d = _mm256_xor_si256(c[(x + 4) % 5], rotl(c[(x + 1) % 5], 1));
                for y in 0..5 {
                    a[5 * y + x] = _mm256_xor_si256(a[5 * y + x], d);
                }
            }
            // ρ and π
            let mut last = a[1];
            for (pi, rho) in PI.iter().zip(RHO) {
                let next = a[*pi];
                a[*pi] = rotl(last, rho);
                last = next;
            }
            // χ
            for y in 0..5 {
                let row = [
                    a[5 * y],
                    a[5 * y + 1],
                    a[5 * y + 2],
                    a[5 * y + 3],
                    a[5 * y + 4],
                ];
                for x in 0..5 {
                    a[5 * y + x] = _mm256_xor_si256(
                        row[x],
                        _mm256_andnot_si256(row[(x + 1) % 5], row[(x + 2) % 5]),
                    );
                }
            }
            // ι
            a[0] = _mm256_xor_si256(a[0], _mm256_set1_epi64x(rc as i64));
        }
        for (i, lane) in a.iter().enumerate() {
            states[0][i] = _mm256_extract_epi64::<0>(*lane) as u64;
            states[1][i] = _mm256_extract_epi64::<1>(*lane) as u64;
            states[2][i] = _mm256_extract_epi64::<2>(*lane) as u64;
            states[3][i] = _mm256_extract_epi64::<3>(*lane) as u64;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __m512i, _mm256_extract_epi64, _mm512_castsi512_si256, _mm512_extracti64x4_epi64,
        _mm512_rolv_epi64, _mm512_set_epi64, _mm512_set1_epi64, _mm512_ternarylogic_epi64,
        _mm512_xor_si512,
    };

    use super::avx2::{PI, RC, RHO};

    /// `a ^ b ^ c`
    const XOR3: i32 = 0x96;
    /// `a ^ (!b & c)`, Keccak's χ
    const CHI: i32 = 0xD2;

    /// Keccak-f[1600] on eight states at once (the reference round: θ, ρ and π, χ, ι).
    #[target_feature(enable = "avx512f")]
    pub fn keccak_f_x8(states: &mut [[u64; 25]; 8]) {
        let mut a: [__m512i; 25] = [_mm512_set1_epi64(0); 25];
        for (i, lane) in a.iter_mut().enumerate() {
            let l = |s: usize| states[s][i] as i64;
            *lane = _mm512_set_epi64(l(7), l(6), l(5), l(4), l(3), l(2), l(1), l(0));
        }
        for rc in RC {
            // θ
            let mut c = [_mm512_set1_epi64(0); 5];
            for (x, cx) in c.iter_mut().enumerate() {
                let t = _mm512_ternarylogic_epi64::<XOR3>(a[x], a[x + 5], a[x + 10]);
                *cx = _mm512_ternarylogic_epi64::<XOR3>(t, a[x + 15], a[x + 20]);
            }
            for x in 0..5 {
                let rot = _mm512_rolv_epi64(c[(x + 1) % 5], _mm512_set1_epi64(1));
                for y in 0..5 {
                    a[5 * y + x] =
                        _mm512_ternarylogic_epi64::<XOR3>(a[5 * y + x], c[(x + 4) % 5], rot);
                }
            }
            // ρ and π
            let mut last = a[1];
            for (pi, rho) in PI.iter().zip(RHO) {
                let next = a[*pi];
                a[*pi] = _mm512_rolv_epi64(last, _mm512_set1_epi64(rho));
                last = next;
            }
            // χ
            for y in 0..5 {
                let row = [
                    a[5 * y],
                    a[5 * y + 1],
                    a[5 * y + 2],
                    a[5 * y + 3],
                    a[5 * y + 4],
                ];
                for x in 0..5 {
                    a[5 * y + x] = _mm512_ternarylogic_epi64::<CHI>(
                        row[x],
                        row[(x + 1) % 5],
                        row[(x + 2) % 5],
                    );
                }
            }
            // ι
            a[0] = _mm512_xor_si512(a[0], _mm512_set1_epi64(rc as i64));
        }
        for (i, lane) in a.iter().enumerate() {
            let lo = _mm512_castsi512_si256(*lane);
            let hi = _mm512_extracti64x4_epi64::<1>(*lane);
            states[0][i] = _mm256_extract_epi64::<0>(lo) as u64;
            states[1][i] = _mm256_extract_epi64::<1>(lo) as u64;
            states[2][i] = _mm256_extract_epi64::<2>(lo) as u64;
            states[3][i] = _mm256_extract_epi64::<3>(lo) as u64;
            states[4][i] = _mm256_extract_epi64::<0>(hi) as u64;
            states[5][i] = _mm256_extract_epi64::<1>(hi) as u64;
            states[6][i] = _mm256_extract_epi64::<2>(hi) as u64;
            states[7][i] = _mm256_extract_epi64::<3>(hi) as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_at_once_match_sha3_one_by_one() {
        let msgs: Vec<Vec<u8>> = (0..40usize)
            .map(|i| {
                (0..(i * 37) % RATE)
                    .map(|j| (i * 7 + j * 13) as u8)
                    .collect()
            })
            .chain([vec![0u8; RATE - 1], vec![0xFF; RATE - 2], Vec::new()])
            .collect();
        for group in msgs.chunks(4) {
            let mut refs: [&[u8]; 4] = [&[]; 4];
            for (r, m) in refs.iter_mut().zip(group) {
                *r = m;
            }
            let got = shake128_x4::<10>(refs, group.len());
            for (g, m) in got.iter().zip(group) {
                assert_eq!(*g, crate::shake128::<10>(m), "message of {} bytes", m.len());
            }
            let got = shake128_x4::<32>(refs, group.len());
            for (g, m) in got.iter().zip(group) {
                assert_eq!(*g, crate::shake128::<32>(m), "message of {} bytes", m.len());
            }
        }
        for group in msgs.chunks(8) {
            let mut refs: [&[u8]; 8] = [&[]; 8];
            for (r, m) in refs.iter_mut().zip(group) {
                *r = m;
            }
            let got = shake128_many::<10>(refs, group.len());
            for (g, m) in got.iter().zip(group) {
                assert_eq!(*g, crate::shake128::<10>(m), "message of {} bytes", m.len());
            }
        }
        // a message longer than a block takes the scalar way
        let long = vec![5u8; 500];
        let got = shake128_x4::<10>([&long, b"a", b"b", b"c"], 4);
        assert_eq!(got[0], crate::shake128::<10>(&long));
        assert_eq!(got[3], crate::shake128::<10>(b"c"));
    }
}
