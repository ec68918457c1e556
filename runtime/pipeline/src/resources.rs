//! The resources of a run: the connector's declaration with the pipeline file's overrides
//! applied — disposition, merge strategy, keys, column hints, table, incremental cursor — each
//! checked, as the typed values the normalizer and loader take. The WIT records are converted
//! here and nowhere else.

use sluice_host::{SourceSpec, WriteDisposition};
use sluice_normalize::{ColumnHint, ResourceTable, Scd2Options};
use sluice_schema::MergeStrategy;

use crate::incremental::{self, LastValueFunc, OnCursorMissing};
use crate::{PipelineError, PipelineSpec, contracts};

/// Resolved resources of this run, in spec order: the connector's declaration with the
/// pipeline file's overrides applied.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PlannedResource {
    pub name: String,
    pub parent: Option<String>,
    /// table, disposition, keys and column hints as the normalizer takes them
    pub hints: ResourceTable,
    /// a host-side incremental cursor
    #[serde(default)]
    pub incremental: Option<incremental::IncrementalSpec>,
    /// this package continues an earlier package of the same run (a `replace` then appends)
    #[serde(default)]
    pub continues_run: bool,
}

fn incremental_from_connector(
    i: &sluice_host::Incremental,
) -> Result<incremental::IncrementalSpec, String> {
    let json = |v: &Option<String>, what: &str| -> Result<Option<serde_json::Value>, String> {
        v.as_deref()
            .map(|t| {
                serde_json::from_str(t)
                    .map_err(|e| format!("incremental {what} `{t}` is not JSON: {e}"))
            })
            .transpose()
    };
    Ok(incremental::IncrementalSpec {
        cursor_path: i.cursor_path.clone(),
        initial_value: json(&i.initial_value, "initial value")?,
        end_value: json(&i.end_value, "end value")?,
        last_value_func: match i.last_value_func {
            sluice_host::LastValueFunc::Max => LastValueFunc::Max,
            sluice_host::LastValueFunc::Min => LastValueFunc::Min,
        },
        lag: i.lag,
        on_cursor_missing: match i.on_cursor_missing {
            sluice_host::OnCursorMissing::Raise => OnCursorMissing::Raise,
            sluice_host::OnCursorMissing::Keep => OnCursorMissing::Include,
            sluice_host::OnCursorMissing::Drop => OnCursorMissing::Exclude,
        },
        primary_key: None,
    })
}

/// A column hint the connector declared (the contract's record), as the one hint type: the
/// only place the WIT record is converted. Names of types and sort orders are checked here.
fn hint_from_wit(c: &sluice_host::ColumnHint) -> Result<ColumnHint, String> {
    let name = &c.name;
    let data_type = match &c.data_type {
        None => None,
        Some(t) => Some(
            sluice_schema::DataType::parse(t)
                .ok_or_else(|| format!("column `{name}`: unknown data_type `{t}`"))?,
        ),
    };
    let dedup_sort =
        match &c.dedup_sort {
            None => None,
            Some(d) => Some(sluice_schema::SortOrder::parse(d).ok_or_else(|| {
                format!("column `{name}`: dedup_sort is `asc` or `desc`, not `{d}`")
            })?),
        };
    Ok(ColumnHint {
        name: name.clone(),
        data_type,
        nullable: c.nullable,
        primary_key: c.primary_key,
        merge_key: c.merge_key,
        unique: c.unique,
        dedup_sort,
        hard_delete: c.hard_delete,
        precision: c.precision,
        scale: c.scale,
        timezone: c.timezone,
    })
}

pub(crate) fn disposition_name(d: WriteDisposition) -> &'static str {
    match d {
        WriteDisposition::Append => "append",
        WriteDisposition::Replace => "replace",
        WriteDisposition::Merge => "merge",
        WriteDisposition::Skip => "skip",
    }
}

/// The resources a run extracts, in the connector's order: the selected ones and the
/// unselected parents that feed them.
pub(crate) fn plan_resources(
    spec: &PipelineSpec,
    source: &SourceSpec,
    contracts: &contracts::Contracts,
) -> Result<Vec<PlannedResource>, PipelineError> {
    check_overrides_exist(spec, source)?;
    let selected = |r: &sluice_host::ResourceSpec| {
        spec.resources
            .get(&r.name)
            .and_then(|o| o.selected)
            .unwrap_or(r.selected)
    };
    let mut out = Vec::new();
    for r in &source.resources {
        // an unselected parent of a selected resource is extracted to feed it, never loaded
        // (dlt does the same)
        let feeds_only = !selected(r) && feeds_selected(source, &r.name, &selected);
        if !selected(r) && !feeds_only {
            continue;
        }
        let mut planned =
            plan_one(spec, r, feeds_only, contracts).map_err(|reason| PipelineError::Config {
                pipeline: spec.name.clone(),
                reason: format!("resource `{}`: {reason}", r.name),
            })?;
        contracts.apply(&mut planned.hints);
        out.push(planned);
    }
    Ok(out)
}

/// Whether a selected resource depends on `name`, at any depth (the connector's declared
/// parents form no cycle: the host checks that when it reads the spec).
fn feeds_selected(
    source: &SourceSpec,
    name: &str,
    selected: &dyn Fn(&sluice_host::ResourceSpec) -> bool,
) -> bool {
    source
        .resources
        .iter()
        .filter(|c| c.parent.as_deref() == Some(name))
        .any(|c| selected(c) || feeds_selected(source, &c.name, selected))
}

