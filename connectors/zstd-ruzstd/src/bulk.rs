//! One-shot compression and decompression of a buffer.

use std::io::{self, Read};

use ruzstd::decoding::StreamingDecoder;
use ruzstd::encoding::{CompressionLevel, compress_to_vec};

/// A compressor; the level is accepted and ruzstd's `Fastest` used.
pub struct Compressor<'a> {
    _dictionary: std::marker::PhantomData<&'a [u8]>,
}

impl Compressor<'static> {
    /// A compressor at `level` (1 ..= 22, as the C library takes).
    pub fn new(level: i32) -> io::Result<Self> {
        if !(-131_072..=22).contains(&level) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("zstd level {level} is out of range"),
            ));
        }
        Ok(Compressor {
            _dictionary: std::marker::PhantomData,
        })
    }
}

impl Compressor<'_> {
    /// `data` as one zstd frame.
    pub fn compress(&mut self, data: &[u8]) -> io::Result<Vec<u8>> {
        Ok(compress_to_vec(data, CompressionLevel::Fastest))
    }
}

/// A decompressor of whole buffers.
pub struct Decompressor<'a> {
    _dictionary: std::marker::PhantomData<&'a [u8]>,
}

impl Decompressor<'static> {
    pub fn new() -> io::Result<Self> {
        Ok(Decompressor {
            _dictionary: std::marker::PhantomData,
        })
    }
}

impl Decompressor<'_> {
    /// Every frame of `data`, decoded; an error when they hold more than `capacity` bytes.
    pub fn decompress(&mut self, data: &[u8], capacity: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(capacity);
        let mut rest = data;
        while !rest.is_empty() {
            if let Some(skip) = skippable_len(rest) {
                rest = rest
                    .get(skip..)
                    .ok_or_else(|| invalid("a truncated skippable frame"))?;
                continue;
            }
            let room = capacity.saturating_sub(out.len()) as u64;
            let mut frame =
                StreamingDecoder::new(&mut rest).map_err(|e| invalid(&e.to_string()))?;
            let read = (&mut frame).take(room + 1).read_to_end(&mut out)?;
            if read as u64 > room {
                return Err(invalid(&format!(
                    "the data holds more than the {capacity} bytes expected"
                )));
            }
        }
        Ok(out)
    }
}

/// The whole length of a skippable frame at the start of `data` (magic 0x184D2A5?).
fn skippable_len(data: &[u8]) -> Option<usize> {
    let magic = u32::from_le_bytes(data.get(..4)?.try_into().ok()?);
    if magic & 0xFFFF_FFF0 != 0x184D_2A50 {
        return None;
    }
    let len = u32::from_le_bytes(data.get(4..8)?.try_into().ok()?);
    Some(8 + len as usize)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_the_capacity_is_a_limit() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut c = Compressor::new(3).expect("level");
        let one = c.compress(&data).expect("compress");
        assert!(one.len() < data.len());
        let mut d = Decompressor::new().expect("new");
        assert_eq!(d.decompress(&one, data.len()).expect("decode"), data);
        // two frames with a skippable frame between, as a concatenation makes them
        let skippable = [
            &0x184D_2A53u32.to_le_bytes()[..],
            &3u32.to_le_bytes(),
            b"abc",
        ]
        .concat();
        let two = [one.clone(), skippable, one.clone()].concat();
        let both = d.decompress(&two, 2 * data.len()).expect("two frames");
        assert_eq!(both.len(), 2 * data.len());
        let err = d
            .decompress(&one, data.len() - 1)
            .expect_err("over capacity");
        assert!(err.to_string().contains("more than"), "{err}");
        assert!(d.decompress(b"not zstd at all", 100).is_err());
    }
}
