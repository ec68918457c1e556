"""The file-format section of `just bench` (`python3 bench/bench.py --only-files`): one CSV file
of mixed types (integers, text with quotes and commas, floats, an integer column with empty
fields, timestamps, booleans) and the same rows as Parquet (snappy), both written by DuckDB,
loaded into DuckDB by Sluice's `files` connector (`sluice load FILE --table t`), by DuckDB's own
`read_csv` / `read_parquet` (the ceiling: no dlt typing, no `_dlt_id`) and by dlt's
`filesystem` source with `read_csv` / `read_parquet(use_pyarrow=True)`, in one run; each load's
row count is checked. `--files-large-mb` (1000 for the 1 GB run) loads a larger file once, as CSV
and as Parquet, by Sluice beside DuckDB's readers — dlt's `read_csv` needs about 3 s per MB here,
so it is timed at `--files-mb` only — and its peak RSS against the default size's shows whether
memory stays flat in the file's size.
"""
import shutil
import tempfile
from pathlib import Path

ROW_BYTES = 72  # about, in the CSV below (37.5 MB for 520,833 rows)

GENERATE = """
import sys, duckdb
n, csv, parquet = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = duckdb.connect()
c.execute(f'''CREATE TABLE t AS SELECT i AS id, 'customer ' || (i % 5000) AS name,
  round((i % 100000) / 7.0, 3) AS amount, CASE WHEN i % 97 = 0 THEN NULL ELSE i % 1000 END AS qty,
  TIMESTAMP '2024-01-01' + to_seconds(i) AS created, i % 2 = 0 AS flag,
  CASE WHEN i % 10 = 0 THEN 'said "hi", then left' ELSE 'note ' || i END AS note
  FROM range({n}) r(i)''')
if csv != "-":
    c.execute(f"COPY t TO '{csv}' (HEADER)")
if parquet != "-":
    c.execute(f"COPY t TO '{parquet}' (FORMAT parquet, COMPRESSION snappy)")
"""

DUCKDB = """
import sys, duckdb
path, db, fmt = sys.argv[1], sys.argv[2], sys.argv[3]
duckdb.connect(db).execute(f"CREATE TABLE t AS SELECT * FROM read_{fmt}('{path}')")
"""

DLT = """
import sys, dlt
from pathlib import Path
from dlt.sources.filesystem import filesystem, read_csv, read_parquet
path, db, fmt, work = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
reader = read_csv() if fmt == "csv" else read_parquet(use_pyarrow=True)
p = dlt.pipeline(pipeline_name="bench_files_" + fmt, destination=dlt.destinations.duckdb(db),
                 dataset_name="bench", pipelines_dir=work + "/pipelines")
p.run((filesystem(bucket_url=path.parent.as_uri(), file_glob=path.name) | reader).with_name("t"))
"""


def count(b, db, table):
    _, out = b.timed([b.PY, "-c", "import duckdb,sys; print(duckdb.connect(sys.argv[1], read_only=True)"
                      f".execute('SELECT count(*) FROM {table}').fetchone()[0])", db])
    return int(out.strip())


