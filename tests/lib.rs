//! Helpers shared by the integration tests: running pipelines into temporary DuckDB files
//! and reading datasets back in the conformance canonical form.
