//! `sluice query`, `sluice export` and `sluice pipeline NAME info | trace | load-package`:
//! what a pipeline loaded, read without writing or waiting (`sluice-dataset`), and what its
//! working directory holds (`sluice_pipeline::local_info`).

use std::path::Path;

use anyhow::{Result, bail};
use serde_json::{Value, json};
use sluice_dataset::Dataset;

use crate::output::{self, Format};

/// `sluice query PIPELINE SQL`.
pub fn query(
    dir: &Path,
    pipeline: &str,
    sql: &str,
    format: Format,
    out: Option<&Path>,
) -> Result<()> {
    let ds = Dataset::open(dir, pipeline)?;
    let rows = output::write(ds.query(sql)?, format, out)?;
    if let Some(p) = out {
        eprintln!("{rows} rows written to {}", p.display());
    }
    Ok(())
}

/// `sluice export PIPELINE TABLE`.
pub fn export(dir: &Path, pipeline: &str, table: &str, format: Format, out: &Path) -> Result<()> {
    if format == Format::Table {
        bail!("export writes a file: --format csv, jsonl or parquet");
    }
    let ds = Dataset::open(dir, pipeline)?;
    let rows = output::write(ds.read_table(table, 0, None)?, format, Some(out))?;
    println!("exported {rows} rows of `{table}` to {}", out.display());
    Ok(())
}

/// What `info` gathers: the working directory, and what the destination says (or why it
/// could not say it).
pub fn info_json(dir: &Path, pipeline: &str) -> Result<Value> {
    let local = sluice_pipeline::local_info(dir, pipeline)?;
    let ds = Dataset::open(dir, pipeline)?;
    let remote = (|| -> sluice_dataset::Result<Value> {
        let versions = ds.schema_versions()?;
        let loads = ds.loads()?;
        let state = ds.state()?;
        Ok(json!({
            "schema_versions": versions,
            "loads": loads,
            "state": state,
        }))
    })();
    let mut out = serde_json::to_value(&local)?;
    match remote {
        Ok(v) => {
            if let (Some(o), Value::Object(r)) = (out.as_object_mut(), v) {
                o.extend(r);
            }
        }
        Err(e) => out["destination_error"] = Value::String(e.to_string()),
    }
    Ok(out)
}

/// `sluice pipeline NAME info`.
pub fn info(dir: &Path, pipeline: &str, as_json: bool) -> Result<()> {
    let v = info_json(dir, pipeline)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("pipeline `{pipeline}`");
    println!("  working dir   {}", str_of(&v["workdir"]));
    println!("  destination   {}", str_of(&v["destination"]));
    println!("  dataset       {}", str_of(&v["dataset"]));
    if let Some(e) = v["destination_error"].as_str() {
        println!("  (the destination could not be read: {e})");
    }
    if let Some(versions) = v["schema_versions"].as_array() {
        println!("schema versions ({}):", versions.len());
        for s in versions.iter().rev().take(5) {
            println!(
                "  {} v{}  {}  {}",
                str_of(&s["schema_name"]),
                s["version"],
                str_of(&s["version_hash"]),
                str_of(&s["inserted_at"])
            );
        }
    }
    print_state(&v["state"]);
    if let Some(loads) = v["loads"].as_array() {
        println!("last loads ({} in all):", loads.len());
        for l in loads.iter().rev().take(5) {
            println!(
                "  {}  status {}  {}",
                str_of(&l["load_id"]),
                l["status"],
                str_of(&l["inserted_at"])
            );
        }
    }
    for (key, what) in [
        ("pending", "pending packages"),
        ("aborted", "aborted packages"),
    ] {
        let list = v[key].as_array().cloned().unwrap_or_default();
        println!("{what}: {}", list.len());
        for p in list {
            println!(
                "  {}  {} file(s), {} bytes",
                str_of(&p["load_id"]),
                p["files"].as_array().map_or(0, Vec::len),
                p["bytes"]
            );
            if let Some(e) = p["error"].as_str() {
                println!("    {e}");
            }
        }
    }
    Ok(())
}

/// State per source and resource, as a run keeps it.
fn print_state(state: &Value) {
    let Some(sources) = state["sources"].as_object() else {
        println!("state: none committed");
        return;
    };
    println!("state (version {}):", state["_state_version"]);
    for (source, s) in sources {
        for (res, r) in s["resources"].as_object().into_iter().flatten() {
            println!("  {source}.{res}: {}", compact(r, 160));
        }
    }
}

