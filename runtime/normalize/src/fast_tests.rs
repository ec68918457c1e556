//! The fast path against the general path: the same pages give the same batches, row counts,
//! schema, schema changes, discards, collisions and errors through `add_page_bytes` as through
//! `parse_page` + `add_page`, in both page formats and on 1 and 4 threads; and pages that fit
//! the schema do take the fast path.

use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_schema::{ContractMode, Schema, SchemaContract};

use super::*;

/// Every row of each table, as its non-null cells (column, type and value), in order: how the
/// rows are cut into batches does not matter.
type Rows = std::collections::BTreeMap<String, Vec<Vec<(String, String)>>>;

fn rows_of(batches: &[(String, RecordBatch)]) -> Rows {
    let mut out = Rows::new();
    for (table, batch) in batches {
        let rows = out.entry(table.clone()).or_default();
        for i in 0..batch.num_rows() {
            let mut cells = Vec::new();
            for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
                if !col.is_null(i) {
                    let value = format!("{:?}", col.slice(i, 1));
                    cells.push((format!("{} {}", field.name(), field.data_type()), value));
                }
            }
            rows.push(cells);
        }
    }
    out
}

/// Everything a run leaves behind, for comparing two runs.
#[derive(Debug, PartialEq)]
struct Outcome {
    pages: Vec<Result<Rows, String>>,
    tables: IndexMap<String, Table>,
    rows: IndexMap<String, u64>,
    update: String,
    discards: IndexMap<String, Discards>,
    collisions: IndexMap<String, Collisions>,
}

fn page_bytes(records: &[Value], format: RecordsFormat) -> Vec<u8> {
    match format {
        RecordsFormat::JsonArray => serde_json::to_vec(records).unwrap(),
        RecordsFormat::Ndjson => records
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes(),
    }
}

/// Normalize `pages` in order (stopping at the first error), fast path allowed or not.
fn run_pages(
    pages: &[Vec<u8>],
    format: RecordsFormat,
    resource: &ResourceTable,
    fast: bool,
    threads: usize,
) -> (Outcome, PathStats) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut schema = Schema::new("s");
        let mut n = Normalizer::new("1.0", [7; 16], 64);
        let mut out = Vec::new();
        for (seq, bytes) in pages.iter().enumerate() {
            let added = if fast {
                n.add_page_bytes(&mut schema, resource, seq as u64, bytes, format)
            } else {
                parse_page(bytes, format)
                    .and_then(|r| n.add_page(&mut schema, resource, seq as u64, r))
            };
            let page = added
                .and_then(|()| n.take_batches(&schema))
                .map(|b| rows_of(&b))
                .map_err(|e| e.to_string());
            let failed = page.is_err();
            out.push(page);
            if failed {
                break;
            }
        }
        let outcome = Outcome {
            pages: out,
            tables: schema.tables.clone(),
            rows: n.row_counts().clone(),
            update: format!("{:?}", n.schema_update()),
            discards: n.discards().clone(),
            collisions: n.collisions().clone(),
        };
        (outcome, n.path_stats().clone())
    })
}

/// Equal outcomes; else a panic naming the first difference (the whole outcome is long).
fn assert_same(fast: &Outcome, general: &Outcome) {
    if fast == general {
        return;
    }
    for (i, (f, g)) in fast.pages.iter().zip(&general.pages).enumerate() {
        match (f, g) {
            (Ok(f), Ok(g)) => {
                for (table, rows) in g {
                    let frows = f.get(table).map(Vec::as_slice).unwrap_or_default();
                    for (r, row) in rows.iter().enumerate() {
                        assert_eq!(frows.get(r), Some(row), "page {i} table {table} row {r}");
                    }
                    assert_eq!(frows.len(), rows.len(), "page {i} table {table}");
                }
                assert_eq!(
                    f.keys().collect::<Vec<_>>(),
                    g.keys().collect::<Vec<_>>(),
                    "page {i}"
                );
            }
            (f, g) => assert_eq!(f.as_ref().err(), g.as_ref().err(), "page {i}"),
        }
    }
    assert_eq!(fast.pages.len(), general.pages.len(), "pages");
    assert_eq!(fast.tables, general.tables, "schema tables");
    assert_eq!(fast.rows, general.rows, "row counts");
    assert_eq!(fast.update, general.update, "schema update");
    assert_eq!(fast.discards, general.discards, "discards");
    assert_eq!(fast.collisions, general.collisions, "collisions");
}

