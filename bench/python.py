"""The Python section of `just bench` (`python3 bench/bench.py --only-python`): the same
1M-row DataFrame and the same 200k nested dicts (the `github` events of bench/gen.py) loaded
into DuckDB by `sluice` (the wheel, release build) and by `dlt` (`pipeline.run(df)` /
`pipeline.run(records)`), alternately in one process, median of --runs runs; each load's row
count is checked."""
import glob
import json
import os
import subprocess

CHILD = r"""
import json, statistics, sys, tempfile, time
import dlt, duckdb, numpy as np, pandas as pd
import sluice

rows, records_path, runs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(7)
df = pd.DataFrame({
    "id": np.arange(rows, dtype=np.int64),
    "customer": rng.integers(0, 10_000, rows, dtype=np.int32),
    "price": rng.random(rows) * 100,
    "status": pd.Series(rng.choice(["new", "paid", "shipped"], rows), dtype="string"),
    "note": pd.Series([f"note {i}" for i in range(rows)], dtype="string"),
    "paid": rng.random(rows) < 0.5,
    "created": pd.Timestamp("2020-01-01", tz="UTC") + pd.to_timedelta(np.arange(rows), unit="s"),
})
with open(records_path) as f:
    lines = f.read().splitlines()

def count(db, table):
    with duckdb.connect(db, read_only=True) as c:
        return c.execute(f"SELECT count(*) FROM bench.{table}").fetchone()[0]

def one(tool, kind, work):
    data = df if kind == "frame" else [json.loads(l) for l in lines]
    db = f"{work}/{tool}.duckdb"
    t = time.perf_counter()
    if tool == "sluice":
        p = sluice.pipeline("py_" + kind, destination="duckdb:" + db, dataset_name="bench",
                            pipelines_dir=work + "/sluice")
        p.run(data, table_name="t")
    else:
        p = dlt.pipeline(pipeline_name="py_" + kind, destination=dlt.destinations.duckdb(db),
                         dataset_name="bench", pipelines_dir=work + "/dlt")
        p.run(data, table_name="t")
    secs = time.perf_counter() - t
    want = rows if kind == "frame" else len(lines)
    got = count(db, "t")
    if got != want:
        raise SystemExit(f"{tool} {kind}: {got} rows loaded, {want} expected")
    return secs

def floor(work):
    # DuckDB's own insert of the same DataFrame's Arrow table and commit: no names, no
    # package, no state, no load record
    import pyarrow as pa
    arrow_table = pa.Table.from_pandas(df)
    t = time.perf_counter()
    with duckdb.connect(f"{work}/floor.duckdb") as c:
        c.execute("CREATE SCHEMA bench; BEGIN")
        c.execute("CREATE TABLE bench.t AS SELECT * FROM arrow_table")
        c.execute("COMMIT")
    return time.perf_counter() - t

out = {}
floors = []
for _ in range(runs):
    with tempfile.TemporaryDirectory(prefix="sluice-bench-py-") as work:
        floors.append(floor(work))
out["duckdb_floor"] = statistics.median(floors)
for kind in ("frame", "records"):
    times = {"sluice": [], "dlt": []}
    for _ in range(runs):
        for tool in ("sluice", "dlt"):
            with tempfile.TemporaryDirectory(prefix="sluice-bench-py-") as work:
                times[tool].append(one(tool, kind, work))
    out[kind] = {tool: statistics.median(v) for tool, v in times.items()}
out["versions"] = {"dlt": dlt.__version__, "pandas": pd.__version__, "sluice": sluice.__version__}
print(json.dumps(out))
"""


def wheel(b):
    """The release wheel `just bench` built (`just wheel release`)."""
    found = sorted(glob.glob(str(b.TARGET / "wheels" / "sluice-*.whl")))
    if not found:
        raise SystemExit("bench: no sluice wheel; run `just wheel release` (`just bench` does)")
    return found[-1]


def python_api(b, rows, records, runs, tmp):
    """Time sluice and dlt on the same data in one process (the bench venv, with the wheel)."""
    subprocess.run([b.PY, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", wheel(b)],
                   check=True)
    path = b.dataset("github", records)
    b.log(f"python: {rows:,}-row DataFrame and {records:,} nested dicts, sluice and dlt, {runs} runs")
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    _, out = b.timed([b.PY, "-c", CHILD, str(rows), str(path), str(runs)], env=env, cwd=tmp)
    r = json.loads(out.strip().splitlines()[-1])
    r.update(n_rows=rows, n_records=records, runs=runs)
    return r


def report_python(r, date, machine):
    if not r:
        return []
    f, d = r["frame"], r["records"]
    v = r["versions"]
    lines = ["", "## From Python", "",
             f"`sluice` (the wheel, release build) and dlt {v['dlt']} in the same process, alternately, "
             f"into a fresh DuckDB file each run, median of {r['runs']} runs; measured {date} on {machine} "
             "(`python3 bench/bench.py --only-python`, `bench/python.py`). Row counts checked for every load.",
             "", "| input | sluice s | dlt s | sluice vs dlt | target |", "|---|---|---|---|---|",
             f"| pandas DataFrame, {r['n_rows']:,} rows × 7 columns (`run(df)`) | {f['sluice']:.2f} | "
             f"{f['dlt']:.2f} | **{f['dlt'] / f['sluice']:.1f}×** | ≥ 3× |",
             f"| the same DataFrame's Arrow table inserted by DuckDB itself (`CREATE TABLE … AS SELECT * "
             f"FROM table` + commit: no names, package, state or load record; the floor) | "
             f"{r['duckdb_floor']:.2f} | | | |",
             f"| {r['n_records']:,} nested dicts, GitHub-like events (`run(records)`) | {d['sluice']:.2f} | "
             f"{d['dlt']:.2f} | **{d['dlt'] / d['sluice']:.1f}×** | ≥ 10× |", "",
             "Targets: ≥ 10× dlt on nested dicts — "
             + ("**met**" if d["dlt"] / d["sluice"] >= 10 else "**not met**")
             + f"; ≥ 3× on a DataFrame — " + ("**met**" if f["dlt"] / f["sluice"] >= 3 else "**not met**")
             + f". dlt's DataFrame path (a Parquet file DuckDB copies in) takes {f['dlt'] / r['duckdb_floor']:.1f}× "
             f"DuckDB's own insert of the same Arrow table; 3× dlt is {f['dlt'] / 3 / r['duckdb_floor']:.2f}× that "
             f"floor, and Sluice's whole run takes {f['sluice'] / r['duckdb_floor']:.1f}× it.", ""]
    return lines
