//! Normalizer checks against dlt's documented outputs (reference §1).

use serde_json::json;
use sluice_schema::{DataType, Schema};

use super::*;

/// Normalize `records` into table `t`; returns table → (column → type) and row counts.
fn check(records: serde_json::Value, max_nesting: Option<u32>) -> (Schema, Vec<(String, usize)>) {
    let mut schema = Schema::new("s");
    let mut n = Normalizer::new("1.0", [1; 16], 65536);
    let mut r = ResourceTable::new("t", "t");
    r.max_nesting = max_nesting;
    let recs = match records {
        serde_json::Value::Array(a) => a,
        other => vec![other],
    };
    n.add_page(&mut schema, &r, 0, recs).expect("normalizes");
    let batches = n.take_batches(&schema).expect("batches");
    let counts = batches
        .iter()
        .map(|(t, b)| (t.clone(), b.num_rows()))
        .collect();
    (schema, counts)
}

fn columns(schema: &Schema, table: &str) -> Vec<(String, Option<DataType>)> {
    schema.tables[table]
        .columns
        .values()
        .filter(|c| !c.name.starts_with("_dlt_"))
        .map(|c| (c.name.clone(), c.data_type))
        .collect()
}

fn nesting_input() -> serde_json::Value {
    json!({"id":1,"a":{"b":{"c":{"d":1}}},"l":[{"x":[{"y":[1]}]}],"empty_l":[],"empty_d":{}})
}

#[test]
fn default_nesting_unnests_everything() {
    let (schema, counts) = check(nesting_input(), None);
    let tables: Vec<&str> = counts.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(tables, ["t", "t__l", "t__l__x", "t__l__x__y"]);
    assert_eq!(
        columns(&schema, "t"),
        [
            ("id".into(), Some(DataType::Bigint)),
            ("a__b__c__d".into(), Some(DataType::Bigint))
        ]
    );
}

#[test]
fn max_nesting_zero_keeps_json() {
    let (schema, counts) = check(nesting_input(), Some(0));
    assert_eq!(counts, [("t".to_owned(), 1)]);
    let cols = columns(&schema, "t");
    for name in ["a", "l", "empty_l", "empty_d"] {
        assert!(
            cols.contains(&(name.to_owned(), Some(DataType::Json))),
            "{name}: {cols:?}"
        );
    }
}

#[test]
fn max_nesting_one_and_two() {
    let (schema, counts) = check(nesting_input(), Some(1));
    assert_eq!(
        counts.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["t", "t__l"]
    );
    assert!(columns(&schema, "t").contains(&("a__b".into(), Some(DataType::Json))));
    assert!(columns(&schema, "t__l").contains(&("x".into(), Some(DataType::Json))));
    let (schema, counts) = check(nesting_input(), Some(2));
    assert_eq!(
        counts.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["t", "t__l", "t__l__x"]
    );
    assert!(columns(&schema, "t").contains(&("a__b__c".into(), Some(DataType::Json))));
    assert!(columns(&schema, "t__l__x").contains(&("y".into(), Some(DataType::Json))));
}

#[test]
fn variants_and_late_types() {
    let (schema, _) = check(
        json!([{"a": 1, "n": null}, {"a": "hello", "n": 3}, {"a": "2"}]),
        None,
    );
    assert_eq!(
        columns(&schema, "t"),
        [
            ("a".into(), Some(DataType::Bigint)),
            ("n".into(), Some(DataType::Bigint)),
            ("a__v_text".into(), Some(DataType::Text)),
        ]
    );
    assert!(schema.tables["t"].columns["a__v_text"].variant);
}

#[test]
fn same_output_for_any_thread_count() {
    let records: Vec<serde_json::Value> = (0..2000)
        .map(|i| json!({"id": i, "v": if i % 7 == 0 { json!("x") } else { json!(i) }, "l": [i, {"k": i}]}))
        .collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        pool.install(|| {
            let mut schema = Schema::new("s");
            let mut n = Normalizer::new("1.0", [9; 16], 65536);
            n.add_page(
                &mut schema,
                &ResourceTable::new("t", "t"),
                0,
                records.clone(),
            )
            .expect("normalizes");
            let b = n.take_batches(&schema).expect("batches");
            (schema.to_json(), format!("{b:?}"))
        })
    };
    assert_eq!(run(1), run(4));
}
