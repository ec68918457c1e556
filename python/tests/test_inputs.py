"""Every kind of data `Pipeline.run` takes, loaded and read back with the types dlt gives."""

import datetime
import decimal
import os

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from conftest import rows


def columns(pipeline, table):
    t = next(t for t in pipeline.dataset().tables if t["name"] == table)
    return {c["name"]: c["data_type"] for c in t["columns"]}


def test_a_list_of_nested_dicts_makes_the_root_and_child_tables(make_pipeline):
    p = make_pipeline()
    info = p.run(
        [
            {"id": 1, "user": {"name": "ann"}, "tags": ["a", "b"], "items": [{"sku": "x"}]},
            {"id": 2, "user": {"name": "bob"}, "tags": [], "items": []},
        ],
        table_name="orders",
    )
    assert info.tables == {"orders": 2, "orders__tags": 2, "orders__items": 1}
    assert rows(p, "SELECT id, user__name FROM orders ORDER BY id") == [(1, "ann"), (2, "bob")]
    assert rows(p, "SELECT value FROM orders__tags ORDER BY _dlt_list_idx") == [("a",), ("b",)]
    # the child row points at its parent's _dlt_id, as in dlt
    assert rows(
        p,
        "SELECT o.id FROM orders__items i JOIN orders o ON i._dlt_parent_id = o._dlt_id",
    ) == [(1,)]


def test_python_values_json_cannot_carry_keep_their_type(make_pipeline):
    p = make_pipeline()
    p.run(
        [
            {
                "id": 1,
                "at": datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc),
                "day": datetime.date(2024, 5, 1),
                "amount": decimal.Decimal("12.50"),
                "blob": b"\x00\xff",
                "ratio": 0.25,
                "ok": True,
                "none": None,
            }
        ],
        table_name="typed",
    )
    types = columns(p, "typed")
    assert types["at"] == "timestamp"
    assert types["day"] == "date"
    assert types["amount"] == "decimal"
    assert types["blob"] == "binary"
    assert types["ratio"] == "double"
    assert types["ok"] == "bool"
    # a column only ever null stays untyped in the schema and out of the table (as in dlt)
    assert types["none"] is None
    t = p.dataset()["typed"].arrow()
    assert "none" not in t.column_names
    assert t.column("blob").to_pylist() == [b"\x00\xff"]
    assert t.column("amount").to_pylist() == [decimal.Decimal("12.50")]
    assert t.column("at").to_pylist()[0] == datetime.datetime(
        2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc
    )


def test_values_json_cannot_carry_keep_their_type_in_nested_tables(make_pipeline):
    from cases import nested_typed

    p = make_pipeline()
    p.run(nested_typed(), table_name="orders")
    assert rows(p, 'SELECT "on", price, "at" FROM orders__items ORDER BY _dlt_list_idx') == [
        (
            datetime.date(2024, 5, 1),
            decimal.Decimal("2.500000000"),
            datetime.datetime(2024, 5, 1, 9, 0, tzinfo=datetime.timezone.utc),
        ),
        (datetime.date(2024, 5, 2), decimal.Decimal("1.000000000"), None),
    ]
    assert rows(p, "SELECT fitted FROM orders__items__parts") == [(datetime.time(10, 30),)]
    assert rows(p, "SELECT meta__seen FROM orders__items WHERE sku = 'x'") == [
        (datetime.date(2024, 4, 30),)
    ]
    assert rows(p, "SELECT value FROM orders__days ORDER BY _dlt_list_idx") == [
        (datetime.date(2024, 6, 1),),
        (datetime.date(2024, 6, 2),),
    ]
    assert rows(p, "SELECT value FROM orders__blobs") == [(b"\x01",)]
    # with nesting cut at the root, the lists stay JSON and no nested table is declared
    flat = make_pipeline("flat")
    flat.run(nested_typed(), table_name="orders", max_table_nesting=0)
    assert [t["name"] for t in flat.dataset().tables] == ["orders"]


def test_a_generator_is_streamed_and_names_the_table(make_pipeline):
    def events():
        for i in range(25_000):
            yield {"id": i, "kind": "even" if i % 2 == 0 else "odd"}

    p = make_pipeline()
    info = p.run(events())
    assert info.tables == {"events": 25_000}
    assert rows(p, "SELECT kind, count(*) FROM events GROUP BY kind ORDER BY kind") == [
        ("even", 12_500),
        ("odd", 12_500),
    ]


def test_a_pandas_dataframe_loads_through_arrow_without_dlt_columns(make_pipeline):
    p = make_pipeline()
    df = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "name": ["a", None, "c"],
            "at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True),
            "score": [1.5, 2.5, None],
        }
    )
    assert p.run(df, table_name="frame").tables == {"frame": 3}
    back = p.dataset()["frame"].df()
    # dlt adds neither _dlt_id nor _dlt_load_id to Arrow data by default
    assert list(back.columns) == ["id", "name", "at", "score"]
    assert back["name"].tolist()[0] == "a" and pd.isna(back["name"].tolist()[1])
    assert columns(p, "frame") == {
        "id": "bigint",
        "name": "text",
        "at": "timestamp",
        "score": "double",
    }


