"""Every write disposition from `run(..., write_disposition=...)`, as dlt's `pipeline.run`."""

from conftest import rows


def test_append_adds_rows_on_every_run(make_pipeline):
    p = make_pipeline()
    p.run([{"id": 1}], table_name="t")
    p.run([{"id": 1}], table_name="t", write_disposition="append")
    assert rows(p, "SELECT count(*) FROM t") == [(2,)]


def test_replace_keeps_only_the_last_run_in_parent_and_child_tables(make_pipeline):
    p = make_pipeline()
    p.run([{"id": 1, "l": [1, 2]}, {"id": 2, "l": [3]}], table_name="t", write_disposition="replace")
    p.run([{"id": 3, "l": [4]}], table_name="t", write_disposition="replace")
    assert rows(p, "SELECT id FROM t") == [(3,)]
    assert rows(p, "SELECT value FROM t__l") == [(4,)]


def test_merge_on_a_primary_key_updates_and_inserts(make_pipeline):
    p = make_pipeline()
    p.run(
        [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}],
        table_name="t",
        write_disposition="merge",
        primary_key="id",
    )
    p.run(
        [{"id": 2, "v": "B"}, {"id": 3, "v": "c"}],
        table_name="t",
        write_disposition="merge",
        primary_key="id",
    )
    assert rows(p, "SELECT id, v FROM t ORDER BY id") == [(1, "a"), (2, "B"), (3, "c")]


def test_merge_upsert_with_a_compound_key(make_pipeline):
    p = make_pipeline()
    wd = {"disposition": "merge", "strategy": "upsert"}
    p.run([{"a": 1, "b": "x", "v": 1}], table_name="t", write_disposition=wd, primary_key=["a", "b"])
    p.run(
        [{"a": 1, "b": "x", "v": 2}, {"a": 1, "b": "y", "v": 3}],
        table_name="t",
        write_disposition=wd,
        primary_key=("a", "b"),
    )
    assert rows(p, "SELECT a, b, v FROM t ORDER BY b") == [(1, "x", 2), (1, "y", 3)]


def test_scd2_retires_changed_versions(make_pipeline):
    p = make_pipeline()
    wd = {"disposition": "merge", "strategy": "scd2"}
    p.run([{"id": 1, "v": "a"}, {"id": 2, "v": "b"}], table_name="dim", write_disposition=wd)
    p.run([{"id": 1, "v": "A"}, {"id": 2, "v": "b"}], table_name="dim", write_disposition=wd)
    assert rows(
        p, "SELECT id, v, _dlt_valid_to IS NULL FROM dim ORDER BY id, _dlt_valid_from"
    ) == [(1, "a", False), (1, "A", True), (2, "b", True)]


def test_merge_of_a_dataframe_on_a_key(make_pipeline):
    import pandas as pd

    p = make_pipeline()
    p.run(pd.DataFrame({"id": [1, 2], "v": ["a", "b"]}), table_name="t",
          write_disposition="merge", primary_key="id")
    p.run(pd.DataFrame({"id": [2], "v": ["B"]}), table_name="t",
          write_disposition="merge", primary_key="id")
    assert rows(p, "SELECT id, v FROM t ORDER BY id") == [(1, "a"), (2, "B")]


def test_merge_insert_only_adds_new_keys_and_leaves_existing_rows(make_pipeline):
    p = make_pipeline()
    wd = {"disposition": "merge", "strategy": "insert-only"}
    p.run([{"id": 1, "v": "a"}], table_name="t", write_disposition=wd, primary_key="id")
    p.run([{"id": 1, "v": "A"}, {"id": 2, "v": "b"}], table_name="t", write_disposition=wd,
          primary_key="id")
    assert rows(p, "SELECT id, v FROM t ORDER BY id") == [(1, "a"), (2, "b")]
