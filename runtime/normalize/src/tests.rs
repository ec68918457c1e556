//! Normalizer checks against dlt's documented outputs (reference §1).

use serde_json::json;
use sluice_schema::{ContractEntity, DataType, Schema, SchemaContract};

use super::*;
use indexmap::IndexMap;

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

/// The reference §4 experiment: table `t(id, a)` has seen data; the next package brings
/// `[{id:2,a:2,b:"new"}, {id:3,a:"str"}, {id:4,a:4}]` under a contract.
/// Columns of `t`, its rows (id, a, b, a__v_text as text) and the discards.
type ContractOutcome = (
    Vec<String>,
    Vec<Vec<Option<String>>>,
    IndexMap<String, Discards>,
);

fn contract_case(contract: &str) -> Result<ContractOutcome, NormalizeError> {
    use arrow_array::Array;
    let mut schema = Schema::new("s");
    let first = ResourceTable::new("t", "t");
    let mut n = Normalizer::new("1.0", [1; 16], 65536);
    n.add_page(&mut schema, &first, 0, vec![json!({"id": 1, "a": 1})])?;
    n.take_batches(&schema)?;
    n.finish(&mut schema);
    let mut r = ResourceTable::new("t", "t");
    r.schema_contract =
        Some(SchemaContract::from_json(&serde_json::from_str(contract).unwrap()).unwrap());
    let mut n = Normalizer::new("2.0", [2; 16], 65536);
    n.add_page(
        &mut schema,
        &r,
        0,
        vec![
            json!({"id": 2, "a": 2, "b": "new"}),
            json!({"id": 3, "a": "str"}),
            json!({"id": 4, "a": 4}),
        ],
    )?;
    let batches = n.take_batches(&schema)?;
    let cols: Vec<String> = columns(&schema, "t").into_iter().map(|(c, _)| c).collect();
    let batch = &batches.iter().find(|(t, _)| t == "t").expect("t").1;
    let mut rows = Vec::new();
    for i in 0..batch.num_rows() {
        let mut row = Vec::new();
        for c in ["id", "a", "b", "a__v_text"] {
            row.push(batch.column_by_name(c).and_then(|col| {
                (!col.is_null(i)).then(|| {
                    arrow_array::cast::AsArray::as_string_opt::<i32>(col)
                        .map(|s| s.value(i).to_owned())
                        .unwrap_or_else(|| {
                            arrow_array::cast::AsArray::as_primitive::<
                                    arrow_array::types::Int64Type,
                                >(col)
                                .value(i)
                                .to_string()
                        })
                })
            }));
        }
        rows.push(row);
    }
    Ok((cols, rows, n.discards().clone()))
}

fn row(v: [Option<&str>; 4]) -> Vec<Option<String>> {
    v.iter().map(|x| x.map(str::to_owned)).collect()
}

