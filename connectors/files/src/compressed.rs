//! Files opened as the bytes they hold: gzip (every member, as `cat a.gz b.gz` makes) and
//! zstd (one frame, as `zstd` writes) are told by their magic bytes whatever the file is
//! named, and decoded as they are read.
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

/// `path` opened for reading its content, decompressed when it is compressed.
pub fn open(path: &str) -> Result<(Box<dyn BufRead>, Compression), Error> {
    let file = std::fs::File::open(path)
        .map_err(|e| error(ErrorKind::Config, format!("cannot open `{path}`: {e}")))?;
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
        Compression::Zstd => Box::new(
            ruzstd::decoding::StreamingDecoder::new(raw)
                .map_err(|e| error(ErrorKind::Data, format!("file `{path}`: not zstd: {e}")))?,
        ),
    };
    Ok((
        Box::new(BufReader::with_capacity(READ_BUFFER, decoded)),
        compression,
    ))
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
