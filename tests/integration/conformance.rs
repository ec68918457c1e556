//! Every conformance case loads through the `files` connector and matches dlt's output in the
//! canonical form; where dlt failed, Sluice loads with its documented better rule.

use serde_json::Value;

use crate::support::{Area, canon, conformance_dir, files_pipeline};

fn load_case(name: &str) -> (Area, Value) {
    let dir = conformance_dir();
    let area = Area::new();
    let case = dir.join("cases").join(format!("{name}.json"));
    let toml = files_pipeline("conf", &case, name);
    area.run(&toml, ("files", sluice_bundled::FILES.bytes))
        .unwrap_or_else(|e| panic!("case `{name}` failed to load: {e}"));
    let got = canon(&area.conn(), "conf_dataset");
    (area, got)
}

#[test]
fn all_cases_match_dlt() {
    let dir = conformance_dir();
    let mut names: Vec<String> = std::fs::read_dir(dir.join("cases"))
        .expect("cases")
        .filter_map(|e| e.ok())
        .map(|e| {
            e.file_name()
                .to_string_lossy()
                .trim_end_matches(".json")
                .to_owned()
        })
        .collect();
    names.sort();
    let mut failures = Vec::new();
    let mut compared = 0;
    for name in &names {
        let expected: Value = serde_json::from_slice(
            &std::fs::read(dir.join("expected").join(format!("{name}.expected.json")))
                .expect("expected"),
        )
        .expect("expected json");
        if expected.get("error").is_some() {
            continue; // dlt failed here; see `ethereum_blocks_load_where_dlt_fails`
        }
        let (_area, got) = load_case(name);
        compared += 1;
        if got != expected {
            let mut diff = String::new();
            for (t, e) in expected.as_object().expect("object") {
                match got.get(t) {
                    None => diff.push_str(&format!("\n  missing table `{t}`")),
                    Some(g) if g != e => {
                        if g["columns"] != e["columns"] {
                            diff.push_str(&format!(
                                "\n  table `{t}` columns: got {} expected {}",
                                g["columns"], e["columns"]
                            ));
                        } else {
                            let gr = g["rows"]
                                .as_array()
                                .map(|a| a.iter().take(3).collect::<Vec<_>>());
                            let er = e["rows"]
                                .as_array()
                                .map(|a| a.iter().take(3).collect::<Vec<_>>());
                            diff.push_str(&format!("\n  table `{t}` rows differ: got {gr:?}… expected {er:?}… (count {} vs {}, orphans {} vs {})", g["count"], e["count"], g["orphans"], e["orphans"]));
                        }
                    }
                    _ => {}
                }
            }
            for t in got.as_object().expect("object").keys() {
                if expected.get(t).is_none() {
                    diff.push_str(&format!("\n  extra table `{t}`"));
                }
            }
            failures.push(format!("{name}:{diff}"));
        }
    }
    assert!(compared >= 20, "only {compared} cases compared");
    assert!(
        failures.is_empty(),
        "{} case(s) differ from dlt:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn ethereum_blocks_load_where_dlt_fails() {
    // dlt: "Integer exceeds 64-bit range" at extract. Sluice: DECIMAL(38,0).
    let (_area, got) = load_case("ethereum_blocks");
    let blocks = &got["ethereum_blocks"];
    assert_eq!(blocks["count"], 2);
    assert_eq!(blocks["columns"]["total_difficulty"], "DECIMAL(38,0)");
    let rows = blocks["rows"].as_array().expect("rows");
    assert!(
        rows.iter().any(|r| r
            .as_str()
            .is_some_and(|s| s.contains("50719297655545113494805"))),
        "the 77-bit total difficulty survives exactly"
    );
    assert!(got.get("ethereum_blocks__transactions").is_some());
}

/// The normalizer's fast path (pages that fit the schema) and its general path load the same
/// dataset: every table, column, type and row, nested rows attached to their parents — for
/// GitHub-like events over many pages and two runs, append, delete-insert and upsert; with
/// upsert (key-hash ids) the ids of every table are the same too.
#[test]
fn fast_path_and_general_path_load_the_same_dataset() {
    let load = |fast: bool, merge: Option<&str>| {
        let area = Area::new();
        let resource = match merge {
            Some(strategy) => format!(
                "[resources.events]\nwrite_disposition = \"merge\"\nmerge_strategy = \"{strategy}\"\nprimary_key = [\"id\"]\n"
            ),
            None => String::new(),
        };
        let toml = |rows: u64| {
            format!(
                "name = \"fp\"\ndataset = \"fp\"\n[connector]\nname = \"synthetic\"\n[config]\nrows = {rows}\npage_size = 400\nseed = 11\n[schema]\nfast_path = {fast}\n{resource}"
            )
        };
        let mut paths = Vec::new();
        for rows in [3000, 4200] {
            let s = area
                .run(&toml(rows), ("synthetic", sluice_bundled::SYNTHETIC.bytes))
                .expect("synthetic run");
            paths.push((
                s.normalize_paths.fast_pages,
                s.normalize_paths.general_pages,
            ));
        }
        let conn = area.conn();
        let ids: Vec<String> = ["events", "events__payload__commits"]
            .iter()
            .map(|t| {
                conn.query_row(
                    &format!(
                        "select coalesce(string_agg(_dlt_id, ',' order by _dlt_id), '') from fp.{t}"
                    ),
                    [],
                    |r| r.get(0),
                )
                .expect("ids")
            })
            .collect();
        (canon(&conn, "fp"), paths, ids)
    };
    for merge in [None, Some("delete-insert"), Some("upsert")] {
        let (general, general_paths, general_ids) = load(false, merge);
        let (fast, fast_paths, fast_ids) = load(true, merge);
        assert_eq!(general_paths, [(0, 8), (0, 11)], "merge {merge:?}");
        if merge == Some("upsert") {
            assert_eq!(fast_ids, general_ids);
            assert!(fast_ids.iter().all(|i| i.len() > 14), "{fast_ids:?}");
        }
        // the first page makes the tables, and a page that meets a new column goes the
        // general way; most pages fit
        let fast_pages: u64 = fast_paths.iter().map(|(f, _)| f).sum();
        assert!(fast_pages >= 14, "merge {merge:?}: {fast_paths:?}");
        assert_eq!(fast, general, "merge {merge:?}");
        let tables = fast.as_object().expect("tables");
        assert!(tables.len() >= 3, "{tables:?}");
        for (t, v) in tables {
            assert_eq!(
                v.get("orphans").and_then(Value::as_i64).unwrap_or(0),
                0,
                "{t}"
            );
        }
    }
}
