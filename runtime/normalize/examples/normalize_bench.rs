//! Normalize alone, for `just bench`: read an NDJSON file, cut it into pages of N records,
//! and time parse + flatten + evolve + Arrow building of every page on a rayon pool of
//! `--threads` threads. Prints one JSON line: bytes, records, table rows, seconds, MB/s,
//! records/s, pages that took the fast path (after one untimed warm-up pass), and a digest of the output (equal for any thread
//! count, and for either path). `--general` sends every page through the general path
//! (parse into `serde_json::Value`s, then `add_page`), for the side-by-side ratio.
//!
//! `cargo run --release -p sluice-normalize --example normalize_bench -- FILE --threads 2 [--general]`

use std::hash::{Hash, Hasher};
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};

use sluice_normalize::{Normalizer, RecordsFormat, ResourceTable, parse_page};
use sluice_schema::Schema;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut file = None;
    let mut threads = 1usize;
    let mut page_records = 5_000usize;
    let mut general = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => threads = args.next().ok_or("--threads N")?.parse()?,
            "--general" => general = true,
            "--page-records" => page_records = args.next().ok_or("--page-records N")?.parse()?,
            other => file = Some(other.to_owned()),
        }
    }
    let file =
        file.ok_or("usage: normalize_bench FILE [--threads N] [--page-records N] [--general]")?;
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
    // one untimed pass first, so the timed one runs in a process whose allocator has its
    // memory (a loading pipeline is a long-lived process; first-touch page faults of a fresh
    // process are not the normalizer's speed)
    let pass = || {
        pool.install(|| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
            let mut schema = Schema::new("bench");
            let mut n = Normalizer::new("1.0", [3; 16], 63);
            let t = Instant::now();
            let mut records = 0usize;
            let mut rows = 0usize;
            let mut digests = std::collections::BTreeMap::new();
            let mut digest_time = std::time::Duration::ZERO;
            for (seq, page) in pages.iter().enumerate() {
                if general {
                    let recs = parse_page(page, RecordsFormat::Ndjson)?;
                    n.add_page(&mut schema, &table, seq as u64, recs)?;
                } else {
                    n.add_page_bytes(&mut schema, &table, seq as u64, page, RecordsFormat::Ndjson)?;
                }
                for (name, batch) in n.take_batches(&schema)? {
                    rows += batch.num_rows();
                    if name == "bench" {
                        records += batch.num_rows();
                    }
                    // a digest of every value, its time left out of the figure
                    let d = Instant::now();
                    digest_batch(&mut digests, &name, &batch);
                    digest_time += d.elapsed();
                }
            }
            let secs = (t.elapsed() - digest_time).as_secs_f64();
            let digest = digests.iter().fold(0u64, |d, (table, td)| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                (table, td).hash(&mut h);
                d ^ h.finish()
            });
            Ok((secs, records, rows, digest, n.path_stats().clone()))
        })
        .map_err(|e| e.to_string())
    };
    pass()?;
    let (secs, records, rows, digest, paths) = pass()?;
    println!(
        "{{\"threads\": {threads}, \"bytes\": {}, \"records\": {records}, \"rows\": {rows}, \"secs\": {secs:.4}, \"mb_s\": {:.2}, \"records_s\": {:.0}, \"rows_s\": {:.0}, \"pages\": {}, \"fast_pages\": {}, \"fast_records\": {}, \"general_records\": {}, \"digest\": {digest}}}",
        bytes.len(),
        bytes.len() as f64 / 1e6 / secs,
        records as f64 / secs,
        rows as f64 / secs,
        pages.len(),
        paths.fast_pages,
        paths.fast_records,
        paths.general_records,
    );
    Ok(())
}

/// Fold a batch's rows into its table's running digest: each row's non-null cells (column
/// name and value, by its text for types other than strings, integers, floats and booleans),
/// rows in order. Batch boundaries do not count, so either path gives the same digests.
fn digest_batch(
    digests: &mut std::collections::BTreeMap<String, u64>,
    name: &str,
    batch: &RecordBatch,
) {
    let digest = digests.entry(name.to_owned()).or_default();
    let schema = batch.schema();
    for i in 0..batch.num_rows() {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for (field, col) in schema.fields().iter().zip(batch.columns()) {
            if col.is_null(i) {
                continue;
            }
            field.name().hash(&mut h);
            if let Some(s) = col.as_string_opt::<i32>() {
                s.value(i).hash(&mut h);
            } else if let Some(v) = col.as_primitive_opt::<arrow_array::types::Int64Type>() {
                v.value(i).hash(&mut h);
            } else if let Some(v) = col.as_primitive_opt::<arrow_array::types::Float64Type>() {
                v.value(i).to_bits().hash(&mut h);
            } else if let Some(v) = col.as_boolean_opt() {
                v.value(i).hash(&mut h);
            } else {
                format!("{:?}", col.slice(i, 1)).hash(&mut h);
            }
        }
        *digest = digest.rotate_left(1) ^ h.finish();
    }
}
