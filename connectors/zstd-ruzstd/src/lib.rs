//! `zstd` 0.13's `bulk` compressor and decompressor and `zstd_safe::get_frame_content_size`,
//! the calls `parquet`'s zstd codec makes, over the pure-Rust `ruzstd`.
//!
//! Decompression is whole: every frame of the input, skippable frames skipped, refused past
//! the capacity the caller gives (as the C library's bulk API refuses), so a column chunk
//! cannot grow past the page size its header declares. Compression writes ruzstd's one real
//! level (`Fastest`) whatever level is asked for; the guest only reads Parquet.

pub mod bulk;
pub mod zstd_safe;