/// Every resource the pipeline file configures is one the connector offers.
fn check_overrides_exist(spec: &PipelineSpec, source: &SourceSpec) -> Result<(), PipelineError> {
    let Some(name) = spec
        .resources
        .keys()
        .find(|name| !source.resources.iter().any(|r| &r.name == *name))
    else {
        return Ok(());
    };
    Err(PipelineError::Config {
        pipeline: spec.name.clone(),
        reason: format!(
            "resource `{name}` in the pipeline file is not offered by connector `{}` (it offers: {})",
            source.name,
            source
                .resources
                .iter()
                .map(|r| format!("`{}`", r.name))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// One resource: the declaration `r` with its override applied and checked.
fn plan_one(
    spec: &PipelineSpec,
    r: &sluice_host::ResourceSpec,
    feeds_only: bool,
    contracts: &contracts::Contracts,
) -> Result<PlannedResource, String> {
    let o = spec.resources.get(&r.name).cloned().unwrap_or_default();
    let wd = if feeds_only {
        "skip".to_owned()
    } else {
        o.write_disposition
            .clone()
            .unwrap_or_else(|| disposition_name(r.write_disposition).to_owned())
    };
    let write_disposition = sluice_schema::WriteDisposition::parse(&wd).ok_or_else(|| {
        format!("unknown write_disposition `{wd}` (append, replace, merge, skip)")
    })?;
    let merge_strategy = merge_strategy(&o, r, write_disposition)?;
    let primary_key = o
        .primary_key
        .clone()
        .unwrap_or_else(|| r.primary_key.clone());
    let merge_key = o.merge_key.clone().unwrap_or_else(|| r.merge_key.clone());
    if write_disposition == sluice_schema::WriteDisposition::Merge {
        check_merge_keys(merge_strategy.unwrap_or_default(), &primary_key, &merge_key)?;
    }
    // a JSON Schema's columns first, then the connector's hints, then the pipeline file's
    let mut columns: Vec<ColumnHint> = contracts.json_hints(&r.name).to_vec();
    for c in &r.columns {
        columns.push(hint_from_wit(c)?);
    }
    columns.extend(o.columns.iter().map(|(name, c)| ColumnHint {
        name: name.clone(),
        ..c.clone()
    }));
    let incremental = match (&o.incremental, &r.incremental) {
        (Some(i), _) => Some(i.clone()),
        (None, Some(i)) => Some(incremental_from_connector(i)?),
        (None, None) => None,
    };
    if let Some(i) = &incremental {
        i.validate()?;
    }
    Ok(PlannedResource {
        name: r.name.clone(),
        parent: r.parent.clone(),
        incremental,
        continues_run: false,
        hints: ResourceTable {
            resource: r.name.clone(),
            table: o
                .table_name
                .clone()
                .or_else(|| r.table_name.clone())
                .unwrap_or_else(|| r.name.clone()),
            write_disposition,
            merge_strategy,
            primary_key,
            merge_key,
            columns,
            nested: o.nested.clone(),
            max_nesting: o.max_table_nesting.or(r.max_nesting),
            deduplicated: o.deduplicated.unwrap_or(false),
            scd2: Scd2Options {
                validity_column_names: o.validity_column_names.clone(),
                active_record_timestamp: o.active_record_timestamp.clone(),
                boundary_timestamp: o.boundary_timestamp.clone(),
            },
            schema_contract: None,
            source_contract: None,
            json_schema: None,
        },
    })
}

/// The merge strategy: the pipeline file's (an unknown one is an error only for `merge`),
/// else the connector's.
fn merge_strategy(
    o: &crate::ResourceOverride,
    r: &sluice_host::ResourceSpec,
    write_disposition: sluice_schema::WriteDisposition,
) -> Result<Option<MergeStrategy>, String> {
    use MergeStrategy as M;
    Ok(match &o.merge_strategy {
        Some(m) => match M::parse(m) {
            Some(parsed) => Some(parsed),
            None if write_disposition == sluice_schema::WriteDisposition::Merge => {
                return Err(format!(
                    "unknown merge_strategy `{m}` (delete-insert, upsert, insert-only, scd2)"
                ));
            }
            None => None,
        },
        None => r.merge_strategy.map(|m| match m {
            sluice_host::MergeStrategy::DeleteInsert => M::DeleteInsert,
            sluice_host::MergeStrategy::Upsert => M::Upsert,
            sluice_host::MergeStrategy::InsertOnly => M::InsertOnly,
            sluice_host::MergeStrategy::Scd2 => M::Scd2,
        }),
    })
}

/// The keys a merge strategy needs (and refuses).
fn check_merge_keys(
    strategy: MergeStrategy,
    primary_key: &[String],
    merge_key: &[String],
) -> Result<(), String> {
    if matches!(strategy, MergeStrategy::Upsert | MergeStrategy::InsertOnly)
        && primary_key.is_empty()
    {
        return Err(format!(
            "merge strategy `{}` needs a primary_key",
            strategy.as_str()
        ));
    }
    if strategy == MergeStrategy::Upsert && !merge_key.is_empty() {
        return Err("merge strategy `upsert` takes no merge_key".into());
    }
    Ok(())
}
