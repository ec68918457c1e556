//! Sluice's naming over identifiers from stdin, for the naming harness
//! (`scripts/differential/naming.py`): each input line is a JSON string; each output line is
//! a JSON object with the identifier normalized, normalized as a path (how keys and tables
//! are named), and the path shortened to 63 bytes (PostgreSQL's limit).

use std::io::{BufRead, Write};

use sluice_schema::{normalize_identifier, normalize_path};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let ident: String = serde_json::from_str(&line?)?;
        let row = serde_json::json!({
            "ident": normalize_identifier(&ident),
            "path": normalize_path(&ident, usize::MAX),
            "path63": normalize_path(&ident, 63),
        });
        writeln!(out, "{row}")?;
    }
    Ok(())
}
