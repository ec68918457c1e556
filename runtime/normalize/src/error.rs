//! Errors of normalization, each naming its place (record, table, column, page).

use sluice_schema::{ContractEntity, ContractMode};

/// Errors of normalization. Every variant names its place. Positions are 0-based in the
/// fields and counted from 1 in the messages, as pages are.
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    #[error("record {} of the page is not valid JSON: {reason}", .index + 1)]
    Json { index: usize, reason: String },
    #[error("the page is not valid JSON: {0}")]
    PageJson(String),
    #[error("record {} of table `{table}`: {reason}", .index + 1)]
    Record {
        table: String,
        index: usize,
        reason: String,
    },
    #[error("table `{table}` column `{column}`: {reason}")]
    Coerce {
        table: String,
        column: String,
        reason: String,
    },
    #[error(
        "in schema `{schema}`: table `{table}`{}: contract on `{}` with mode `{mode}` is violated: {}; offending record {}: {data}",
        column.as_ref().map(|c| format!(" column `{c}`")).unwrap_or_default(),
        entity.as_str(),
        contract_reason(table, column.as_deref(), *entity),
        record + 1
    )]
    Contract {
        schema: String,
        table: String,
        column: Option<String>,
        entity: ContractEntity,
        mode: ContractMode,
        /// position of the record in its page
        record: usize,
        /// the offending row, JSON, cut at 500 bytes
        data: String,
    },
    #[error(
        "record {} of the page fails the JSON Schema of resource `{resource}` at `{path}`: {reason}",
        record + 1
    )]
    JsonSchema {
        resource: String,
        record: usize,
        path: String,
        reason: String,
    },
    #[error("record {} of the page: {reason}", .index + 1)]
    Limit { index: usize, reason: String },
    #[error("the Arrow page: {0}")]
    Arrow(String),
    #[error("schema settings: {0}")]
    Settings(String),
    #[error("internal normalizer error: {0}")]
    Internal(String),
}

fn contract_reason(table: &str, column: Option<&str>, entity: ContractEntity) -> String {
    match (entity, column) {
        (ContractEntity::Tables, _) => {
            format!("can't add table `{table}` because `tables` are frozen")
        }
        (ContractEntity::Columns, Some(c)) => {
            format!("can't add table column `{c}` to table `{table}` because `columns` are frozen")
        }
        (_, Some(c)) => format!(
            "can't add variant column `{c}` to table `{table}` because `data_type` is frozen"
        ),
        (_, None) => format!("a value of table `{table}` does not fit its column type"),
    }
}
