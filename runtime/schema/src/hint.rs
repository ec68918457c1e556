//! A column hint: what a connector declares or a pipeline file sets for one column, the one
//! shape from the plan to the normalizer (the contract's WIT record is converted once, where
//! the pipeline plans its resources). In a pipeline file it is `[resources.R.columns.NAME]`,
//! the name being the table key.

use serde::{Deserialize, Serialize};

use crate::DataType;

/// Hints for one column; what is not given is inferred from the data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ColumnHint {
    /// the column as it appears in the records (normalized by the host)
    pub name: String,
    pub data_type: Option<DataType>,
    pub nullable: Option<bool>,
    pub primary_key: bool,
    pub merge_key: bool,
    pub unique: bool,
    /// which duplicate survives a merge's dedup
    pub dedup_sort: Option<SortOrder>,
    /// rows with a true (or non-null) value here are deleted by merge
    pub hard_delete: bool,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
    /// timestamps: false stores them without time zone
    pub timezone: Option<bool>,
}

/// A sort order (dlt's `dedup_sort`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    Desc,
}

impl SortOrder {
    pub fn parse(s: &str) -> Option<SortOrder> {
        match s {
            "asc" => Some(SortOrder::Asc),
            "desc" => Some(SortOrder::Desc),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        }
    }
}