def generate(b, mb, tmp, csv=True, parquet=True):
    n = max(1000, mb * 1_000_000 // ROW_BYTES)
    d = Path(tmp)
    paths = (d / f"data-{mb}.csv" if csv else None, d / f"data-{mb}.parquet" if parquet else None)
    b.log(f"files: writing {n:,} rows as CSV and Parquet")
    b.timed([b.PY, "-c", GENERATE, str(n), str(paths[0] or "-"), str(paths[1] or "-")])
    return n, paths


def one(b, tool, path, fmt, n, tmp):
    """One load of `path` by `tool` into a fresh DuckDB file: (seconds, peak RSS MiB)."""
    d = Path(tempfile.mkdtemp(dir=tmp))
    db = str(d / "out.duckdb")
    if tool == "sluice":
        secs, rss, _ = b.sluice_load(path, "t", f"duckdb:{db}", workdir=d)
        table = "bench.t"
    elif tool == "duckdb":
        secs, rss, _ = b.run_measured([b.PY, "-c", DUCKDB, str(path), db, fmt])
        table = "t"
    else:
        secs, rss, _ = b.run_measured([b.PY, "-c", DLT, str(path), db, fmt, str(d)])
        table = "bench.t"
    rows = count(b, db, table)
    shutil.rmtree(d, ignore_errors=True)
    if rows != n:
        raise SystemExit(f"bench: {tool} loaded {rows} rows of {n} from {path.name}")
    return secs, rss


def file_formats(b, mb, large_mb, runs, tmp):
    n, (csv, parquet) = generate(b, mb, tmp)
    out = {"mb": mb, "rows": n, "runs": runs, "sizes": {"csv": csv.stat().st_size,
                                                       "parquet": parquet.stat().st_size}}
    for fmt, path in (("csv", csv), ("parquet", parquet)):
        out[fmt] = {}
        for tool in ("sluice", "duckdb", "dlt"):
            res = []
            for i in range(runs):
                b.log(f"files: {tool} {fmt} -> duckdb, run {i + 1}/{runs}")
                res.append(one(b, tool, path, fmt, n, tmp))
            out[fmt][tool] = {"secs": b.median([s for s, _ in res]), "rss": max(r for _, r in res)}
    if large_mb:
        big_n, (big_csv, big_parquet) = generate(b, large_mb, tmp)
        out["large"] = {"mb": large_mb, "rows": big_n,
                        "sizes": {"csv": big_csv.stat().st_size, "parquet": big_parquet.stat().st_size}}
        for fmt, path in (("csv", big_csv), ("parquet", big_parquet)):
            out["large"][fmt] = {}
            for tool in ("sluice", "duckdb"):
                b.log(f"files: {tool} {fmt} {large_mb} MB -> duckdb")
                secs, rss = one(b, tool, path, fmt, big_n, tmp)
                out["large"][fmt][tool] = {"secs": secs, "rss": rss}
            path.unlink()
    return out


def report_files(r, date, machine):
    if not r:
        return []
    lines = ["", "## Files: CSV and Parquet", "",
             f"One file of {r['rows']:,} rows of mixed types (`bench/files.py`) as CSV "
             f"({r['sizes']['csv'] / 1e6:.0f} MB) and as Parquet ({r['sizes']['parquet'] / 1e6:.0f} MB, "
             f"snappy) into DuckDB, median of {r['runs']} runs; measured {date} on {machine} "
             "(`python3 bench/bench.py --only-files`). Row counts checked for every load. DuckDB's own "
             "readers are the ceiling: one table, DuckDB's types, no `_dlt_id`s, no state.", ""]
    for fmt, name in (("csv", "CSV"), ("parquet", "Parquet")):
        size = r["sizes"][fmt] / 1e6
        s = r[fmt]["sluice"]
        lines += [f"{name}:", "", "| tool | seconds | MB/s | peak RSS | Sluice is |", "|---|---|---|---|---|"]
        for tool, label in (("sluice", "Sluice `files`"), ("duckdb", f"DuckDB `read_{fmt}`"),
                            ("dlt", "dlt `filesystem` + " + ("`read_csv`" if fmt == "csv" else
                                                              "`read_parquet(use_pyarrow=True)`"))):
            t = r[fmt][tool]
            x = t["secs"] / s["secs"]
            ratio = "—" if tool == "sluice" else (f"{x:.1f}× faster" if x >= 1 else f"{1 / x:.1f}× slower")
            lines.append(f"| {label} | {t['secs']:.2f} | {size / t['secs']:.1f} | {t['rss']:.0f} MiB | {ratio} |")
        lines.append("")
    csv = r["csv"]
    targets = (f"Targets: CSV at DuckDB's own MB/s while typing like dlt — Sluice reads at "
               f"{csv['duckdb']['secs'] / csv['sluice']['secs']:.2f}× DuckDB's rate; ≥ 20× dlt — CSV "
               f"**{csv['dlt']['secs'] / csv['sluice']['secs']:.1f}×**, Parquet "
               f"**{r['parquet']['dlt']['secs'] / r['parquet']['sluice']['secs']:.1f}×**")
    big = r.get("large")
    if big and "csv" in big:
        rss = big["csv"]["sluice"]["rss"]
        targets += (f"; peak RSS flat in file size — {big['sizes']['csv'] / 1e6:.0f} MB of CSV {rss:.0f} MiB "
                    f"vs {r['sizes']['csv'] / 1e6:.0f} MB {csv['sluice']['rss']:.0f} MiB "
                    f"({rss / csv['sluice']['rss']:.2f}×)")
    lines.append(targets + ".")
    if big and "csv" in big:
        lines += ["", f"The large file, {big['rows']:,} rows, one run each (dlt left out: hours at this size):",
                  "", "| format | size | Sluice | DuckDB's reader | Sluice MB/s | DuckDB MB/s | Sluice vs DuckDB | "
                  "Sluice peak RSS |", "|---|---|---|---|---|---|---|---|"]
        for fmt, name in (("csv", "CSV"), ("parquet", "Parquet")):
            size = big["sizes"][fmt] / 1e6
            s, d = big[fmt]["sluice"], big[fmt]["duckdb"]
            lines.append(f"| {name} | {size:.0f} MB | {s['secs']:.1f} s | {d['secs']:.1f} s | "
                         f"{size / s['secs']:.1f} | {size / d['secs']:.1f} | {d['secs'] / s['secs']:.2f}× | "
                         f"{s['rss']:.0f} MiB |")
    return lines

