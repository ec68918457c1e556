//! Link the integration tests against the prebuilt libduckdb with an rpath, so the tests run
//! without LD_LIBRARY_PATH when DuckDB is not bundled; build the Python and JavaScript SDKs'
//! example connectors into components with componentize-py and componentize-js, installing
//! them from PyPI and npm into `~/.cache/sluice` when they are missing (the tests never skip
//! a language).

use std::path::{Path, PathBuf};
use std::process::Command;

use sluice_scaffold::{COMPONENTIZE_JS, COMPONENTIZE_PY};

/// SDK examples built for the tests, in each of Python and JavaScript.
const EXAMPLES: [&str; 3] = ["hello", "synthetic", "probe"];

/// Components the Rust SDK cannot express (several memories, a table bomb, thousands of core
/// instances), written in the component text format under `tests/hostile/` and assembled
/// here; each `X.wat` becomes `SLUICE_WAT_X`.
fn hostile_components(manifest: &Path, out: &Path) {
    let dir = manifest.join("hostile");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wat"))
        .collect();
    entries.sort();
    for wat in entries {
        let bytes = wat::parse_file(&wat).unwrap_or_else(|e| panic!("{}: {e}", wat.display()));
        let stem = wat
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = out.join(format!("{stem}.wasm"));
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        println!(
            "cargo:rustc-env=SLUICE_WAT_{}={}",
            stem.to_uppercase(),
            path.display()
        );
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    let root = manifest.join("..");
    for dir in ["sdk/python", "sdk/js", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=SLUICE_PY_VENV");
    println!("cargo:rerun-if-env-changed=SLUICE_JS_TOOLS");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets this"));
    hostile_components(&manifest, &out);
    let py = componentize_py(&out);
    let js = componentize_js(&out);
    // six builds, about a minute of CPU: run them side by side
    let mut builds: Vec<(String, Command, PathBuf)> = Vec::new();
    for ex in EXAMPLES {
        let wasm = out.join(format!("py_{ex}.wasm"));
        // the probe also reads over standard wasi:http (`sluice.wasi_http`)
        let world = if ex == "probe" {
            "sluice:connector/connector-http"
        } else {
            "sluice:connector/connector"
        };
        let mut c = Command::new(&py);
        c.arg("-d")
            .arg(root.join("wit"))
            .args(["-w", world, "componentize"])
            .arg("-p")
            .arg(root.join("sdk/python"))
            .arg("-p")
            .arg(root.join("sdk/python/examples").join(ex))
            .args(["app", "-o"])
            .arg(&wasm);
        builds.push((format!("SLUICE_PY_{}", ex.to_uppercase()), c, wasm));

        let wasm = out.join(format!("js_{ex}.wasm"));
        // componentize-js maps only its working directory into the build: every module the
        // connector imports must lie below it
        let mut c = Command::new(&js);
        c.current_dir(&root)
            .arg(format!("sdk/js/examples/{ex}/app.js"))
            .arg("--wit")
            .arg(root.join("wit"))
            .args(["--world-name", "connector", "-o"])
            .arg(&wasm);
        builds.push((format!("SLUICE_JS_{}", ex.to_uppercase()), c, wasm));
    }
    let results: Vec<(String, PathBuf, std::io::Result<std::process::Output>)> =
        std::thread::scope(|s| {
            let running: Vec<_> = builds
                .into_iter()
                .map(|(var, mut c, wasm)| s.spawn(move || (var, wasm, c.output())))
                .collect();
            running
                .into_iter()
                .map(|h| h.join().expect("build thread"))
                .collect()
        });
    for (var, wasm, result) in results {
        let output = result.unwrap_or_else(|e| panic!("running the build for {var}: {e}"));
        assert!(
            output.status.success() && wasm.is_file(),
            "building {} failed:\n{}\n{}",
            wasm.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        println!("cargo:rustc-env={var}={}", wasm.display());
    }
    println!(
        "cargo:rustc-env=SLUICE_TEST_CACHE={}",
        cache_dir("SLUICE_TEST_CACHE", "tests", &out).display()
    );
    // the scaffold tests build projects with the same toolchains
    println!(
        "cargo:rustc-env=SLUICE_PY_VENV_DIR={}",
        py.parent().and_then(Path::parent).unwrap_or(&out).display()
    );
    println!(
        "cargo:rustc-env=SLUICE_JS_TOOLS_DIR={}",
        js.parent()
            .and_then(Path::parent)
            .and_then(Path::parent)
            .unwrap_or(&out)
            .display()
    );
}

/// A directory under `~/.cache/sluice` (the build's OUT_DIR when there is no home).
fn cache_dir(env: &str, name: &str, out: &Path) -> PathBuf {
    std::env::var_os(env)
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/sluice").join(name))
        })
        .unwrap_or_else(|| out.join(name))
}

/// componentize-js at the pinned version: `$SLUICE_JS_TOOLS` (default
/// `~/.cache/sluice/js-tools`), installed from npm when missing.
fn componentize_js(out: &Path) -> PathBuf {
    let dir = cache_dir("SLUICE_JS_TOOLS", "js-tools", out);
    let tool = dir.join("node_modules/.bin/componentize-js");
    let installed = std::fs::read_to_string(
        dir.join("node_modules/@bytecodealliance/componentize-js/package.json"),
    )
    .unwrap_or_default();
    if tool.exists() && installed.contains(&format!("\"version\": \"{COMPONENTIZE_JS}\"")) {
        return tool;
    }
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    if !dir.join("package.json").exists() {
        std::fs::write(dir.join("package.json"), "{\"private\": true}\n")
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    let ok = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .arg(format!(
            "@bytecodealliance/componentize-js@{COMPONENTIZE_JS}"
        ))
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok && tool.exists(),
        "npm install @bytecodealliance/componentize-js@{COMPONENTIZE_JS} failed (is npm installed and the npm registry reachable?)"
    );
    tool
}

/// componentize-py at the pinned version: `$SLUICE_PY_VENV` (default
/// `~/.cache/sluice/py-venv`), created and installed from PyPI when missing.
fn componentize_py(out: &Path) -> PathBuf {
    let venv = cache_dir("SLUICE_PY_VENV", "py-venv", out);
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
