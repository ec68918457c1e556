//! How fast the host's page check (`check_page`) is against the general path's parse
//! (`parse_page`) on an NDJSON file cut into 2 MiB pages at line ends, as the `files`
//! connector cuts it: `cargo run --release --example check_speed -- FILE.ndjson`.

fn main() {
    let path = std::env::args().nth(1).expect("file");
    let bytes = std::fs::read(path).expect("read");
    let mut cut = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let mut end = (start + (2 << 20)).min(bytes.len());
        while end < bytes.len() && bytes[end - 1] != b'\n' {
            end += 1;
        }
        cut.push(&bytes[start..end]);
        start = end;
    }
    for _ in 0..3 {
        let t = std::time::Instant::now();
        for p in &cut {
            sluice_normalize::check_page(p, sluice_normalize::RecordsFormat::Ndjson)
                .expect("the page parses");
        }
        let c = t.elapsed();
        let t = std::time::Instant::now();
        for p in &cut {
            sluice_normalize::parse_page(p, sluice_normalize::RecordsFormat::Ndjson)
                .expect("the page parses");
        }
        println!("check {:?} parse {:?}", c, t.elapsed());
    }
}