def test_a_polars_dataframe_and_pyarrow_tables_readers_and_batches_load(make_pipeline):
    p = make_pipeline()
    p.run(pl.DataFrame({"x": [1, 2], "y": ["a", "b"]}), table_name="polars")
    table = pa.table({"k": pa.array([1, 2, 3], pa.int32()), "d": pa.array([1.0, 2.0, 3.0])})
    p.run(table, table_name="arrow_table")
    p.run(table.to_batches()[0], table_name="arrow_batch")
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=1))
    p.run(reader, table_name="arrow_reader")
    counts = {t["name"]: t["rows"] for t in p.dataset().tables}
    assert counts == {"polars": 2, "arrow_table": 3, "arrow_batch": 3, "arrow_reader": 3}
    assert rows(p, "SELECT sum(k) FROM arrow_reader") == [(6,)]


def test_a_large_arrow_table_is_cut_into_pages_and_loads_whole(make_pipeline):
    p = make_pipeline()
    n = 300_000
    p.run(pa.table({"i": pa.array(range(n), pa.int64())}), table_name="big")
    assert rows(p, "SELECT count(*), sum(i) FROM big") == [(n, n * (n - 1) // 2)]


def test_a_single_dict_is_one_record(make_pipeline):
    p = make_pipeline()
    assert p.run({"id": 7}, table_name="one").tables == {"one": 1}


def test_a_filesystem_destination_takes_records_and_reads_back(make_pipeline, tmp_path):
    p = make_pipeline(destination=f"file://{tmp_path / 'lake'}")
    p.run([{"id": 1}, {"id": 2}], table_name="t")
    assert rows(p, "SELECT sum(id) FROM t") == [(3,)]
    assert any(f.endswith(".parquet") for _, _, fs in os.walk(tmp_path / "lake") for f in fs)


def test_the_wheel_carries_duckdb_and_runs_without_the_build_cache(make_pipeline):
    import sluice

    make_pipeline().run([{"id": 1}], table_name="t")
    with open("/proc/self/maps") as maps:
        duckdb = {line.split()[-1] for line in maps if "libduckdb" in line}
    package = os.path.dirname(os.path.dirname(sluice.__file__))
    # the library the extension runs with is the one inside the installed wheel
    assert duckdb and all(path.startswith(package) for path in duckdb), duckdb


@pytest.mark.parametrize("bad", ["text", b"bytes"])
def test_strings_are_refused_with_a_clear_error(make_pipeline, bad):
    import sluice

    with pytest.raises(sluice.ConfigurationError, match="not a string"):
        make_pipeline().run(bad, table_name="t")


def test_an_arrow_reader_fed_by_a_python_generator_streams_without_deadlock(make_pipeline):
    # pyarrow takes the GIL inside the stream to run the generator: the engine reads the
    # stream with the GIL released, so this must neither deadlock nor load less
    schema = pa.schema([("i", pa.int64()), ("s", pa.string())])

    def batches():
        for b in range(20):
            yield pa.record_batch(
                [pa.array(range(b * 1000, (b + 1) * 1000)), pa.array([f"r{b}"] * 1000)],
                schema=schema,
            )

    p = make_pipeline()
    p.run(pa.RecordBatchReader.from_batches(schema, batches()), table_name="streamed")
    assert rows(p, "SELECT count(*), count(DISTINCT s), max(i) FROM streamed") == [(20_000, 20, 19_999)]


def test_an_error_inside_an_arrow_stream_fails_the_run_and_loads_nothing(make_pipeline):
    import sluice

    schema = pa.schema([("i", pa.int64())])

    def batches():
        yield pa.record_batch([pa.array([1, 2])], schema=schema)
        raise RuntimeError("the producer broke")

    p = make_pipeline()
    with pytest.raises(sluice.ConnectorError, match="resource `t`.*the producer broke"):
        p.run(pa.RecordBatchReader.from_batches(schema, batches()), table_name="t")
    assert p.dataset().table_names == []


def test_keys_no_declaration_may_name_still_load(make_pipeline):
    # a typed value makes the first page declare its columns; keys with a slash or edge
    # spaces are left out of that declaration and load as plain data
    p = make_pipeline()
    p.run(
        [{"a/b": 1, " padded ": "x", "at": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)}],
        table_name="odd",
    )
    types = columns(p, "odd")
    assert types["at"] == "timestamp" and types["a_b"] == "bigint" and types["padded"] == "text"


def test_a_table_name_with_a_path_separator_is_refused_clearly(make_pipeline):
    import sluice

    with pytest.raises(sluice.ConfigurationError, match="contains a path separator"):
        make_pipeline().run([{"id": 1}], table_name="a/b")
