"""The SQL-source section of `just bench` (`python3 bench/bench.py --only-sql`): one PostgreSQL
table of mixed types (bigint key, int, smallint, numeric(12,2), double, text, varchar, bool,
date, timestamptz, jsonb) loaded into DuckDB and into PostgreSQL (a second database of the same
server) by Sluice's `sql_database` connector and by dlt's `sql_database` (backends pyarrow and
connectorx), and read into Arrow by ConnectorX alone (the read ceiling), in one run on one
server; each load's row count is checked. Peak RSS of Sluice at N and 10·N rows
(`--sql-large`) shows whether memory stays flat.
"""
import os
import shutil
import tempfile
from pathlib import Path

TABLE = """
CREATE TABLE orders (id bigint PRIMARY KEY, customer int, qty smallint, total numeric(12,2),
  price double precision, status text, note varchar(64), paid bool, created date,
  updated_at timestamptz, meta jsonb);
INSERT INTO orders SELECT g, g % 10000, g % 100, (g % 100000) / 100.0, g * 0.5,
  (ARRAY['new','paid','shipped'])[g % 3 + 1], 'note ' || g, g % 2 = 0,
  date '2020-01-01' + (g % 1000), timestamptz '2020-01-01' + g * interval '1 second',
  jsonb_build_object('k', g % 7)
  FROM generate_series(1, {n}) g;
-- settled before any tool reads it: hint bits set and autovacuum's pass over the new rows
-- done, so the first tool measured does not pay for them
VACUUM (FREEZE, ANALYZE) orders;
"""

DLT = """
import sys, dlt
from dlt.sources.sql_database import sql_database
url, db, backend, work = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
dest = (dlt.destinations.postgres(credentials=db) if db.startswith("postgresql://")
        else dlt.destinations.duckdb(db))
p = dlt.pipeline(pipeline_name="bench_sql_" + backend, destination=dest,
                 dataset_name="bench", pipelines_dir=work + "/pipelines")
p.run(sql_database(url, table_names=["orders"], backend=backend, chunk_size=50000))
"""

CX = """
import sys, connectorx as cx
t = cx.read_sql(sys.argv[1], "SELECT * FROM orders", return_type="arrow")
print(t.num_rows)
"""


def count(b, db, pg):
    """Rows of bench.orders in DuckDB file `db`, or in PostgreSQL database `dest` of `pg`."""
    if db is None:
        _, out = b.timed([pg.bin / "psql", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
                          "-d", "dest", "-tAc", "SELECT count(*) FROM bench.orders"])
    else:
        _, out = b.timed([b.PY, "-c", "import duckdb,sys; print(duckdb.connect(sys.argv[1], read_only=True)"
                          ".execute('SELECT count(*) FROM bench.orders').fetchone()[0])", db])
    return int(out.strip())


def fresh_dest(b, pg):
    """An empty `bench` dataset in database `dest` (each PostgreSQL load starts from none)."""
    b.timed([pg.bin / "psql", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-d", "dest",
             "-qc", "DROP SCHEMA IF EXISTS bench CASCADE"])


def sluice(b, pg, n, tmp, tag, to_pg=False):
    d = Path(tempfile.mkdtemp(dir=tmp))
    db = None if to_pg else d / "s.duckdb"
    if to_pg:
        fresh_dest(b, pg)
    dest = pg.url("dest") if to_pg else f"duckdb:{db}"
    toml = d / "p.toml"
    toml.write_text(f'name = "bench_sql"\ndataset = "bench"\ndestination = "{dest}"\n'
                    '[connector]\nname = "sql_database"\n[config]\ndatabase = "src"\ntables = ["orders"]\n'
                    f'[grants.databases.src]\nurl = "{pg.url()}"\n')
    # a fresh data directory with the component compiled, as every run after a user's first
    b.seed_cache(d / "data")
    secs, rss, _ = b.run_measured([b.SLUICE, "run", toml, "--json", "-q"],
                                  env=dict(os.environ, SLUICE_DATA_DIR=str(d / "data")))
    rows = count(b, db, pg)
    shutil.rmtree(d, ignore_errors=True)
    if rows != n:
        raise SystemExit(f"bench: sluice loaded {rows} rows of {n} ({tag})")
    return secs, rss


