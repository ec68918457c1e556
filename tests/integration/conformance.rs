//! Every conformance case loads through the `files` connector and matches dlt's output in the
//! canonical form; where dlt failed, Sluice loads with its documented better rule. Two sets of
//! cases: the shared ones (`../shared/conformance`) and this repository's
//! (`tests/conformance`, dlt's answers recorded by `just conformance-fixtures`), whose
//! deliberate differences are each pinned by a test of their own.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::{Area, canon, conformance_dir, files_pipeline, manifest_dir};

/// The repository's own cases, dlt's output recorded beside them.
fn own_cases() -> PathBuf {
    manifest_dir().join("conformance")
}

/// Cases of `tests/conformance` where Sluice differs from dlt on purpose (README, "Where
/// Sluice differs from dlt, on purpose"); each has its own test below.
const DELIBERATE: &[&str] = &[
    "blank_key_list",
    "key_only_underscores",
    "numeric_string_into_timestamp",
    "numeric_string_into_timestamp_variant",
    "one_table_two_paths",
    "timestamp_beyond_range",
];

fn case_path(dir: &Path, name: &str) -> PathBuf {
    dir.join("cases").join(format!("{name}.json"))
}

fn expected(dir: &Path, name: &str) -> Value {
    let file = dir.join("expected").join(format!("{name}.expected.json"));
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_slice(&bytes).expect("expected json")
}

fn try_load(dir: &Path, name: &str) -> Result<(Area, Value), String> {
    let area = Area::new();
    let toml = files_pipeline("conf", &case_path(dir, name), name);
    area.run(&toml, ("files", sluice_bundled::FILES.bytes))
        .map_err(|e| e.to_string())?;
    let got = canon(&area.conn(), "conf_dataset");
    Ok((area, got))
}

fn load_case(dir: &Path, name: &str) -> (Area, Value) {
    try_load(dir, name).unwrap_or_else(|e| panic!("case `{name}` failed to load: {e}"))
}

fn case_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("cases"))
        .expect("cases")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter_map(|f| f.strip_suffix(".json").map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// What differs between Sluice's dataset and dlt's, table by table.
fn describe(got: &Value, expected: &Value) -> String {
    let mut diff = String::new();
    for (t, e) in expected.as_object().expect("object") {
        match got.get(t) {
            None => diff.push_str(&format!("\n  missing table `{t}`")),
            Some(g) if g["columns"] != e["columns"] => diff.push_str(&format!(
                "\n  table `{t}` columns: got {} expected {}",
                g["columns"], e["columns"]
            )),
            Some(g) if g != e => {
                let first = |v: &Value| {
                    v["rows"]
                        .as_array()
                        .map(|a| a.iter().take(3).cloned().collect::<Vec<_>>())
                };
                diff.push_str(&format!(
                    "\n  table `{t}` rows differ: got {:?}… expected {:?}… (count {} vs {}, orphans {} vs {})",
                    first(g), first(e), g["count"], e["count"], g["orphans"], e["orphans"]
                ));
            }
            _ => {}
        }
    }
    for t in got.as_object().expect("object").keys() {
        if expected.get(t).is_none() {
            diff.push_str(&format!("\n  extra table `{t}`"));
        }
    }
    diff
}

/// Load every case of `dir` dlt loaded (but `skip`) and compare; (compared, failures).
fn compare_all(dir: &Path, skip: &[&str]) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut compared = 0;
    for name in case_names(dir) {
        let want = expected(dir, &name);
        if want.get("error").is_some() || skip.contains(&name.as_str()) {
            continue; // dlt failed here, or Sluice differs on purpose: see the tests below
        }
        let (_area, got) = load_case(dir, &name);
        compared += 1;
        if got != want {
            failures.push(format!("{name}:{}", describe(&got, &want)));
        }
    }
    (compared, failures)
}

#[test]
fn all_cases_match_dlt() {
    let (compared, failures) = compare_all(&conformance_dir(), &[]);
    assert!(compared >= 20, "only {compared} cases compared");
    assert!(
        failures.is_empty(),
        "{} case(s) differ from dlt:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The harness-found cases match dlt too, except the deliberate ones — and those still differ
/// from dlt's recorded output, so the list stays true.
#[test]
fn own_cases_match_dlt_but_the_deliberate_differences() {
    let dir = own_cases();
    let (compared, failures) = compare_all(&dir, DELIBERATE);
    assert!(compared >= 3, "only {compared} cases compared");
    assert!(
        failures.is_empty(),
        "{} case(s) differ from dlt:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for name in DELIBERATE {
        let want = expected(&dir, name);
        let same = try_load(&dir, name).is_ok_and(|(_area, got)| got == want);
        assert!(
            !same,
            "`{name}` now matches dlt: take it off DELIBERATE and the README"
        );
    }
}

fn table<'a>(got: &'a Value, name: &str) -> &'a Value {
    got.get(name)
        .unwrap_or_else(|| panic!("no table `{name}` in {got}"))
}

