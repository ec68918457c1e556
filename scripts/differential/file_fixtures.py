"""`just conformance-fixtures`: dlt's tables for the files of `tests/conformance/csv/` and
`tests/conformance/parquet/`.

CSV: the files of `tests/conformance/csv/`, read
with dlt's `filesystem` source and its `read_csv` reader (pandas, chunks of 10,000 rows) into
DuckDB, written to `tests/conformance/csv/<file>.expected.json`: the table's columns in dlt's
schema, its DuckDB column types and its rows (each value as DuckDB renders it as text, time
zone UTC, ordered by the first column). dlt reads with pandas' defaults (`sep=","`, UTF-8), so
a file that needs another separator or encoding gets the `read_csv` arguments a dlt user would
pass (`PANDAS` below); Sluice sniffs the separator and takes the encoding from the pipeline.
`tests/integration/csv_files.rs` loads each file with Sluice's `files` connector and compares.
Parquet: the Arrow table of `arrow_fixtures.typed()` written with pyarrow (snappy, and the
same table with gzip, brotli, lz4 and zstd column chunks), read with dlt's `read_parquet(
use_pyarrow=True)` — Arrow batches, as Sluice's Arrow pages — into
`tests/conformance/parquet/typed.expected.json`; `tests/integration/csv_files.rs` compares.

Runs dlt from PyPI in the bench virtualenv, so CI holds dlt's answers without installing dlt.
"""
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DIR = ROOT / "tests" / "conformance" / "csv"
sys.path.insert(0, str(ROOT / "bench"))

import bench  # noqa: E402  (venv)
from arrow_fixtures import shown, typed  # noqa: E402

PARQUET = ROOT / "tests" / "conformance" / "parquet"
CODECS = ("snappy", "gzip", "brotli", "lz4", "zstd")

# what a dlt user passes to read_csv for each file (pandas would not sniff them)
PANDAS = {
    "amounts_semicolon.csv": {"sep": ";"},
    "events_bom.tsv": {"sep": "\t"},
    "cities_latin1.csv": {"encoding": "latin-1"},
}


def load(work, name):
    import dlt
    from dlt.sources.filesystem import filesystem, read_csv

    table = name.split(".")[0]
    db = work / f"{table}.duckdb"
    p = dlt.pipeline(pipeline_name=f"csv_{table}", destination=dlt.destinations.duckdb(str(db)),
                     dataset_name="ds", pipelines_dir=str(work / "pipelines"))
    files = filesystem(bucket_url=DIR.as_uri(), file_glob=name) | read_csv(**PANDAS.get(name, {}))
    p.run(files.with_name(table))
    columns = {
        col: {k: v for k, v in spec.items() if k in ("data_type", "nullable")}
        for col, spec in p.default_schema.get_table_columns(table).items()
    }
    with open(DIR / name, newline="", encoding=PANDAS.get(name, {}).get("encoding", "utf-8-sig")) as f:
        first = f.readline().split(PANDAS.get(name, {}).get("sep", ","))[0].strip()
    return {"dlt": dlt.__version__, "read_csv": PANDAS.get(name, {}), "columns": columns,
            **shown(db, table, order=first, data_only=True)}


def parquet(work):
    """Write the typed table in every codec; dlt's table for the snappy one."""
    import dlt
    import pyarrow.parquet as pq
    from dlt.sources.filesystem import filesystem, read_parquet

    PARQUET.mkdir(parents=True, exist_ok=True)
    for codec in CODECS:
        pq.write_table(typed(), PARQUET / f"typed_{codec}.parquet", compression=codec)
    db = work / "typed.duckdb"
    p = dlt.pipeline(pipeline_name="parquet_typed", destination=dlt.destinations.duckdb(str(db)),
                     dataset_name="ds", pipelines_dir=str(work / "pipelines"))
    files = (filesystem(bucket_url=PARQUET.as_uri(), file_glob="typed_snappy.parquet")
             | read_parquet(use_pyarrow=True))
    p.run(files.with_name("typed"))
    columns = {
        name: {k: v for k, v in col.items() if k in ("data_type", "precision", "scale", "nullable")}
        for name, col in p.default_schema.get_table_columns("typed").items()
    }
    out = {"dlt": dlt.__version__, "columns": columns, **shown(db, "typed")}
    (PARQUET / "typed.expected.json").write_text(
        json.dumps(out, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"fixtures: parquet typed: {len(out['ddl'])} columns (dlt {dlt.__version__})", file=sys.stderr)


def main():
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    if Path(sys.prefix).resolve() != Path(bench.VENV).resolve():
        bench.ensure_venv()
        os.execv(str(bench.PY), [str(bench.PY), __file__, *sys.argv[1:]])
    work = Path(tempfile.mkdtemp(prefix="sluice-csv-fixtures-"))
    for path in sorted(DIR.iterdir()):
        if path.suffix not in (".csv", ".tsv"):
            continue
        out = load(work, path.name)
        (DIR / f"{path.name}.expected.json").write_text(
            json.dumps(out, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
        print(f"fixtures: csv {path.name}: {len(out['rows'])} rows, "
              f"{len(out['ddl'])} columns (dlt {out['dlt']})", file=sys.stderr)
    parquet(work)


if __name__ == "__main__":
    main()