#[test]
fn contracts_match_dlt_experiment() {
    let (cols, rows, _) = contract_case(r#""evolve""#).unwrap();
    assert_eq!(cols, ["id", "a", "b", "a__v_text"]);
    assert_eq!(
        rows,
        [
            row([Some("2"), Some("2"), Some("new"), None]),
            row([Some("3"), None, None, Some("str")]),
            row([Some("4"), Some("4"), None, None]),
        ]
    );
    let e = contract_case(r#"{"columns": "freeze"}"#).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(&e, NormalizeError::Contract { table, column: Some(c), entity: ContractEntity::Columns, mode: ContractMode::Freeze, record: 0, .. } if table == "t" && c == "b"),
        "{msg}"
    );
    assert!(
        msg.contains("schema `s`") && msg.contains(r#""b":"new""#),
        "{msg}"
    );

    // columns: discard_row drops row 2; the variant of row 3 is still made
    let (cols, rows, d) = contract_case(r#"{"columns": "discard_row"}"#).unwrap();
    assert_eq!(cols, ["id", "a", "a__v_text"]);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][0].as_deref(), Some("3"));
    assert_eq!(d["t"].rows, 1);

    let (cols, rows, d) = contract_case(r#"{"columns": "discard_value"}"#).unwrap();
    assert_eq!(cols, ["id", "a", "a__v_text"]);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0], row([Some("2"), Some("2"), None, None]));
    assert_eq!(
        (d["t"].values, d["t"].columns.clone()),
        (1, vec!["b".to_owned()])
    );

    let e = contract_case(r#"{"data_type": "freeze"}"#).unwrap_err();
    assert!(
        matches!(&e, NormalizeError::Contract { column: Some(c), entity: ContractEntity::DataType, record: 1, .. } if c == "a__v_text"),
        "{e}"
    );

    let (cols, rows, _) = contract_case(r#"{"data_type": "discard_row"}"#).unwrap();
    assert_eq!(cols, ["id", "a", "b"]);
    assert_eq!(
        rows.iter()
            .map(|r| r[0].clone().unwrap())
            .collect::<Vec<_>>(),
        ["2", "4"]
    );

    let (cols, rows, _) = contract_case(r#"{"data_type": "discard_value"}"#).unwrap();
    assert_eq!(cols, ["id", "a", "b"]);
    assert_eq!(rows[1], row([Some("3"), None, None, None]));

    // a "freeze" contract with only known columns loads fine
    let mut schema = Schema::new("s");
    let mut n = Normalizer::new("1.0", [1; 16], 65536);
    n.add_page(
        &mut schema,
        &ResourceTable::new("t", "t"),
        0,
        vec![json!({"id": 1})],
    )
    .unwrap();
    n.finish(&mut schema);
    let mut r = ResourceTable::new("t", "t");
    r.schema_contract = Some(SchemaContract::all(ContractMode::Freeze));
    let mut n = Normalizer::new("2.0", [2; 16], 65536);
    n.add_page(&mut schema, &r, 0, vec![json!({"id": 2})])
        .unwrap();
    assert_eq!(n.row_counts()["t"], 1);
    // ...but a new list field is a new nested table
    let e = n
        .add_page(&mut schema, &r, 1, vec![json!({"id": 3, "lst": [1]})])
        .unwrap_err();
    assert!(
        matches!(&e, NormalizeError::Contract { table, entity: ContractEntity::Tables, .. } if table == "t__lst"),
        "{e}"
    );
}

#[test]
fn new_tables_take_their_first_columns_and_discards_take_nested_rows() {
    // columns: freeze on a table that has not seen data: its first columns evolve
    let mut schema = Schema::new("s");
    let mut r = ResourceTable::new("t", "t");
    r.schema_contract = Some(SchemaContract::from_json(&json!({"columns": "freeze"})).unwrap());
    let mut n = Normalizer::new("1.0", [1; 16], 65536);
    n.add_page(
        &mut schema,
        &r,
        0,
        vec![json!({"id": 1}), json!({"id": 2, "x": 1})],
    )
    .unwrap();
    assert_eq!(n.row_counts()["t"], 2);
    // tables: discard_row on a first run drops everything, creates nothing
    let mut schema = Schema::new("s");
    let mut r = ResourceTable::new("t", "t");
    r.schema_contract = Some(SchemaContract::from_json(&json!({"tables": "discard_row"})).unwrap());
    let mut n = Normalizer::new("1.0", [1; 16], 65536);
    n.add_page(&mut schema, &r, 0, vec![json!({"id": 1, "l": [1, 2]})])
        .unwrap();
    assert!(n.take_batches(&schema).unwrap().is_empty());
    assert_eq!(n.discards()["t"].rows, 1);
    // a discarded parent row takes its nested rows along (dlt would keep them as orphans)
    let mut schema = Schema::new("s");
    let mut n = Normalizer::new("1.0", [1; 16], 65536);
    let plain = ResourceTable::new("t", "t");
    n.add_page(
        &mut schema,
        &plain,
        0,
        vec![json!({"id": 1, "l": [{"v": 1}]})],
    )
    .unwrap();
    n.finish(&mut schema);
    let mut r = ResourceTable::new("t", "t");
    r.schema_contract =
        Some(SchemaContract::from_json(&json!({"columns": "discard_row"})).unwrap());
    let mut n = Normalizer::new("2.0", [2; 16], 65536);
    n.add_page(
        &mut schema,
        &r,
        0,
        vec![
            json!({"id": 2, "new": true, "l": [{"v": 2}, {"v": 3}]}),
            json!({"id": 3, "l": [{"v": 4}]}),
        ],
    )
    .unwrap();
    let counts: Vec<(String, usize)> = n
        .take_batches(&schema)
        .unwrap()
        .iter()
        .map(|(t, b)| (t.clone(), b.num_rows()))
        .collect();
    assert_eq!(counts, [("t".to_owned(), 1), ("t__l".to_owned(), 1)]);
    assert_eq!(n.discards()["t__l"].rows, 2);
}

#[test]
fn preferred_types_pick_types_of_new_columns() {
    let mut schema = Schema::new("s");
    schema
        .settings
        .preferred_types
        .insert("re:_at$".into(), DataType::Timestamp);
    schema
        .settings
        .preferred_types
        .insert("amount".into(), DataType::Decimal);
    let mut n = Normalizer::new("1.0", [1; 16], 65536);
    n.add_page(
        &mut schema,
        &ResourceTable::new("t", "t"),
        0,
        vec![json!({"created_at": 1700000000, "updated_at": "soon", "amount": 1.5, "amount_x": 2})],
    )
    .unwrap();
    assert_eq!(
        columns(&schema, "t"),
        [
            ("created_at".to_owned(), Some(DataType::Timestamp)),
            // a value the preferred type cannot take goes to a variant, as in dlt
            ("updated_at__v_text".to_owned(), Some(DataType::Text)),
            ("amount".to_owned(), Some(DataType::Decimal)),
            ("amount_x".to_owned(), Some(DataType::Bigint)),
        ]
    );
}

#[test]
fn json_schema_is_columns_and_contract() {
    let mut schema = Schema::new("s");
    let mut r = ResourceTable::new("t", "t");
    let doc = json!({"type": "object", "properties": {"id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}}, "required": ["id"]});
    r.columns = JsonSchema::compile(&doc).unwrap().column_hints();
    r.json_schema = Some(doc);
    let mut n = Normalizer::new("1.0", [1; 16], 65536);
    n.add_page(
        &mut schema,
        &r,
        0,
        vec![json!({"id": 1, "at": "2024-01-01T00:00:00Z", "junk": 1})],
    )
    .unwrap();
    // dlt's model default: unknown fields are dropped, wrong types fail
    assert_eq!(
        columns(&schema, "t"),
        [
            ("id".to_owned(), Some(DataType::Bigint)),
            ("at".to_owned(), Some(DataType::Timestamp)),
        ]
    );
    assert!(!schema.tables["t"].columns["id"].nullable);
    let e = n
        .add_page(
            &mut schema,
            &r,
            1,
            vec![json!({"id": 2}), json!({"id": "three"})],
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "record 2 of the page fails the JSON Schema of resource `t` at `$.id`: expected integer, got string"
    );
}

/// Keys are named as dlt names them (as paths: `__double` → `double`, `a__b` → `a__b`), but a
/// dataset loaded under Sluice's earlier rule (one identifier: `a_b`) keeps its columns and
/// nested tables: the stored name wins where the new one is unknown. On both paths.
#[test]
fn loaded_names_win_over_the_dlt_key_names() {
    for fast in [false, true] {
        let mut schema = Schema::new("s");
        let r = ResourceTable::new("t", "t");
        let mut n = Normalizer::new("1.0", [1; 16], 65536);
        n.set_fast_path(fast);
        // what the earlier rule made of `a__b` and `items__x`
        let page = json!([{"a_b": 1, "items_x": [1]}]);
        let page = serde_json::to_vec(&page).unwrap();
        n.add_page_bytes(&mut schema, &r, 0, &page, RecordsFormat::JsonArray)
            .unwrap();
        n.finish(&mut schema);
        let mut n = Normalizer::new("2.0", [1; 16], 65536);
        n.set_fast_path(fast);
        let page = json!([
            {"a__b": 5, "items__x": [2], "__double": 1},
            {"a__b": 6, "items__x": [3], "__double": 2}
        ]);
        let page = serde_json::to_vec(&page).unwrap();
        n.add_page_bytes(&mut schema, &r, 0, &page, RecordsFormat::JsonArray)
            .unwrap();
        let t = &schema.tables["t"];
        assert!(t.columns.contains_key("a_b"), "fast {fast}");
        assert!(!t.columns.contains_key("a__b"), "fast {fast}");
        assert!(t.columns.contains_key("double"), "fast {fast}");
        assert!(schema.tables.contains_key("t__items_x"), "fast {fast}");
        assert!(!schema.tables.contains_key("t__items__x"), "fast {fast}");
        let counts = n.row_counts();
        assert_eq!(counts["t"], 2, "fast {fast}");
        assert_eq!(counts["t__items_x"], 2, "fast {fast}");
    }
    // a new dataset takes dlt's names
    let (schema, _) = check(json!({"a__b": 5, "items__x": [2], "__double": 1}), None);
    assert!(schema.tables["t"].columns.contains_key("a__b"));
    assert!(schema.tables["t"].columns.contains_key("double"));
    assert!(schema.tables.contains_key("t__items__x"));
}

/// A `decimal` hint without precision and scale is dlt's DECIMAL(38, 9): values are scaled to
/// the column's 9 places, not 0 (12.50 once arrived as 0.000000013).
#[test]
fn a_decimal_hint_without_scale_takes_the_default_scale() {
    let mut schema = Schema::new("s");
    let mut r = ResourceTable::new("t", "t");
    let hint: ColumnHint =
        serde_json::from_value(json!({"name": "amount", "data_type": "decimal"})).unwrap();
    r.columns = vec![hint];
    let mut n = Normalizer::new("1.0", [1; 16], 65536);
    n.add_page(
        &mut schema,
        &r,
        0,
        vec![json!({"amount": 12.50}), json!({"amount": "0.125"})],
    )
    .unwrap();
    let batches = n.take_batches(&schema).unwrap();
    let (_, batch) = batches.iter().find(|(t, _)| t == "t").unwrap();
    let col = batch
        .column_by_name("amount")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow_array::Decimal128Array>()
        .unwrap();
    assert_eq!((col.precision(), col.scale()), (38, 9));
    assert_eq!(col.value(0), 12_500_000_000);
    assert_eq!(col.value(1), 125_000_000);
}

/// Nested hints (dlt's `nested_hints`) type the columns of nested tables at any depth, as
/// root hints type the root's: `date` and `decimal` values that JSON carries as text and
/// numbers land typed, and the hinted columns come first, in the hints' order.
#[test]
fn nested_hints_type_the_columns_of_nested_tables() {
    let mut schema = Schema::new("s");
    let mut r = ResourceTable::new("t", "t");
    let hints = |path: &[&str], cols: serde_json::Value| -> NestedHints {
        NestedHints {
            path: path.iter().map(|p| p.to_string()).collect(),
            columns: serde_json::from_value(cols).unwrap(),
        }
    };
    r.nested = vec![
        hints(
            &["items"],
            json!([{"name": "on", "data_type": "date"}, {"name": "n"},
                   {"name": "price", "data_type": "decimal"}]),
        ),
        hints(
            &["items", "parts"],
            json!([{"name": "at", "data_type": "time"}]),
        ),
        hints(&["days"], json!([{"name": "value", "data_type": "date"}])),
        // keys as the records spell them: named as the flattening names them
        hints(
            &["Line Items"],
            json!([{"name": "Shipped On", "data_type": "date"}]),
        ),
        hints(
            &["meta__parts"],
            json!([{"name": "at", "data_type": "time"}]),
        ),
    ];
    let record = json!({
        "id": 1,
        "items": [{"n": 1, "price": 2.5, "on": "2024-05-01", "parts": [{"at": "10:30:00"}]}],
        "days": ["2024-05-02"],
        "Line Items": [{"Shipped On": "2024-05-03"}],
        "meta": {"parts": [{"at": "11:00:00"}]},
    });
    let mut n = Normalizer::new("1.0", [1; 16], 65536);
    n.add_page(&mut schema, &r, 0, vec![record]).unwrap();
    let batches = n.take_batches(&schema).unwrap();
    assert_eq!(
        columns(&schema, "t__items"),
        [
            ("on".to_owned(), Some(DataType::Date)),
            ("n".to_owned(), Some(DataType::Bigint)),
            ("price".to_owned(), Some(DataType::Decimal)),
        ]
    );
    assert_eq!(schema.tables["t__items"].parent.as_deref(), Some("t"));
    assert_eq!(
        schema.tables["t__items__parts"].parent.as_deref(),
        Some("t__items")
    );
    assert_eq!(
        columns(&schema, "t__items__parts"),
        [("at".to_owned(), Some(DataType::Time))]
    );
    assert_eq!(
        columns(&schema, "t__days"),
        [("value".to_owned(), Some(DataType::Date))]
    );
    assert_eq!(
        columns(&schema, "t__line_items"),
        [("shipped_on".to_owned(), Some(DataType::Date))]
    );
    assert_eq!(
        columns(&schema, "t__meta__parts"),
        [("at".to_owned(), Some(DataType::Time))]
    );
    assert_eq!(schema.tables["t__meta__parts"].parent.as_deref(), Some("t"));
    let rows: usize = batches
        .iter()
        .filter(|(t, _)| t.starts_with("t__"))
        .map(|(_, b)| b.num_rows())
        .sum();
    assert_eq!(rows, 5, "one row in each nested table");
    assert_eq!(
        schema
            .tables
            .keys()
            .filter(|t| t.starts_with("t__"))
            .count(),
        5,
        "no table but the records' own"
    );
}
