//! dlt's data types and their names.

use serde::{Deserialize, Serialize};

/// A column's data type, named as dlt names it in schema files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    Text,
    Double,
    Bool,
    Timestamp,
    Bigint,
    Binary,
    #[serde(alias = "complex")]
    Json,
    Decimal,
    Wei,
    Date,
    Time,
}

impl DataType {
    /// dlt's name, also the suffix of variant columns (`col__v_text`).
    pub fn name(self) -> &'static str {
        match self {
            DataType::Text => "text",
            DataType::Double => "double",
            DataType::Bool => "bool",
            DataType::Timestamp => "timestamp",
            DataType::Bigint => "bigint",
            DataType::Binary => "binary",
            DataType::Json => "json",
            DataType::Decimal => "decimal",
            DataType::Wei => "wei",
            DataType::Date => "date",
            DataType::Time => "time",
        }
    }

    /// Parse dlt's name of a type.
    pub fn parse(name: &str) -> Option<DataType> {
        Some(match name {
            "text" => DataType::Text,
            "double" => DataType::Double,
            "bool" => DataType::Bool,
            "timestamp" => DataType::Timestamp,
            "bigint" => DataType::Bigint,
            "binary" => DataType::Binary,
            "json" | "complex" => DataType::Json,
            "decimal" => DataType::Decimal,
            "wei" => DataType::Wei,
            "date" => DataType::Date,
            "time" => DataType::Time,
            _ => return None,
        })
    }
}

impl std::fmt::Display for DataType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