def peer(b, pg, n, tmp, backend, to_pg=False):
    d = Path(tempfile.mkdtemp(dir=tmp))
    db = None if to_pg else str(d / "p.duckdb")
    if to_pg:
        fresh_dest(b, pg)
    url = pg.url().replace("postgres://", "postgresql+psycopg2://" if backend == "pyarrow" else "postgresql://")
    # dlt insists on a password; the server trusts loopback and ignores it
    target = pg.url("dest").replace("postgres://postgres@", "postgresql://postgres:unused@") if to_pg else db
    try:
        secs, rss, _ = b.run_measured([b.PY, "-c", DLT, url, target, backend, str(d)])
    except SystemExit as e:
        return {"error": str(e).splitlines()[-1][:200]}
    rows = count(b, db, pg)
    shutil.rmtree(d, ignore_errors=True)
    if rows != n:
        raise SystemExit(f"bench: dlt ({backend}) loaded {rows} rows of {n}")
    return {"secs": secs, "rss": rss}


def loads(b, pg, n, runs, tmp, to_pg):
    """Sluice and both dlt backends into one destination: medians and peak RSS by tool."""
    where = "postgres" if to_pg else "duckdb"
    out = {}
    s, rss = [], []
    for i in range(runs):
        b.log(f"sql: sluice sql_database -> {where}, run {i + 1}/{runs}")
        secs, r = sluice(b, pg, n, tmp, "small", to_pg)
        s.append(secs)
        rss.append(r)
    out["sluice"] = {"secs": b.median(s), "rss": max(rss)}
    for backend in ("pyarrow", "connectorx"):
        res = []
        for i in range(runs):
            b.log(f"sql: dlt sql_database ({backend}) -> {where}, run {i + 1}/{runs}")
            r = peer(b, pg, n, tmp, backend, to_pg)
            res.append(r)
            if "error" in r:
                break
        ok = [r for r in res if "error" not in r]
        out[f"dlt_{backend}"] = ({"secs": b.median([r["secs"] for r in ok]), "rss": max(r["rss"] for r in ok)}
                                 if ok else res[0])
    return out


def sql_sources(b, n, large, runs, tmp):
    pg = b.Postgres(tmp)
    out = {"n": n, "large": large, "runs": runs}
    try:
        b.log(f"sql: creating a {n}-row table")
        with open(Path(tmp) / "t.sql", "w") as f:
            f.write(TABLE.format(n=n))
        b.timed([pg.bin / "psql", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-q",
                 "-f", Path(tmp) / "t.sql"])
        out.update(loads(b, pg, n, runs, tmp, to_pg=False))
        pg.createdb("dest")
        out["postgres"] = loads(b, pg, n, runs, tmp, to_pg=True)
        cx = []
        for i in range(runs):
            b.log(f"sql: connectorx read_sql -> arrow, run {i + 1}/{runs}")
            secs, _, rows = b.run_measured([b.PY, "-c", CX, pg.url().replace("postgres://", "postgresql://")])
            if int(rows.strip()) != n:
                raise SystemExit(f"bench: connectorx read {rows} rows of {n}")
            cx.append(secs)
        out["connectorx_read"] = b.median(cx)
        floor = []
        for i in range(runs):
            b.log(f"sql: the server's own binary COPY of the table to /dev/null (psql), run {i + 1}/{runs}")
            secs, _ = b.timed([pg.bin / "psql", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-qc",
                               "\\copy (SELECT * FROM orders) TO '/dev/null' (FORMAT binary)"])
            floor.append(secs)
        out["server_copy"] = b.median(floor)
        if large:
            b.log(f"sql: a {large}-row table for peak memory")
            # a file, not -c: psql runs -c's statements in one transaction, and VACUUM runs outside one
            with open(Path(tmp) / "t.sql", "w") as f:
                f.write(f"DROP TABLE orders; {TABLE.format(n=large)}")
            b.timed([pg.bin / "psql", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-q",
                     "-f", Path(tmp) / "t.sql"])
            _, r = sluice(b, pg, large, tmp, "large")
            out["sluice_large_rss"] = r
    finally:
        pg.stop()
    return out


