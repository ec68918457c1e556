//! Builds the guest workspace `connectors/` for wasm32-wasip2 and points the crate at the
//! component files, so every host binary carries the connectors it ships with.

use std::path::PathBuf;
use std::process::Command;

const COMPONENTS: [&str; 10] = [
    "files",
    "rest_api",
    "sql_database",
    "synthetic",
    "hello",
    "sandbox_probe",
    "wasi_http_probe",
    "evil_import",
    "arrow_probe",
    "sql_probe",
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    let root = manifest.join("../..");
    for dir in ["connectors", "sdk/rust", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets this"));
    // a target dir of its own: the outer cargo holds the lock on the host one
    let target = std::env::var_os("SLUICE_WASM_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| out.join("wasm-target"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root.join("connectors"))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("running cargo for the connectors");
    assert!(
        status.success(),
        "building connectors/ for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`)"
    );
    for name in COMPONENTS {
        let path = target
            .join("wasm32-wasip2/release")
            .join(format!("{name}.wasm"));
        assert!(
            path.exists(),
            "component `{}` was not built",
            path.display()
        );
        println!(
            "cargo:rustc-env=SLUICE_COMPONENT_{}={}",
            name.to_uppercase(),
            path.display()
        );
        // a component removed or replaced behind cargo's back (a cleaned or shared target
        // dir) runs this script again, so the connectors are rebuilt rather than missing
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
