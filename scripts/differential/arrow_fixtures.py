"""`just conformance-fixtures`: dlt's output for an Arrow table of every type it maps, written
to `tests/conformance/arrow/typed.expected.json`: the table's columns in dlt's schema, its
DuckDB column types and its rows (each value as DuckDB renders it as text, time zone UTC), for
append and for merge. The table is the one `connectors/testing/arrow-probe` sends as an Arrow
page; `tests/integration/arrow_pages.rs` loads that page with Sluice and compares. Runs dlt
from PyPI in the bench virtualenv, so CI holds dlt's answers without installing dlt.
"""
import datetime
import decimal
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = ROOT / "tests" / "conformance" / "arrow" / "typed.expected.json"
sys.path.insert(0, str(ROOT / "bench"))

import bench  # noqa: E402  (venv)


def typed():
    """The arrow-probe connector's `typed` page, column for column."""
    import pyarrow as pa

    return pa.table({
        "Id": pa.array([1, 2, 3], pa.int64()),
        "small": pa.array([1, 2, 3], pa.int16()),
        "i32": pa.array([1, None, 3], pa.int32()),
        "u64": pa.array([1, 2, 3], pa.uint64()),
        "f32": pa.array([1.5, 2.5, None], pa.float32()),
        "Amount USD": pa.array([decimal.Decimal("1.23"), None, decimal.Decimal("-9.99")],
                               pa.decimal128(10, 2)),
        "ts_s": pa.array([1, 2, 3], pa.timestamp("s")),
        "ts_ms_tz": pa.array([1000, 2000, 3000], pa.timestamp("ms", tz="UTC")),
        "ts_ns_tz": pa.array([1000, 2000, 3000000], pa.timestamp("ns", tz="Europe/Berlin")),
        "d": pa.array([datetime.date(2024, 1, 1)] * 3, pa.date32()),
        "t": pa.array([datetime.time(1, 2, 3)] * 3, pa.time64("us")),
        "t_ms": pa.array([datetime.time(1, 2, 3)] * 3, pa.time32("ms")),
        "b": pa.array([b"x", b"y", None], pa.binary()),
        "fb": pa.array([b"ab", b"cd", b"ef"], pa.binary(2)),
        "s": pa.array(["a", None, "c"], pa.string()),
        "ls": pa.array(["a", "b", "c"], pa.large_string()),
        "flag": pa.array([True, False, None]),
        "st": pa.array([{"x": 1, "y": "a"}, None, {"x": 3, "y": "c"}]),
        "lst": pa.array([[1, 2], [], None], pa.list_(pa.int64())),
        "dict": pa.array(["u", "v", "u"]).dictionary_encode(),
        "nul": pa.array([None, None, None], pa.null()),
    })


def load(work, disposition):
    import dlt

    db = work / f"{disposition}.duckdb"
    p = dlt.pipeline(pipeline_name=f"arrow_{disposition}",
                     destination=dlt.destinations.duckdb(str(db)),
                     dataset_name="ds", pipelines_dir=str(work / "pipelines"))
    kw = {"write_disposition": "merge", "primary_key": "Id"} if disposition == "merge" else {}
    p.run(typed(), table_name="typed", **kw)
    columns = {
        name: {k: v for k, v in col.items() if k in ("data_type", "precision", "scale", "nullable")}
        for name, col in p.default_schema.get_table_columns("typed").items()
    }
    return {"columns": columns, **shown(db, "typed")}


def shown(db, table, order="id", data_only=False):
    """`ds.<table>` of DuckDB file `db`: its column names and types, and its rows ordered by
    `order`, each value as DuckDB renders it as text (time zone UTC); `data_only` leaves the
    `_dlt_` columns out of the rows."""
    import duckdb

    con = duckdb.connect(str(db))
    con.execute("SET TimeZone = 'UTC'")
    ddl = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        f"WHERE table_schema = 'ds' AND table_name = '{table}' ORDER BY ordinal_position").fetchall()
    cols = [c for c, _ in ddl if not (data_only and c.startswith("_dlt_"))]
    select = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in cols)
    rows = con.execute(f'SELECT {select} FROM ds.{table} ORDER BY "{order}"').fetchall()
    return {"ddl": [list(r) for r in ddl], "rows": [list(r) for r in rows]}


def main():
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    if Path(sys.prefix).resolve() != Path(bench.VENV).resolve():
        bench.ensure_venv()
        os.execv(str(bench.PY), [str(bench.PY), __file__, *sys.argv[1:]])
    import dlt

    work = Path(tempfile.mkdtemp(prefix="sluice-arrow-fixtures-"))
    out = {"dlt": dlt.__version__, "append": load(work, "append"), "merge": load(work, "merge")}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"fixtures: arrow typed: {len(out['append']['ddl'])} columns (dlt {dlt.__version__})",
          file=sys.stderr)


if __name__ == "__main__":
    main()