def table_lines(res, n):
    """The table of one destination's loads, and dlt's best time there (None: none finished)."""
    s = res["sluice"]
    lines = ["| tool | seconds | rows/s | peak RSS | Sluice is |", "|---|---|---|---|---|",
             f"| Sluice `sql_database` | {s['secs']:.2f} | {n / s['secs']:,.0f} | {s['rss']:.0f} MiB | — |"]
    best = None
    for key, name in (("dlt_pyarrow", "dlt `sql_database`, pyarrow"), ("dlt_connectorx", "dlt `sql_database`, connectorx")):
        p = res.get(key, {})
        if "error" in p:
            lines.append(f"| {name} | failed: {p['error']} | | | |")
            continue
        lines.append(f"| {name} | {p['secs']:.2f} | {n / p['secs']:,.0f} | {p['rss']:.0f} MiB | "
                     f"{p['secs'] / s['secs']:.1f}× faster |")
        best = p["secs"] if best is None else min(best, p["secs"])
    return lines, best


def report_sql(r, date, machine):
    if not r:
        return []
    n, s = r["n"], r["sluice"]
    lines = ["", "## SQL sources", "",
             f"One PostgreSQL table of {n:,} rows of mixed types (`bench/sql.py`) into DuckDB and into "
             f"PostgreSQL, in one run on one loopback server, median of {r['runs']} runs; measured {date} "
             f"on {machine} (`python3 bench/bench.py --only-sql`). Row counts checked for every load. "
             "The table is vacuumed (frozen) before any tool reads it, so no tool pays for setting "
             "its hint bits or waits on autovacuum. "
             "Each Sluice run starts in a fresh data directory seeded with the compiled `sql_database` "
             "component, as every run after a user's first; dlt runs with its .pyc files compiled.",
             "", "Into DuckDB:", ""]
    duck, best = table_lines(r, n)
    lines += duck
    cx = r["connectorx_read"]
    lines.append(f"| ConnectorX `read_sql` → Arrow (read only, no load) | {cx:.2f} | {n / cx:,.0f} | | "
                 f"the read alone takes {cx / s['secs']:.2f}× Sluice's whole load |")
    if r.get("server_copy"):
        sc = r["server_copy"]
        lines.append(f"| PostgreSQL's own binary `COPY` of the table to `/dev/null` (psql; the server's floor) | "
                     f"{sc:.2f} | {n / sc:,.0f} | | the server alone takes {sc / s['secs']:.2f}× Sluice's whole load |")
    pg_best = None
    if r.get("postgres"):
        lines += ["", "Into PostgreSQL (a second database of the same server):", ""]
        pgl, pg_best = table_lines(r["postgres"], n)
        lines += pgl
    ratio = lambda b, t: f"**{b / t:.1f}×**" if b else "no dlt backend finished"  # noqa: E731
    lines += ["", "Targets: end to end ≥ 3× dlt's best backend — into DuckDB " + ratio(best, s["secs"])
              + (f", into PostgreSQL {ratio(pg_best, r['postgres']['sluice']['secs'])}" if r.get("postgres") else "")
              + f"; reading at ConnectorX's rate — Sluice's whole load into DuckDB takes {s['secs'] / cx:.1f}× "
              "ConnectorX's read alone"]
    if r.get("sluice_large_rss"):
        lines[-1] += (f"; peak RSS flat — {r['large']:,} rows {r['sluice_large_rss']:.0f} MiB vs "
                      f"{n:,} rows {s['rss']:.0f} MiB ({r['sluice_large_rss'] / s['rss']:.2f}×, target ≤ 1.3×)")
    lines[-1] += "."
    return lines

