//! The one integration-test binary: real components built from `connectors/`, real DuckDB.

mod support;

mod cache;
mod conformance;
mod http;
mod pipeline;
mod sandbox;
