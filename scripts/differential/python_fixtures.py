"""Record dlt's tables for the Python package's parity cases (python/tests/cases.py): each
case loaded with `dlt.pipeline(...).run(data, table_name=CASE)` into DuckDB, then every data
table's columns in order with their dlt types (from dlt's schema) and row count, into
python/tests/fixtures/dlt_python.json, so the pytest suite compares without dlt. Runs in the
bench venv (dlt from PyPI): `just conformance-fixtures`."""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = Path.home() / ".cache" / "sluice" / "bench-venv" / "bin" / "python"

CHILD = r"""
import json, sys, tempfile
sys.path.insert(0, sys.argv[1])
import dlt, duckdb
from cases import CASES

out = {"dlt_version": dlt.__version__, "cases": {}}
for name, make in CASES.items():
    with tempfile.TemporaryDirectory() as work:
        p = dlt.pipeline(pipeline_name="parity_" + name,
                         destination=dlt.destinations.duckdb(work + "/db.duckdb"),
                         dataset_name="ds", pipelines_dir=work + "/pipelines")
        p.run(make(), table_name=name)
        schema = p.default_schema
        tables = {}
        with duckdb.connect(work + "/db.duckdb", read_only=True) as c:
            for t in schema.data_table_names():
                cols = [[c_["name"], c_.get("data_type")]
                        for c_ in schema.tables[t]["columns"].values() if c_.get("data_type")]
                n = c.execute(f'SELECT count(*) FROM ds."{t}"').fetchone()[0]
                tables[t] = {"columns": cols, "rows": n}
        out["cases"][name] = tables
print(json.dumps(out, indent=1, sort_keys=True))
"""

if __name__ == "__main__":
    if not PY.exists():
        sys.exit(f"{PY} missing: run `just bench` or `just differential` once to make the bench venv")
    tests = ROOT / "python" / "tests"
    out = subprocess.run([PY, "-c", CHILD, str(tests)], check=True, capture_output=True, text=True).stdout
    (tests / "fixtures" / "dlt_python.json").write_text(out)
    print(f"wrote {tests / 'fixtures' / 'dlt_python.json'}")