/// Records shaped like API data: mostly stable keys and types, some keys missing, rare
/// surprises (a new key, a type change, a colliding or reserved key, odd values).
fn api_record() -> impl Strategy<Value = Value> {
    let odd_key = prop_oneof![
        Just("a b".to_owned()),
        Just("a_b".to_owned()),
        Just("Name".to_owned()),
        Just("_dlt_id".to_owned()),
        Just("value".to_owned()),
        Just("list".to_owned()),
        "[a-z]{1,2}",
    ];
    let odd_value = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        Just(serde_json::from_str("123456789012345678901234567890").unwrap()),
        Just(json!("2024-01-02T03:04:05Z")),
        Just(json!("a\u{0}b\u{1}")),
        Just(json!("\u{e9}\\\"\n")),
        Just(json!([1, [2, 3], {"x": null}])),
        Just(json!({"deep": {"er": [{"z": 1.5}]}})),
        "\\PC{0,8}".prop_map(Value::String),
    ];
    (
        any::<i64>(),
        "[a-z ]{0,10}",
        any::<bool>(),
        -1e6f64..1e6,
        prop::collection::vec("[a-z]{0,4}", 0..4),
        prop::collection::vec((0i64..100, prop::option::of("[a-z]{1,3}")), 0..3),
        prop::collection::vec(any::<bool>(), 8),
        prop::option::weighted(0.15, (odd_key, odd_value)),
    )
        .prop_map(|(id, name, flag, score, tags, items, present, odd)| {
            let mut m = serde_json::Map::new();
            m.insert("id".into(), json!(id));
            let fields = [
                ("name", json!(name)),
                ("flag", json!(flag)),
                ("score", json!(score)),
                ("created_at", json!("2024-05-06T07:08:09.123Z")),
                ("tags", json!(tags)),
                (
                    "items",
                    Value::Array(
                        items
                            .into_iter()
                            .map(|(k, v)| json!({"k": k, "v": v, "sub": [k, k + 1]}))
                            .collect(),
                    ),
                ),
                (
                    "user",
                    json!({"login": "octo", "id": 7, "site_admin": null}),
                ),
                // a list under a list item with the same key: one list per row, no collision
                (
                    "tree",
                    json!([{"n": 1, "tree": [{"n": 2}]}, {"n": 3, "tree": []}]),
                ),
            ];
            for ((k, v), keep) in fields.into_iter().zip(present) {
                if keep {
                    m.insert(k.into(), v);
                }
            }
            if let Some((k, v)) = odd {
                m.insert(k, v);
            }
            Value::Object(m)
        })
}

fn page() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(api_record(), 0..30)
}

