"""The tables sluice makes from Python data match dlt's for the same data (dlt's output is
checked in: fixtures/dlt_python.json, recorded by scripts/differential/python_fixtures.py):
table names, column names in order, dlt types, row counts."""

import json
import pathlib

import pytest

from cases import CASES

FIXTURE = json.loads((pathlib.Path(__file__).parent / "fixtures" / "dlt_python.json").read_text())

# deliberate differences, each in the README's "From Python"
DIFFERENCES = {
    # dlt makes a variant text column for an empty bytes value; sluice keeps it binary
    ("records", "blob__v_text"),
}


def sluice_tables(pipeline):
    return {
        t["name"]: {
            "columns": [[c["name"], c["data_type"]] for c in t["columns"] if c["data_type"]],
            "rows": t["rows"],
        }
        for t in pipeline.dataset().tables
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_tables_columns_and_types_match_dlt(make_pipeline, case):
    p = make_pipeline("parity_" + case)
    p.run(CASES[case](), table_name=case)
    want = FIXTURE["cases"][case]
    for t in want.values():
        t["columns"] = [c for c in t["columns"] if (case, c[0]) not in DIFFERENCES]
    assert sluice_tables(p) == want