fn rows(got: &Value, name: &str) -> Vec<String> {
    table(got, name)["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r.as_str().expect("row").to_owned())
        .collect()
}

/// dlt coerces numeric strings arriving in a timestamp column as Unix seconds (`"42"` →
/// 1970-01-01 00:00:42); Sluice keeps them as text in the `__v_text` variant. Numbers are Unix
/// seconds in both.
#[test]
fn numeric_strings_never_become_1970_timestamps() {
    let dir = own_cases();
    let name = "numeric_string_into_timestamp";
    let theirs = expected(&dir, name);
    assert!(rows(&theirs, name).contains(&r#"["2", "1970-01-01 00:00:42+00"]"#.to_owned()));
    let (_area, got) = load_case(&dir, name);
    assert_eq!(
        table(&got, name)["columns"]["t"],
        "TIMESTAMP WITH TIME ZONE"
    );
    assert_eq!(table(&got, name)["columns"]["t__v_text"], "VARCHAR");
    let mine = rows(&got, name);
    for row in [
        r#"["2", null, "42"]"#,
        r#"["3", "1970-01-01 00:00:42+00", null]"#,
        r#"["4", null, "1.5e3"]"#,
        r#"["5", "2023-11-14 22:13:20.5+00", null]"#,
    ] {
        assert!(mine.contains(&row.to_owned()), "{row} not in {mine:?}");
    }
}

/// A variant column dlt types timestamp (`x__v_text`, its first value an ISO timestamp) has no
/// place for a later numeric string: dlt stores a 1970 timestamp, Sluice stops naming the
/// record and loads nothing of the package.
#[test]
fn a_numeric_string_in_a_timestamp_variant_is_refused_with_its_record() {
    let dir = own_cases();
    let name = "numeric_string_into_timestamp_variant";
    let theirs = expected(&dir, name);
    assert_eq!(
        table(&theirs, name)["columns"]["x__v_text"],
        "TIMESTAMP WITH TIME ZONE"
    );
    let err = try_load(&dir, name).err().expect("Sluice refuses");
    for part in ["x__v_text", "record 3", "19695", "timestamp"] {
        assert!(err.contains(part), "{part} not in {err}");
    }
}

/// dlt fails the load on a number beyond year 9999 as Unix seconds in a timestamp column;
/// Sluice keeps it exactly in a `__v_bigint` variant.
#[test]
fn a_number_beyond_timestamps_goes_to_a_variant_where_dlt_fails() {
    let dir = own_cases();
    let name = "timestamp_beyond_range";
    assert!(expected(&dir, name).get("error").is_some());
    let (_area, got) = load_case(&dir, name);
    assert_eq!(table(&got, name)["columns"]["t__v_bigint"], "BIGINT");
    assert!(rows(&got, name).contains(&r#"["2", null, "9223372036854775807"]"#.to_owned()));
    assert_eq!(table(&got, name)["count"], 3);
}

/// A blank key holding a list: dlt writes the child rows into the parent table (their columns
/// beside the parent's, nulls elsewhere); Sluice gives them a `___empty` child table like any
/// other list, so the parent keeps one row per record.
#[test]
fn a_list_under_a_blank_key_is_a_child_table() {
    let dir = own_cases();
    let name = "blank_key_list";
    assert_eq!(table(&expected(&dir, name), name)["count"], 5);
    let (_area, got) = load_case(&dir, name);
    assert_eq!(table(&got, name)["count"], 2);
    let child = format!("{name}___empty");
    assert_eq!(table(&got, &child)["columns"]["b"], "BIGINT");
    assert_eq!(table(&got, &child)["orphans"], 0);
    assert_eq!(
        rows(&got, &format!("{child}__list")),
        [r#"["0", "4"]"#, r#"["1", "5"]"#]
    );
}

/// Two paths of a record that normalize to one nested table name (a list of lists under `p`,
/// and a key `list` under `p`): dlt mixes both into one table; Sluice refuses, naming both.
#[test]
fn two_paths_to_one_table_name_are_refused_naming_both() {
    let dir = own_cases();
    let name = "one_table_two_paths";
    assert!(
        expected(&dir, name)
            .get(format!("{name}__p__list"))
            .is_some()
    );
    let err = try_load(&dir, name).err().expect("Sluice refuses");
    for part in [
        format!("{name}__p__list"),
        format!("`{name}__p`"),
        "record 2".into(),
    ] {
        assert!(err.contains(&part), "{part} not in {err}");
    }
}

/// A key of only underscores: dlt's normalizer fails (`KeyError: ''`); Sluice names it as
/// dlt's identifier rule does (`__` → `xx`) and loads.
#[test]
fn a_key_of_underscores_loads_where_dlt_fails() {
    let dir = own_cases();
    let name = "key_only_underscores";
    assert_eq!(expected(&dir, name), json!({"error": "KeyError: ''"}));
    let (_area, got) = load_case(&dir, name);
    assert_eq!(table(&got, name)["columns"]["xx"], "BIGINT");
    assert_eq!(rows(&got, name), [r#"["1", "21", "20"]"#]);
}

#[test]
fn ethereum_blocks_load_where_dlt_fails() {
    // dlt: "Integer exceeds 64-bit range" at extract. Sluice: DECIMAL(38,0).
    let (_area, got) = load_case(&conformance_dir(), "ethereum_blocks");
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
