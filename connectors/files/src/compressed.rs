//! Files opened as the bytes they hold: gzip and zstd are told by their magic bytes whatever
//! the file is named, and decoded as they are read — every gzip member and every zstd frame,
//! as `cat a.gz b.gz` or `zstd` on concatenated input makes them.
//!
//! Decoding happens here, in the guest, with pure-Rust decoders (`flate2` on `miniz_oxide`,
//! `ruzstd`): there is no C toolchain for wasm32-wasip2 here, and a decoder's bug or a
//! decompression bomb stays inside the sandbox, held by its memory limit and the host's page
//! limit, while the host never parses a file.

use std::io::{BufRead, BufReader, Read};

use sluice_sdk::{Error, ErrorKind, error};

/// Bytes read from a file per call into the host.
pub const READ_BUFFER: usize = 1 << 20;

/// How a file's bytes are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The bytes of `path` (from `file`), decompressed when they are compressed.
pub fn open(path: &str, file: Box<dyn Read>) -> Result<(Box<dyn BufRead>, Compression), Error> {
    // large reads: each one is a call out of the sandbox
    let mut raw = BufReader::with_capacity(READ_BUFFER, file);
    let head = raw
        .fill_buf()
        .map_err(|e| error(ErrorKind::Data, format!("file `{path}`: {e}")))?;
    let compression = if head.starts_with(&GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(&ZSTD_MAGIC) {
        Compression::Zstd
    } else {
        Compression::None
    };
    let decoded: Box<dyn Read> = match compression {
        Compression::None => return Ok((Box::new(raw), compression)),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        Compression::Zstd => Box::new(ZstdFrames::new(path, raw)?),
    };
    Ok((
        Box::new(BufReader::with_capacity(READ_BUFFER, decoded)),
        compression,
    ))
}

type Frame =
    ruzstd::decoding::StreamingDecoder<BufReader<Box<dyn Read>>, ruzstd::decoding::FrameDecoder>;

/// The zstd frames of a file, one after the other.
struct ZstdFrames {
    path: String,
    frame: Option<Frame>,
}

impl ZstdFrames {
    fn new(path: &str, raw: BufReader<Box<dyn Read>>) -> Result<ZstdFrames, Error> {
        let frame = ruzstd::decoding::StreamingDecoder::new(raw)
            .map_err(|e| error(ErrorKind::Data, format!("file `{path}`: not zstd: {e}")))?;
        Ok(ZstdFrames {
            path: path.to_owned(),
            frame: Some(frame),
        })
    }
}

impl Read for ZstdFrames {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let Some(frame) = self.frame.as_mut() else {
                return Ok(0);
            };
            let n = frame.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // this frame is done: another one follows, or the file ends
            let Some(mut raw) = self.frame.take().map(Frame::into_inner) else {
                return Ok(0);
            };
            if raw.fill_buf()?.is_empty() {
                return Ok(0);
            }
            let next = ruzstd::decoding::StreamingDecoder::new(raw).map_err(|e| {
                std::io::Error::other(format!("file `{}`: a zstd frame: {e}", self.path))
            })?;
            self.frame = Some(next);
        }
    }
}

/// The file's name without a compression suffix (`a.csv.gz` → `a.csv`), lower-cased, for
/// telling its format by extension.
pub fn inner_name(path: &str) -> String {
    let lower = path.to_ascii_lowercase();
    for suffix in [".gz", ".gzip", ".zst", ".zstd"] {
        if let Some(stem) = lower.strip_suffix(suffix) {
            return stem.to_owned();
        }
    }
    lower
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_zstd_frame_is_read() {
        let frame = |s: &[u8]| {
            ruzstd::encoding::compress_to_vec(s, ruzstd::encoding::CompressionLevel::Fastest)
        };
        let dir = std::env::temp_dir().join(format!("sluice-zstd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("two.zst");
        std::fs::write(&path, [frame(b"one\n"), frame(b"two\n")].concat()).expect("write");
        let file = std::fs::File::open(&path).expect("open");
        let (mut r, c) = open(&path.to_string_lossy(), Box::new(file)).expect("open");
        let mut text = String::new();
        r.read_to_string(&mut text).expect("read");
        assert_eq!((c, text.as_str()), (Compression::Zstd, "one\ntwo\n"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
