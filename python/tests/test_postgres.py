"""Records and a DataFrame into a real PostgreSQL server (started on loopback), merged, and
read back through `p.dataset()`."""

import pandas as pd
import pytest

from pg_server import PgServer


@pytest.fixture(scope="module")
def pg():
    server = PgServer()
    yield server
    server.stop()


def test_records_and_frames_load_merge_and_read_back_on_postgres(make_pipeline, pg):
    p = make_pipeline("pg_py", destination=pg.url, dataset_name="py_data")
    p.run(
        [{"id": 1, "v": "a", "l": [1, 2]}, {"id": 2, "v": "b", "l": []}],
        table_name="t",
        write_disposition="merge",
        primary_key="id",
    )
    p.run([{"id": 2, "v": "B", "l": [3]}], table_name="t", write_disposition="merge",
          primary_key="id")
    p.run(pd.DataFrame({"k": [1, 2, 3], "x": [0.5, 1.5, None]}), table_name="frame")
    ds = p.dataset()
    assert ds.query("SELECT id, v FROM t ORDER BY id").fetchall() == [(1, "a"), (2, "B")]
    assert ds.query("SELECT count(*) FROM t__l").fetchall() == [(3,)]
    assert ds["frame"].arrow().num_rows == 3
    assert {t["name"]: t["rows"] for t in ds.tables} == {"t": 2, "t__l": 3, "frame": 3}
    assert "postgres" in repr(ds) and "py_data" in repr(ds)