/// `sluice pipeline NAME trace`: the newest run record.
pub fn trace(dir: &Path, pipeline: &str, as_json: bool) -> Result<()> {
    let local = sluice_pipeline::local_info(dir, pipeline)?;
    let Some(t) = local.last_run else {
        bail!(
            "pipeline `{pipeline}` has no recorded run in {}",
            local.workdir.display()
        );
    };
    if as_json {
        println!("{}", serde_json::to_string_pretty(&t)?);
        return Ok(());
    }
    println!(
        "run of `{pipeline}`: {} ({} → {})",
        str_of(&t["status"]),
        str_of(&t["started_at"]),
        str_of(&t["finished_at"])
    );
    if let Some(e) = t["error"].as_str() {
        println!("  error: {e}");
    }
    println!(
        "  connector {} {}  {}",
        str_of(&t["plan"]["connector"]),
        str_of(&t["plan"]["version"]),
        str_of(&t["plan"]["component_digest"])
    );
    let s = &t["summary"];
    if s.is_null() {
        return Ok(());
    }
    println!(
        "  duration {} ms; stages {}",
        s["duration_ms"],
        compact(&s["stage_ms"], 200)
    );
    println!("  loads {}", compact(&s["load_ids"], 200));
    println!("  rows per table:");
    for (table, n) in s["tables"].as_object().into_iter().flatten() {
        println!("    {table:<32} {n}");
    }
    println!("  HTTP: {} requests", s["http_requests"]);
    for (res, h) in s["http"].as_object().into_iter().flatten() {
        println!(
            "    {res}: {} requests, {} retries, {} denied, {} bytes",
            h["requests"], h["retries"], h["denied"], h["bytes"]
        );
    }
    let update = &s["schema_update"]["tables"];
    if update.as_object().is_some_and(|o| !o.is_empty()) {
        println!("  schema changes:");
        for (table, cols) in update.as_object().into_iter().flatten() {
            println!("    {table}: {}", compact(cols, 200));
        }
    }
    Ok(())
}

/// `sluice pipeline NAME load-package [LOAD_ID]`: a pending or aborted package from the
/// working directory, else a committed load from the destination.
pub fn load_package(
    dir: &Path,
    pipeline: &str,
    load_id: Option<&str>,
    as_json: bool,
) -> Result<()> {
    let v = package_json(dir, pipeline, load_id)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "load {} of `{pipeline}`: {}",
        str_of(&v["load_id"]),
        str_of(&v["status"])
    );
    if let Some(e) = v["error"].as_str() {
        println!("  error: {e}");
    }
    for f in v["files"].as_array().into_iter().flatten() {
        // a pending or aborted package's page files, or a filesystem load's table files
        match f.get("table") {
            Some(table) => println!(
                "  file {}  table {}  {} rows",
                str_of(&f["file"]),
                str_of(table),
                f["rows"]
            ),
            None => println!(
                "  file {}  {}  {}  {} bytes",
                str_of(&f["file"]),
                str_of(&f["resource"]),
                str_of(&f["format"]),
                f["bytes"]
            ),
        }
    }
    for (table, n) in v["tables"].as_object().into_iter().flatten() {
        println!("  table {table:<32} {n} rows");
    }
    Ok(())
}

