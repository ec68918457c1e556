"""`just conformance-fixtures`: dlt's `sql_database` output (pyarrow backend, reflection level
`full`, its defaults) for the PostgreSQL table of every type in
`tests/conformance/sql/postgres_types.sql`, written to
`tests/conformance/sql/postgres_types.expected.json`: the table's columns in dlt's schema, its
DuckDB column types and its rows (each value as DuckDB renders it as text, time zone UTC), and
what dlt does with the `intervals` table. Starts a throwaway PostgreSQL server (initdb, as the
`postgres` user when run as root) on a free loopback port. Runs dlt from PyPI in the bench
virtualenv, so CI holds dlt's answers without installing dlt.
"""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SQL = ROOT / "tests" / "conformance" / "sql" / "postgres_types.sql"
OUT = ROOT / "tests" / "conformance" / "sql" / "postgres_types.expected.json"
sys.path.insert(0, str(ROOT / "bench"))

import bench  # noqa: E402  (venv)
from arrow_fixtures import shown  # noqa: E402


class Server:
    """initdb + pg_ctl in a temporary directory, trust auth, loopback only."""

    def __init__(self):
        self.bin = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="sluice-sqlfix-"))
        self.root = os.getuid() == 0
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        data = self.dir / "data"
        self.run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run("pg_ctl", "-D", data, "-l", self.dir / "log", "-o", opts, "-w", "start")
        self.data = data

    def run(self, tool, *args):
        cmd = [str(self.bin / tool), *map(str, args)]
        if self.root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True)

    def url(self):
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self):
        self.run("pg_ctl", "-D", self.data, "-m", "fast", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def load(server, work, table):
    import dlt
    from dlt.sources.sql_database import sql_database

    db = work / f"{table}.duckdb"
    p = dlt.pipeline(pipeline_name=f"sql_{table}", destination=dlt.destinations.duckdb(str(db)),
                     dataset_name="ds", pipelines_dir=str(work / "pipelines"))
    source = sql_database(server.url().replace("postgresql://", "postgresql+psycopg2://"), table_names=[table], backend="pyarrow")
    try:
        p.run(source)
    except Exception as e:  # dlt's failure is part of what is recorded (its root cause)
        root = e
        while root.__cause__ is not None:
            root = root.__cause__
        return {"error": f"{type(e).__name__}, caused by {type(root).__name__}: "
                         + (str(root).splitlines() or [""])[0][:300]}
    columns = {
        name: {k: v for k, v in col.items()
               if k in ("data_type", "precision", "scale", "nullable", "timezone", "primary_key")}
        for name, col in p.default_schema.get_table_columns(table).items()
    }
    return {"columns": columns, **shown(db, table)}


def main():
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    if Path(sys.prefix).resolve() != Path(bench.VENV).resolve():
        bench.ensure_venv()
        os.execv(str(bench.PY), [str(bench.PY), __file__, *sys.argv[1:]])
    import dlt
    import psycopg2

    server = Server()
    try:
        with psycopg2.connect(server.url()) as con, con.cursor() as cur:
            cur.execute(SQL.read_text())
        work = Path(tempfile.mkdtemp(prefix="sluice-sql-fixtures-"))
        out = {"dlt": dlt.__version__, "backend": "pyarrow",
               "every_type": load(server, work, "every_type"),
               "intervals": load(server, work, "intervals")}
    finally:
        server.stop()
    OUT.write_text(json.dumps(out, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"fixtures: sql every_type: {len(out['every_type'].get('ddl', []))} columns; "
          f"intervals: {'error' if 'error' in out['intervals'] else 'loaded'} (dlt {dlt.__version__})",
          file=sys.stderr)


if __name__ == "__main__":
    main()
