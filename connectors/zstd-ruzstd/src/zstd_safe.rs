//! What a frame's header says of it.

/// Why a frame's content size cannot be told.
#[derive(Debug)]
pub struct ContentSizeError;

impl std::fmt::Display for ContentSizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a zstd frame header")
    }
}

impl std::error::Error for ContentSizeError {}

const MAGIC: u32 = 0xFD2F_B528;

/// The decoded size the first frame's header declares; `None` when it declares none.
pub fn get_frame_content_size(src: &[u8]) -> Result<Option<u64>, ContentSizeError> {
    let magic = src.get(..4).ok_or(ContentSizeError)?;
    if u32::from_le_bytes([magic[0], magic[1], magic[2], magic[3]]) != MAGIC {
        return Err(ContentSizeError);
    }
    let descriptor = *src.get(4).ok_or(ContentSizeError)?;
    let single_segment = descriptor & 0x20 != 0;
    let dictionary_bytes = [0, 1, 2, 4][usize::from(descriptor & 0x03)];
    let size_bytes = match descriptor >> 6 {
        0 if single_segment => 1,
        0 => return Ok(None),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let at = 5 + usize::from(!single_segment) + dictionary_bytes;
    let field = src.get(at..at + size_bytes).ok_or(ContentSizeError)?;
    let mut le = [0u8; 8];
    le[..size_bytes].copy_from_slice(field);
    let size = u64::from_le_bytes(le);
    // a two-byte field counts from 256
    Ok(Some(if size_bytes == 2 { size + 256 } else { size }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declared_size_is_read_from_the_header() {
        let data = vec![7u8; 5000];
        let frame = crate::bulk::Compressor::new(1)
            .and_then(|mut c| c.compress(&data))
            .expect("compress");
        let declared = get_frame_content_size(&frame).expect("a header");
        assert!(declared.is_none() || declared == Some(5000), "{declared:?}");
        // single segment, a one-byte size of 42
        assert_eq!(
            get_frame_content_size(&[0x28, 0xB5, 0x2F, 0xFD, 0x20, 42]).expect("header"),
            Some(42)
        );
        // a two-byte size counts from 256
        assert_eq!(
            get_frame_content_size(&[0x28, 0xB5, 0x2F, 0xFD, 0x40, 0x00, 0x10, 0x00])
                .expect("header"),
            Some(256 + 16)
        );
        assert!(get_frame_content_size(b"PAR1").is_err());
    }
}
