//! Link this crate's unit tests (they open real DuckDB files) against the prebuilt libduckdb
//! with an rpath, so they run without LD_LIBRARY_PATH when DuckDB is not bundled.

fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
