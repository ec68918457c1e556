"""Inputs loaded by both dlt (`scripts/differential/python_fixtures.py` records its tables in
`fixtures/dlt_python.json`) and sluice (`test_dlt_parity.py` compares): Python records with
values JSON cannot carry, nested dicts and lists, and a pandas DataFrame."""

import datetime
import decimal


def records():
    return [
        {
            "id": 1,
            "user": {"name": "ann", "joined": datetime.date(2023, 4, 5)},
            "at": datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc),
            "amount": decimal.Decimal("12.50"),
            "tags": ["a", "b"],
            "items": [{"sku": "x", "qty": 2}],
            "blob": b"\x00\xff",
            "ratio": 0.25,
            "ok": True,
            "missing": None,
        },
        {
            "id": 2,
            "user": {"name": "bob", "joined": datetime.date(2022, 1, 2)},
            "at": datetime.datetime(2024, 5, 2, 8, 0, tzinfo=datetime.timezone.utc),
            "amount": decimal.Decimal("3"),
            "tags": [],
            "items": [],
            "blob": b"",
            "ratio": 1.5,
            "ok": False,
            "missing": None,
            "late": "only here",
        },
    ]


def frame():
    import pandas as pd

    return pd.DataFrame(
        {
            "id": [1, 2, 3],
            "name": ["a", None, "c"],
            "at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True),
            "score": [1.5, 2.5, None],
            "flag": [True, False, True],
            "small": pd.array([1, 2, 3], dtype="int16"),
        }
    )


CASES = {"records": records, "frame": frame}
