# Recipes are thin; logic lives in Rust. `scripts/dev RECIPE` installs prerequisites first.
export DUCKDB_LIB_DIR := env_var('HOME') / ".cache/sluice/duckdb-1.5.6"
export CARGO_TARGET_DIR := env_var_or_default('CARGO_TARGET_DIR', env_var('HOME') / ".cache/sluice/target")
export SLUICE_WASM_TARGET_DIR := CARGO_TARGET_DIR / "wasm"
# the Python package's build and test venv (scripts/bootstrap makes it)
pyvenv := env_var('HOME') / ".cache/sluice/python-venv"

# build the host and the bundled connectors
build:
    cargo build --workspace

# build only the connector components (wasm32-wasip2)
connectors:
    cd connectors && cargo build --release --target wasm32-wasip2 --target-dir "$SLUICE_WASM_TARGET_DIR"

# lint both workspaces, run every test (doc, unit, then the one integration binary), then the
# demo as a smoke test
test: lint
    cargo test --workspace --doc
    cargo test --workspace --lib --bins
    # the guest crates' own unit tests, natively (the `files` connector's CSV sniffing and
    # typing, `rest_api`'s resume points, the guest's pure-Rust zstd for Parquet)
    cd connectors && cargo test -p files -p rest_api -p zstd --lib
    cargo test --workspace --test integration
    just python-test
    just demo

# build the Python wheel (`--release` or the dev profile the Rust tests use, sharing their
# target dir, so the engine compiles once) with libduckdb and the bundled connectors inside,
# into $CARGO_TARGET_DIR/wheels
wheel PROFILE="dev":
    rm -f "$CARGO_TARGET_DIR"/wheels/sluice-*.whl
    # the wheel's repair rewrites the linked library in place (a hard link of cargo's
    # artifact): relink it, or the next repair finds the library it renamed
    rm -f "$CARGO_TARGET_DIR"/maturin/lib_sluice.so "$CARGO_TARGET_DIR"/*/deps/lib_sluice.so
    cd python && PATH="{{pyvenv}}/bin:$PATH" maturin build --profile {{PROFILE}} --strip --auditwheel repair --interpreter "{{pyvenv}}/bin/python" --out "$CARGO_TARGET_DIR/wheels"

# the Python package's tests (pytest) against the wheel, installed into the test venv
python-test: (wheel "dev")
    "{{pyvenv}}/bin/pip" install --quiet --force-reinstall --no-deps "$CARGO_TARGET_DIR"/wheels/sluice-*.whl
    # from the tests folder, so `import sluice` is the installed wheel, not the source tree
    cd python/tests && "{{pyvenv}}/bin/pytest" -q -p no:cacheprovider .

# the demo: 50k synthetic GitHub-like events into ./github_demo.duckdb, then the tables
demo:
    cargo run -q -p sluice-cli -- run examples/github_demo.toml
    cargo run -q -p sluice-cli -- tables examples/github_demo.toml

# benchmarks side by side with dlt and DuckDB read_json (release build; writes BENCHMARKS.md).
# `just bench --runs 1 --github 20000 --memory-large 200000 --dest-rows 100000` is a quick pass.
bench *ARGS:
    cargo build --release -p sluice-cli
    cargo build --release -p sluice-normalize --example normalize_bench
    just wheel release
    python3 bench/bench.py {{ARGS}}

# Sluice against dlt (from PyPI) on generated nested JSON and identifiers; a development check,
# not part of CI. `just differential --seed 7 --cases 2000`; `--avoid-documented` draws only
# cases none of the README's deliberate differences explains.
differential *ARGS:
    cargo build --release -p sluice-cli
    cargo build --release -p sluice-schema --example naming
    python3 scripts/differential/naming.py
    python3 scripts/differential/run.py {{ARGS}}

# record dlt's output (from PyPI) for every case in tests/conformance/cases, for an Arrow
# table of every type (tests/conformance/arrow), for a PostgreSQL table of every type
# through its sql_database source (tests/conformance/sql) and for the CSV files of
# tests/conformance/csv and a Parquet file (tests/conformance/parquet) through its filesystem
# source, read_csv and read_parquet, and for the Python package's records and DataFrame
# (python/tests/cases.py), so CI holds it
conformance-fixtures *NAMES:
    python3 scripts/differential/fixtures.py {{NAMES}}
    python3 scripts/differential/arrow_fixtures.py
    python3 scripts/differential/sql_fixtures.py
    python3 scripts/differential/file_fixtures.py
    python3 scripts/differential/python_fixtures.py

# fmt and clippy on the host workspace and on the guest (connectors/) workspace
lint:
    cargo fmt --all --check
    cd connectors && cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    cd connectors && cargo clippy --workspace --all-targets --target wasm32-wasip2 --target-dir "$SLUICE_WASM_TARGET_DIR" -- -D warnings

fmt:
    cargo fmt --all