fn contract() -> impl Strategy<Value = Option<SchemaContract>> {
    let mode = prop_oneof![
        Just(ContractMode::Evolve),
        Just(ContractMode::Freeze),
        Just(ContractMode::DiscardRow),
        Just(ContractMode::DiscardValue),
    ];
    prop::option::weighted(
        0.3,
        (mode.clone(), mode.clone(), mode).prop_map(|(tables, columns, data_type)| {
            SchemaContract {
                tables,
                columns,
                data_type,
            }
        }),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn fast_path_gives_what_the_general_path_gives(
        pages in prop::collection::vec(page(), 1..6),
        ndjson in any::<bool>(),
        max_nesting in prop::option::weighted(0.2, 0u32..3),
        contract in contract(),
        merge in prop::option::of(prop_oneof![
            Just("delete-insert"),
            Just("upsert"),
            Just("insert-only"),
            Just("scd2"),
        ]),
    ) {
        let format = if ndjson { RecordsFormat::Ndjson } else { RecordsFormat::JsonArray };
        let bytes: Vec<Vec<u8>> = pages.iter().map(|p| page_bytes(p, format)).collect();
        let mut resource = ResourceTable::new("t", "t");
        resource.max_nesting = max_nesting;
        // a later run's contract over the tables the first pages made
        resource.schema_contract = contract;
        if let Some(strategy) = merge {
            resource.write_disposition = sluice_schema::WriteDisposition::Merge;
            resource.merge_strategy = sluice_schema::MergeStrategy::parse(strategy);
            resource.primary_key = vec!["id".into()];
        }
        let (general, _) = run_pages(&bytes, format, &resource, false, 1);
        let (fast, _) = run_pages(&bytes, format, &resource, true, 1);
        assert_same(&fast, &general);
        let (fast4, _) = run_pages(&bytes, format, &resource, true, 4);
        assert_same(&fast4, &general);
    }
}

#[test]
fn pages_that_fit_the_schema_take_the_fast_path() {
    let record = |i: i64| {
        json!({"id": i, "name": format!("n{i}"), "score": 1.5, "at": "2024-01-01T00:00:00Z",
               "tags": ["a", "b"], "user": {"login": "x", "admin": null},
               "items": [{"k": i, "sub": [1, 2]}], "tree": [{"n": 1, "tree": [{"n": 2}]}]})
    };
    let page = |from: i64| (from..from + 700).map(record).collect::<Vec<_>>();
    for format in [RecordsFormat::Ndjson, RecordsFormat::JsonArray] {
        let mut pages = vec![page_bytes(&page(0), format), page_bytes(&page(700), format)];
        // a new column sends its record and the next few to the general path (the records
        // of its chunk before it stay on the fast path); the rest and the next page fit again.
        // With chunks of 3: record 4 bails in chunk 3..6 (3 fast, 4..6 general), record 8 in
        // chunk 6..9 (6..8 fast, 8 general: the probe ends with its chunk)
        let mut with_new = page(1400);
        with_new[4]["fresh"] = json!(1);
        with_new[8]["other"] = json!("x");
        pages.push(page_bytes(&with_new, format));
        pages.push(page_bytes(&page(2100), format));
        let resource = ResourceTable::new("t", "t");
        let (general, _) = run_pages(&pages, format, &resource, false, 2);
        let (fast, stats) = run_pages(&pages, format, &resource, true, 2);
        assert_same(&fast, &general);
        assert_eq!((stats.fast_pages, stats.general_pages), (2, 2), "{stats:?}");
        // the first records of the first page make the columns (PROBE = 2 in tests)
        assert_eq!(crate::fast::PROBE, 2);
        let general = 2 + 2 + 1;
        assert_eq!(
            (stats.general_records, stats.fast_records),
            (general, 2800 - general),
            "{stats:?}"
        );
        assert_eq!(stats.reasons.get("new column"), Some(&3), "{stats:?}");
        // the fast pages' rows are really there (a list under a list item with the same key
        // is no collision)
        let Ok(second) = &fast.pages[1] else {
            panic!("second page failed")
        };
        let rows: Vec<(&str, usize)> = second.iter().map(|(t, r)| (t.as_str(), r.len())).collect();
        assert_eq!(
            rows,
            [
                ("t", 700),
                ("t__items", 700),
                ("t__items__sub", 1400),
                ("t__tags", 1400),
                ("t__tree", 700),
                ("t__tree__tree", 700)
            ]
        );
    }
}

#[test]
fn invalid_input_leaves_the_fast_path_and_fails_as_before() {
    let good = b"{\"a\": 1, \"s\": \"x\"}\n".to_vec();
    let cases: [(&[u8], &str); 7] = [
        (b"{\"a\": 1, \"s\": \"x\ty\"}\n", "control character"),
        (b"{\"a\": 1, \"s\": \"\\ud800\"}\n", "lone surrogate"),
        (
            b"{\"a\": 1, \"s\": \"x\"} {\"a\": 2}\n",
            "two values on a line",
        ),
        (b"{\"a\": 1, \"s\": \"\xff\"}\n", "invalid UTF-8"),
        (b"{\"a\": 1, \"a\": \"x\"}\n", "duplicate key, later wins"),
        (b"{\"a\": 1e400}\n", "float out of range"),
        (b"{\"a\": 18446744073709551616}\n", "integer beyond 64 bits"),
    ];
    for (bad, what) in cases {
        for format in [RecordsFormat::Ndjson, RecordsFormat::JsonArray] {
            let wrap = |b: &[u8]| match format {
                RecordsFormat::Ndjson => b.to_vec(),
                RecordsFormat::JsonArray => {
                    let line = std::str::from_utf8(b).map(|s| s.trim().to_owned());
                    match line {
                        Ok(s) => format!("[{s}]").into_bytes(),
                        Err(_) => [b"[".as_slice(), b.trim_ascii(), b"]"].concat(),
                    }
                }
            };
            let pages = vec![wrap(&good), wrap(bad)];
            let resource = ResourceTable::new("t", "t");
            let (general, _) = run_pages(&pages, format, &resource, false, 1);
            let (fast, stats) = run_pages(&pages, format, &resource, true, 1);
            assert_eq!(fast, general, "{what} ({format:?})");
            assert_eq!(stats.fast_pages, 0, "{what} ({format:?}): {stats:?}");
        }
    }
    // CRLF line ends are whitespace and stay on the fast path
    let crlf = b"{\"a\": 3, \"s\": \"y\"}\r\n{\"a\": 4}\r\n".to_vec();
    let pages = vec![good.clone(), crlf];
    let resource = ResourceTable::new("t", "t");
    let (general, _) = run_pages(&pages, RecordsFormat::Ndjson, &resource, false, 1);
    let (fast, stats) = run_pages(&pages, RecordsFormat::Ndjson, &resource, true, 1);
    assert_eq!(fast, general);
    assert_eq!(stats.fast_pages, 1, "{stats:?}");
    // escaped surrogate pairs (as Python's json.dumps writes emoji) stay on the fast path
    let pair = b"{\"a\": 2, \"s\": \"\\ud83d\\ude00 \\\\ud800\"}\n".to_vec();
    let pages = vec![good.clone(), pair];
    let resource = ResourceTable::new("t", "t");
    let (general, _) = run_pages(&pages, RecordsFormat::Ndjson, &resource, false, 1);
    let (fast, stats) = run_pages(&pages, RecordsFormat::Ndjson, &resource, true, 1);
    assert_eq!(fast, general);
    assert_eq!(stats.fast_pages, 1, "{stats:?}");
    // nesting past the fast path's depth goes to the general parser, which names it
    let deep = format!(
        "{{\"a\": 1, \"d\": {}1{}}}\n",
        "[".repeat(200),
        "]".repeat(200)
    );
    let pages = vec![good.clone(), deep.into_bytes()];
    let resource = ResourceTable::new("t", "t");
    let (general, _) = run_pages(&pages, RecordsFormat::Ndjson, &resource, false, 1);
    let (fast, _) = run_pages(&pages, RecordsFormat::Ndjson, &resource, true, 1);
    assert_eq!(fast, general);
    assert!(matches!(&fast.pages[1], Err(e) if e.contains("recursion limit")));
}
