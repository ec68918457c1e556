"""`p.dataset()`: tables, Arrow, pandas and polars frames, read-only SQL."""

import pytest

import sluice


def test_tables_arrow_df_and_query(make_pipeline):
    p = make_pipeline()
    p.run([{"id": i, "tags": ["a", "b"]} for i in range(5)], table_name="t")
    ds = p.dataset()
    assert ds.table_names == ["t", "t__tags"]
    t = {x["name"]: x for x in ds.tables}["t"]
    assert t["rows"] == 5 and t["write_disposition"] == "append"
    assert [c["name"] for c in t["columns"]][:1] == ["id"]
    assert ds["t"].arrow().num_rows == 5
    assert ds.t__tags.df().shape[0] == 10
    assert ds("SELECT count(*) AS n FROM t__tags").pl()["n"].to_list() == [10]
    assert [l["status"] for l in ds.loads()] == [0]


def test_the_dataset_is_read_only(make_pipeline):
    p = make_pipeline()
    p.run([{"id": 1}], table_name="t")
    with pytest.raises(sluice.SluiceError):
        p.dataset().query("DELETE FROM t").arrow()
    assert p.dataset().query("SELECT count(*) FROM t").fetchall() == [(1,)]


def test_a_pipeline_that_never_ran_has_no_dataset(make_pipeline):
    with pytest.raises(sluice.SluiceError):
        make_pipeline("never").dataset()
