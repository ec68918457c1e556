//! Data contracts (dlt's `schema_contract`): what may happen when data does not fit the
//! schema — new tables, new columns, and values that need a variant column.

use serde::{Deserialize, Serialize};

/// What to do with a schema change of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractMode {
    /// accept the change
    #[default]
    Evolve,
    /// fail the run; nothing of the package is loaded
    Freeze,
    /// drop the row that needs the change (and, in Sluice, its nested rows)
    DiscardRow,
    /// drop the value that needs the change, keep the row
    DiscardValue,
}

impl ContractMode {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "evolve" => Self::Evolve,
            "freeze" => Self::Freeze,
            "discard_row" => Self::DiscardRow,
            "discard_value" => Self::DiscardValue,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Evolve => "evolve",
            Self::Freeze => "freeze",
            Self::DiscardRow => "discard_row",
            Self::DiscardValue => "discard_value",
        }
    }
}

impl std::fmt::Display for ContractMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The entity a contract rule governs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContractEntity {
    /// a new table (root, nested, or a table that has not seen data yet)
    Tables,
    /// a new column on a table that has seen data
    Columns,
    /// a value that needs a new variant column
    DataType,
}

impl ContractEntity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tables => "tables",
            Self::Columns => "columns",
            Self::DataType => "data_type",
        }
    }
}

/// A contract for the three entities; each defaults to `evolve`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct SchemaContract {
    pub tables: ContractMode,
    pub columns: ContractMode,
    pub data_type: ContractMode,
}

impl SchemaContract {
    /// The same mode for all three entities (dlt's string shorthand, e.g. `"freeze"`).
    pub fn all(mode: ContractMode) -> Self {
        SchemaContract {
            tables: mode,
            columns: mode,
            data_type: mode,
        }
    }

    /// dlt's default for a resource whose columns come from a model (pydantic there, a JSON
    /// Schema here): new tables evolve, unknown fields are dropped, wrong types fail.
    pub fn for_model() -> Self {
        SchemaContract {
            tables: ContractMode::Evolve,
            columns: ContractMode::DiscardValue,
            data_type: ContractMode::Freeze,
        }
    }

    pub fn mode(&self, entity: ContractEntity) -> ContractMode {
        match entity {
            ContractEntity::Tables => self.tables,
            ContractEntity::Columns => self.columns,
            ContractEntity::DataType => self.data_type,
        }
    }

    pub fn is_evolve(&self) -> bool {
        *self == SchemaContract::default()
    }

    /// Parse dlt's forms: `"freeze"`, or `{tables = "evolve", columns = "freeze"}` with
    /// absent entities evolving. Errors name the offending key.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        let mode = |v: &serde_json::Value, key: &str| -> Result<ContractMode, String> {
            v.as_str().and_then(ContractMode::parse).ok_or_else(|| {
                format!("{key}: `{v}` is not one of evolve, freeze, discard_row, discard_value")
            })
        };
        match value {
            serde_json::Value::String(_) => Ok(Self::all(mode(value, "schema_contract")?)),
            serde_json::Value::Object(map) => {
                let mut c = SchemaContract::default();
                for (k, v) in map {
                    let key = format!("schema_contract.{k}");
                    match k.as_str() {
                        "tables" => c.tables = mode(v, &key)?,
                        "columns" => c.columns = mode(v, &key)?,
                        "data_type" => c.data_type = mode(v, &key)?,
                        _ => {
                            return Err(format!(
                                "{key}: unknown entity (use tables, columns, data_type)"
                            ));
                        }
                    }
                }
                Ok(c)
            }
            other => Err(format!(
                "schema_contract: `{other}` is neither a mode nor a table of modes"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for SchemaContract {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        SchemaContract::from_json(&v).map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for SchemaContract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{{tables: {}, columns: {}, data_type: {}}}",
            self.tables, self.columns, self.data_type
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthand_and_partial_tables_parse() {
        let c = SchemaContract::from_json(&serde_json::json!("freeze")).unwrap();
        assert_eq!(c, SchemaContract::all(ContractMode::Freeze));
        let c = SchemaContract::from_json(&serde_json::json!({"columns": "discard_row"})).unwrap();
        assert_eq!(c.columns, ContractMode::DiscardRow);
        assert_eq!(c.tables, ContractMode::Evolve);
        let e = SchemaContract::from_json(&serde_json::json!({"colums": "freeze"})).unwrap_err();
        assert!(e.contains("schema_contract.colums"), "{e}");
        let e = SchemaContract::from_json(&serde_json::json!("frozen")).unwrap_err();
        assert!(e.contains("frozen"), "{e}");
    }
}
