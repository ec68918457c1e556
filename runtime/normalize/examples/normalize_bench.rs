//! Normalize alone, for `just bench`: read an NDJSON file, cut it into pages of N records,
//! and time parse + flatten + evolve + Arrow building of every page on a rayon pool of
//! `--threads` threads. Prints one JSON line: bytes, records, table rows, seconds, MB/s,
//! records/s, and a digest of the output (equal for any thread count).
//!
//! `cargo run --release -p sluice-normalize --example normalize_bench -- FILE --threads 2`

use std::time::Instant;

use sluice_normalize::{Normalizer, RecordsFormat, ResourceTable, parse_page};
use sluice_schema::Schema;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut file = None;
    let mut threads = 1usize;
    let mut page_records = 5_000usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => threads = args.next().ok_or("--threads N")?.parse()?,
            "--page-records" => page_records = args.next().ok_or("--page-records N")?.parse()?,
            other => file = Some(other.to_owned()),
        }
    }
    let file = file.ok_or("usage: normalize_bench FILE [--threads N] [--page-records N]")?;
    let bytes = std::fs::read(&file)?;
    // pages as a connector would hand them over: byte ranges of whole lines
    let mut pages = Vec::new();
    let mut start = 0;
    let mut lines = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' {
            lines += 1;
            if lines % page_records == 0 {
                pages.push(&bytes[start..=i]);
                start = i + 1;
            }
        }
    }
    if start < bytes.len() {
        pages.push(&bytes[start..]);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let table = ResourceTable::new("bench", "bench");
    let (secs, records, rows, digest) = pool
        .install(|| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
            let mut schema = Schema::new("bench");
            let mut n = Normalizer::new("1.0", [3; 16], 63);
            let t = Instant::now();
            let mut records = 0usize;
            let mut rows = 0usize;
            let mut digest = 0u64;
            for (seq, page) in pages.iter().enumerate() {
                let recs = parse_page(page, RecordsFormat::Ndjson)?;
                records += recs.len();
                n.add_page(&mut schema, &table, seq as u64, recs)?;
                for (name, batch) in n.take_batches(&schema)? {
                    rows += batch.num_rows();
                    digest = digest.rotate_left(7).wrapping_add(
                        batch.num_rows() as u64 * 31
                            + batch.num_columns() as u64
                            + name.len() as u64,
                    );
                }
            }
            Ok((t.elapsed().as_secs_f64(), records, rows, digest))
        })
        .map_err(|e| e.to_string())?;
    println!(
        "{{\"threads\": {threads}, \"bytes\": {}, \"records\": {records}, \"rows\": {rows}, \"secs\": {secs:.4}, \"mb_s\": {:.2}, \"records_s\": {:.0}, \"rows_s\": {:.0}, \"digest\": {digest}}}",
        bytes.len(),
        bytes.len() as f64 / 1e6 / secs,
        records as f64 / secs,
        rows as f64 / secs
    );
    Ok(())
}
