//! Link the extension against the prebuilt libduckdb with an rpath, so a development install
//! finds it; a wheel built with `--auditwheel repair` carries the library itself instead.

fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
