//! Link the integration tests against the prebuilt libduckdb with an rpath, so the tests run
//! without LD_LIBRARY_PATH when DuckDB is not bundled; build the Python SDK's example
//! connectors into components with componentize-py, installing it from PyPI into a virtualenv
//! when it is missing (the tests never skip a language).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The componentize-py release the SDK is built and tested with.
const COMPONENTIZE_PY: &str = "0.25.1";
/// Python SDK examples built for the tests.
const PY_EXAMPLES: [&str; 3] = ["hello", "synthetic", "probe"];

fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    let root = manifest.join("..");
    for dir in ["sdk/python", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=SLUICE_PY_VENV");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets this"));
    let tool = componentize_py(&out);
    for ex in PY_EXAMPLES {
        let dir = root.join("sdk/python/examples").join(ex);
        let wasm = out.join(format!("py_{ex}.wasm"));
        let status = Command::new(&tool)
            .arg("-d")
            .arg(root.join("wit"))
            .args(["-w", "sluice:connector/connector", "componentize"])
            .arg("-p")
            .arg(root.join("sdk/python"))
            .arg("-p")
            .arg(&dir)
            .args(["app", "-o"])
            .arg(&wasm)
            .status()
            .expect("running componentize-py");
        assert!(
            status.success(),
            "componentize-py failed for sdk/python/examples/{ex}"
        );
        println!(
            "cargo:rustc-env=SLUICE_PY_{}={}",
            ex.to_uppercase(),
            wasm.display()
        );
    }
}

/// componentize-py at the pinned version: `$SLUICE_PY_VENV` (default
/// `~/.cache/sluice/py-venv`), created and installed from PyPI when missing.
fn componentize_py(out: &Path) -> PathBuf {
    let venv = std::env::var_os("SLUICE_PY_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/sluice/py-venv"))
        })
        .unwrap_or_else(|| out.join("py-venv"));
    let tool = venv.join("bin/componentize-py");
    let version = Command::new(&tool)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if version.contains(COMPONENTIZE_PY) {
        return tool;
    }
    if !venv.join("bin/pip").exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "python3 -m venv {} failed (is python3-venv installed?)",
            venv.display()
        );
    }
    let ok = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "-q",
            &format!("componentize-py=={COMPONENTIZE_PY}"),
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "pip install componentize-py=={COMPONENTIZE_PY} failed (PyPI reachable?)"
    );
    tool
}
