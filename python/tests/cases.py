"""Inputs loaded by both dlt (`scripts/differential/python_fixtures.py` records its tables in
`fixtures/dlt_python.json`) and sluice (`test_dlt_parity.py` compares): Python records with
values JSON cannot carry, nested dicts and lists (and such values inside nested tables), and a
pandas DataFrame."""

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


def nested_typed():
    """Values JSON cannot carry inside nested tables, at two levels, and in a list of values."""
    utc = datetime.timezone.utc
    return [
        {
            "id": 1,
            "items": [
                {
                    "sku": "x",
                    "on": datetime.date(2024, 5, 1),
                    "price": decimal.Decimal("2.50"),
                    "at": datetime.datetime(2024, 5, 1, 9, 0, tzinfo=utc),
                    "parts": [{"no": 1, "fitted": datetime.time(10, 30)}],
                    "meta": {"seen": datetime.date(2024, 4, 30), "by": "ann"},
                },
                {"sku": "y", "on": datetime.date(2024, 5, 2), "price": decimal.Decimal("1"),
                 "at": None, "parts": []},
            ],
            "days": [datetime.date(2024, 6, 1), datetime.date(2024, 6, 2)],
            "blobs": [b"\x01"],
        },
        {"id": 2, "items": [], "days": [], "blobs": []},
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


CASES = {"records": records, "frame": frame, "nested_typed": nested_typed}
