//! The schema of a Sluice dataset: tables, columns, dlt's types, naming and row ids.
//!
//! Invariant: no IO, no async — pure data and the rules dlt applies to it, so every other
//! stage can rely on one definition of names, types and ids.

// tests unwrap freely; input paths never do
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod contract;
mod hint;
mod ids;
pub mod keccak_lanes;
mod naming;
mod schema;
mod state_codec;
mod types;

pub use contract::{ContractEntity, ContractMode, SchemaContract};
pub use hint::{ColumnHint, SortOrder};
pub use ids::{
    ID_BYTES, IdText, child_row_id, child_row_ids_with, digest_id, salted_row_id, salted_row_ids,
    shake128,
};
pub use naming::{
    PATH_SEPARATOR, make_path, normalize_identifier, normalize_key, normalize_path,
    shorten_identifier,
};
pub use schema::{
    Column, ENGINE_VERSION, MergeStrategy, Schema, SchemaUpdate, Settings, Table, WriteDisposition,
    canonical_json,
};
pub use state_codec::{compress_state, decompress_state};
pub use types::DataType;

/// Row id column of every table.
pub const DLT_ID: &str = "_dlt_id";
/// Load id column of root tables.
pub const DLT_LOAD_ID: &str = "_dlt_load_id";
/// Parent row id column of nested tables.
pub const DLT_PARENT_ID: &str = "_dlt_parent_id";
/// Position in the parent list, of nested tables.
pub const DLT_LIST_IDX: &str = "_dlt_list_idx";
/// Root row id of nested tables of merge tables.
pub const DLT_ROOT_ID: &str = "_dlt_root_id";
/// scd2: default column of when a row version became active.
pub const DLT_VALID_FROM: &str = "_dlt_valid_from";
/// scd2: default column of when a row version was retired.
pub const DLT_VALID_TO: &str = "_dlt_valid_to";
/// The loads table: one row per completed package.
pub const LOADS_TABLE: &str = "_dlt_loads";
/// The schema versions table.
pub const VERSION_TABLE: &str = "_dlt_version";
/// The pipeline state table.
pub const STATE_TABLE: &str = "_dlt_pipeline_state";