/// The package or load `load_id` (the newest when `None`) as JSON.
pub fn package_json(dir: &Path, pipeline: &str, load_id: Option<&str>) -> Result<Value> {
    let local = sluice_pipeline::local_info(dir, pipeline)?;
    let waiting = local.pending.iter().chain(&local.aborted);
    let found = match load_id {
        Some(id) => waiting.clone().find(|p| p.load_id == id),
        None => local.pending.last(),
    };
    if let Some(p) = found {
        return Ok(serde_json::to_value(p)?);
    }
    let ds = Dataset::open(dir, pipeline)?;
    let loads = ds.loads()?;
    let load = match load_id {
        Some(id) => loads.iter().find(|l| l.load_id == id),
        None => loads.last(),
    };
    let Some(load) = load else {
        bail!(
            "no load {} of pipeline `{pipeline}`: not pending, not aborted, not in {}",
            load_id.unwrap_or("at all"),
            ds.describe()
        );
    };
    let traces = sluice_pipeline::traces::history(&local.workdir)?;
    let run = traces.iter().rev().find(|t| {
        t["summary"]["load_ids"]
            .as_array()
            .is_some_and(|ids| ids.iter().any(|i| i == load.load_id.as_str()))
    });
    let mut out = json!({
        "load_id": load.load_id,
        "status": if load.status == 0 { "loaded" } else { "loaded (status not 0)" },
        "inserted_at": load.inserted_at,
        "schema_version_hash": load.schema_version_hash,
        "component": load.component,
        "files": ds.load_files(&load.load_id)?.unwrap_or_else(|| json!([])),
    });
    // rows per table: the run's own count when its record names only this load
    if let Some(t) = run.filter(|t| {
        t["summary"]["load_ids"]
            .as_array()
            .is_some_and(|a| a.len() == 1)
    }) {
        out["tables"] = t["summary"]["tables"].clone();
    } else {
        out["tables"] = ds.rows_of_load(&load.load_id)?;
    }
    Ok(out)
}

fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        v => v.to_string(),
    }
}

/// `v` as one line of JSON, cut at `max` characters.
fn compact(v: &Value, max: usize) -> String {
    let s = v.to_string();
    if s.chars().count() <= max {
        return s;
    }
    let cut: String = s.chars().take(max).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipeline `p` that loaded three records into table `t` of a DuckDB file in `dir`.
    fn loaded(dir: &Path) -> std::path::PathBuf {
        let data = dir.join("in.ndjson");
        std::fs::write(&data, "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n").expect("write");
        let toml = format!(
            "name = \"p\"\ndestination = \"duckdb:{db}\"\n[connector]\nname = \"files\"\n[config]\npaths = [{f:?}]\ntable = \"t\"\n[grants]\nallow_read_files = [{f:?}]\n",
            db = dir.join("p.duckdb").display(),
            f = data.display().to_string()
        );
        let spec = sluice_pipeline::PipelineSpec::from_toml(&toml, &[], dir).expect("spec");
        let pipelines = dir.join("pipelines");
        let opts = sluice_pipeline::RunOptions {
            spec,
            pipelines_dir: pipelines.clone(),
            cache_dir: dir.join("cache"),
            component: ("files".into(), sluice_bundled::FILES.bytes.to_vec()),
            schema_contract: None,
        };
        tokio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(sluice_pipeline::run(
                opts,
                std::sync::Arc::new(sluice_pipeline::Quiet),
            ))
            .expect("run");
        pipelines
    }

    #[test]
    fn info_load_package_and_export_read_what_a_run_loaded() {
        let tmp = tempfile::tempdir().expect("tmp");
        let pipelines = loaded(tmp.path());
        let info = info_json(&pipelines, "p").expect("info");
        assert!(
            info["destination"]
                .as_str()
                .is_some_and(|d| d.starts_with("duckdb:"))
        );
        assert_eq!(info["loads"].as_array().map(Vec::len), Some(1));
        assert_eq!(info["schema_versions"][0]["changes"][0]["table"], "t");
        assert_eq!(info["pending"], serde_json::json!([]));
        assert!(info["destination_error"].is_null());
        let load = package_json(&pipelines, "p", None).expect("package");
        assert_eq!(load["status"], "loaded");
        assert_eq!(load["tables"]["t"], 3);
        let id = load["load_id"].as_str().expect("id").to_owned();
        assert_eq!(
            package_json(&pipelines, "p", Some(&id)).expect("by id")["load_id"],
            id.as_str()
        );
        assert!(package_json(&pipelines, "p", Some("123.4")).is_err());
        let out = tmp.path().join("t.csv");
        export(&pipelines, "p", "t", Format::Csv, &out).expect("export");
        let csv = std::fs::read_to_string(&out).expect("csv");
        assert!(csv.starts_with("id,_dlt_load_id,_dlt_id\n1,"), "{csv}");
        assert_eq!(csv.lines().count(), 4);
        assert!(export(&pipelines, "p", "nope", Format::Csv, &out).is_err());
        assert!(query(&pipelines, "p", "delete from t", Format::Csv, Some(&out)).is_err());
        assert!(info_json(&pipelines, "nope").is_err());
    }
}
