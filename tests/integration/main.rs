//! The one integration-test binary: real components built from `connectors/`, real DuckDB.

// PipelineError is large by design (it carries host and DuckDB errors); tests return it as is.
#![allow(clippy::result_large_err)]

mod certs;
mod mariadb;
mod pg;
mod registry_server;
mod registry_token;
mod s3_server;
mod support;
mod webdriver;

mod api_server;
mod arrow_pages;
mod bucket_destination;
mod buckets;
mod cache;
mod compression;
mod conformance;
mod contract_versions;
mod contracts;
pub mod crash;
mod dashboard;
mod dataset;
mod dispositions;
mod file_formats;
mod files_many;
mod filesystem;
mod hostile;
mod http;
mod http2;
mod in_process;
mod incremental;
mod languages;
mod openapi;
mod openapi_mock;
mod pg_tls;
mod pipeline;
mod plan;
mod ready_pipelines;
mod registry;
mod rest_api;
mod rest_depth;
mod rest_fan_out;
mod rest_resume;
mod sandbox;
mod sql_mariadb;
mod sql_sources;
mod workers;
