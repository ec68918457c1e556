//! A test connector whose pages are Arrow IPC streams: `typed` is one table of every Arrow
//! type dlt maps (the same table `scripts/differential/arrow_fixtures.py` gives dlt), and
//! `events` is a stream of rows with an incremental cursor for dispositions and state.

use std::sync::Arc;

use sluice_sdk::arrow_array::builder::{Int64Builder, ListBuilder, StringBuilder, StructBuilder};
use sluice_sdk::arrow_array::types::Int32Type;
use sluice_sdk::arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, DictionaryArray,
    FixedSizeBinaryArray, Float32Array, Int16Array, Int32Array, Int64Array, LargeStringArray,
    NullArray, RecordBatch, StringArray, Time32MillisecondArray, Time64MicrosecondArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray, UInt64Array,
};
use sluice_sdk::arrow_schema::{DataType, Field, Fields};
use sluice_sdk::serde_json::Value;
use sluice_sdk::{
    Error, ErrorKind, Incremental, LastValueFunc, OnCursorMissing, Open, Page, Resource,
    ResourceSpec, Source, SourceSpec, error,
};

struct Probe;

impl Source for Probe {
    fn spec(_config: &Value) -> Result<SourceSpec, Error> {
        let mut events = ResourceSpec::new("events");
        events.incremental = Some(Incremental {
            cursor_path: "updated_at".into(),
            initial_value: None,
            end_value: None,
            last_value_func: LastValueFunc::Max,
            lag: None,
            on_cursor_missing: OnCursorMissing::Raise,
        });
        Ok(SourceSpec::new("arrow_probe", "0.2.0")
            .resource(ResourceSpec::new("typed"))
            .resource(events))
    }

    fn open(open: Open) -> Result<Box<dyn Resource>, Error> {
        match open.resource.as_str() {
            "typed" => Ok(Box::new(Once(Some(Page::arrow(&[typed()?])?)))),
            "events" => {
                let num = |k: &str, d: i64| open.config[k].as_i64().unwrap_or(d);
                Ok(Box::new(Events {
                    next: num("from", 0),
                    to: num("to", 1000),
                    page: num("page", 100).max(1),
                    version: num("version", 1),
                }))
            }
            other => Err(error(ErrorKind::Config, format!("no resource `{other}`"))),
        }
    }
}

struct Once(Option<Page>);

impl Resource for Once {
    fn next_page(&mut self) -> Result<Option<Page>, Error> {
        Ok(self.0.take())
    }
}

fn fail(e: impl std::fmt::Display) -> Error {
    error(ErrorKind::Internal, e.to_string())
}

/// Three rows of every type (nulls where dlt's fixture has them).
fn typed() -> Result<RecordBatch, Error> {
    let fixed =
        FixedSizeBinaryArray::try_from_iter([b"ab", b"cd", b"ef"].into_iter()).map_err(fail)?;
    let decimal = Decimal128Array::from(vec![Some(123), None, Some(-999)])
        .with_precision_and_scale(10, 2)
        .map_err(fail)?;
    let dict: DictionaryArray<Int32Type> = vec!["u", "v", "u"].into_iter().collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("Id", Arc::new(Int64Array::from(vec![1, 2, 3]))),
        ("small", Arc::new(Int16Array::from(vec![1, 2, 3]))),
        (
            "i32",
            Arc::new(Int32Array::from(vec![Some(1), None, Some(3)])),
        ),
        ("u64", Arc::new(UInt64Array::from(vec![1, 2, 3]))),
        (
            "f32",
            Arc::new(Float32Array::from(vec![Some(1.5), Some(2.5), None])),
        ),
        ("Amount USD", Arc::new(decimal)),
        ("ts_s", Arc::new(TimestampSecondArray::from(vec![1, 2, 3]))),
        (
            "ts_ms_tz",
            Arc::new(TimestampMillisecondArray::from(vec![1000, 2000, 3000]).with_timezone("UTC")),
        ),
        (
            "ts_ns_tz",
            Arc::new(
                TimestampNanosecondArray::from(vec![1000, 2000, 3_000_000])
                    .with_timezone("Europe/Berlin"),
            ),
        ),
        ("d", Arc::new(Date32Array::from(vec![19723; 3]))),
        (
            "t",
            Arc::new(Time64MicrosecondArray::from(vec![3_723_000_000; 3])),
        ),
        (
            "t_ms",
            Arc::new(Time32MillisecondArray::from(vec![3_723_000; 3])),
        ),
        (
            "b",
            Arc::new(BinaryArray::from(vec![
                Some(&b"x"[..]),
                Some(&b"y"[..]),
                None,
            ])),
        ),
        ("fb", Arc::new(fixed)),
        (
            "s",
            Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
        ),
        ("ls", Arc::new(LargeStringArray::from(vec!["a", "b", "c"]))),
        (
            "flag",
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
        ),
        ("st", structs()),
        ("lst", lists()),
        ("dict", Arc::new(dict)),
        ("nul", Arc::new(NullArray::new(3))),
    ];
    RecordBatch::try_from_iter(columns).map_err(fail)
}

/// `{"x": 1, "y": "a"}`, null, `{"x": 3, "y": "c"}`
fn structs() -> ArrayRef {
    let fields = Fields::from(vec![
        Field::new("x", DataType::Int64, true),
        Field::new("y", DataType::Utf8, true),
    ]);
    let mut b = StructBuilder::from_fields(fields, 3);
    for row in [Some((1, "a")), None, Some((3, "c"))] {
        let (x, y) = row.unwrap_or((0, ""));
        if let Some(f) = b.field_builder::<Int64Builder>(0) {
            f.append_option(row.map(|_| x));
        }
        if let Some(f) = b.field_builder::<StringBuilder>(1) {
            f.append_option(row.map(|_| y));
        }
        b.append(row.is_some());
    }
    Arc::new(b.finish())
}

/// `[1, 2]`, `[]`, null
fn lists() -> ArrayRef {
    let mut b = ListBuilder::new(Int64Builder::new());
    b.values().append_value(1);
    b.values().append_value(2);
    b.append(true);
    b.append(true);
    b.append(false);
    Arc::new(b.finish())
}

/// Rows `next..to`: `id`, `updated_at` (seconds since the epoch as a UTC timestamp, one per
/// id), `value` (`v<version>-<id>`) and a nested `meta` struct, `page` rows per page.
struct Events {
    next: i64,
    to: i64,
    page: i64,
    version: i64,
}

impl Resource for Events {
    fn next_page(&mut self) -> Result<Option<Page>, Error> {
        if self.next >= self.to {
            return Ok(None);
        }
        let end = (self.next + self.page).min(self.to);
        let ids: Vec<i64> = (self.next..end).collect();
        self.next = end;
        let ts: Vec<i64> = ids
            .iter()
            .map(|i| 1_700_000_000_000_000 + i * 1_000_000)
            .collect();
        let values: Vec<String> = ids
            .iter()
            .map(|i| format!("v{}-{i}", self.version))
            .collect();
        let mut meta = ListBuilder::new(StringBuilder::new());
        for i in &ids {
            meta.values().append_value(format!("tag{}", i % 3));
            meta.append(true);
        }
        let batch = RecordBatch::try_from_iter(vec![
            ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
            (
                "updated_at",
                Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
            ),
            ("value", Arc::new(StringArray::from(values))),
            ("tags", Arc::new(meta.finish())),
        ])
        .map_err(fail)?;
        Page::arrow(&[batch]).map(Some)
    }
}

sluice_sdk::export!(Probe);
