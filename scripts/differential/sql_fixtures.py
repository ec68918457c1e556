"""`just conformance-fixtures`: dlt's `sql_database` output (pyarrow backend, reflection level
`full`, its defaults) for the tables of every type in `tests/conformance/sql/postgres_types.sql`
and `mariadb_types.sql`, written beside them as `*.expected.json`: each table's columns in dlt's
schema, its DuckDB column types and its rows (each value as DuckDB renders it as text, time zone
UTC), its column types when dlt loads it into PostgreSQL, and what dlt does with the tables it
cannot load (`intervals`, `unsigned_ints`). Starts a
throwaway PostgreSQL server (initdb, as the `postgres` user when run as root) and a MariaDB
server (mariadb-install-db, as `mysql`) on free loopback ports. Runs dlt from PyPI in the bench
virtualenv, so CI holds dlt's answers without installing dlt.
"""
import glob
import json
import re
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CASES = ROOT / "tests" / "conformance" / "sql"
sys.path.insert(0, str(ROOT / "bench"))

import bench  # noqa: E402  (venv)
from arrow_fixtures import shown  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """initdb + pg_ctl in a temporary directory, trust auth, loopback only."""

    def __init__(self):
        self.bin = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="sluice-sqlfix-"))
        self.root = os.getuid() == 0
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.port = free_port()
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
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def setup(self, sql):
        import psycopg2

        with psycopg2.connect(self.url().replace("+psycopg2", "")) as con, con.cursor() as cur:
            cur.execute(sql)

    def stop(self):
        self.run("pg_ctl", "-D", self.data, "-m", "fast", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


class MariaDb:
    """mariadb-install-db + mariadbd in a temporary directory, root without a password over
    loopback TCP, time zone UTC."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="sluice-myfix-"))
        user = ["--user=mysql"] if os.getuid() == 0 else []
        if user:
            shutil.chown(self.dir, "mysql", "mysql")
        self.port = free_port()
        data = self.dir / "data"
        subprocess.run(["mariadb-install-db", "--no-defaults", *user, f"--datadir={data}",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True, env={**os.environ, "TMPDIR": str(self.dir)})
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", *user, f"--datadir={data}",
             f"--socket={self.dir / 'sock'}", f"--port={self.port}", "--bind-address=127.0.0.1",
             "--default-time-zone=+00:00", "--skip-log-bin",
             f"--tmpdir={self.dir}", f"--log-error={self.dir / 'err.log'}", f"--pid-file={self.dir / 'pid'}"],
            stderr=subprocess.DEVNULL)
        import pymysql

        for _ in range(300):
            try:
                pymysql.connect(host="127.0.0.1", port=self.port, user="root").close()
                return
            except pymysql.err.OperationalError:
                import time

                time.sleep(0.1)
        raise RuntimeError("mariadbd did not start: " + (self.dir / "err.log").read_text())

    def url(self):
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/src"

    def setup(self, sql):
        import pymysql

        con = pymysql.connect(host="127.0.0.1", port=self.port, user="root",
                              client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)
        with con.cursor() as cur:
            cur.execute("CREATE DATABASE src")
            cur.execute("USE src")
            cur.execute(sql)
        con.commit()
        con.close()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(60)
        shutil.rmtree(self.dir, ignore_errors=True)


def error_text(e):
    """dlt's failure and its root cause, first line."""
    root = e
    while root.__cause__ is not None:
        root = root.__cause__
    first = (str(root).splitlines() or [""])[0]
    # job and load ids change with every run: the fixture keeps only the words
    first = re.sub(r"(job_id|load_id)=`?[^`\s]+`?", r"\1=…", first)
    return f"{type(e).__name__}, caused by {type(root).__name__}: " + first[:300]


def load(server, work, table):
    import dlt
    from dlt.sources.sql_database import sql_database

    db = work / f"{table}.duckdb"
    p = dlt.pipeline(pipeline_name=f"sql_{table}", destination=dlt.destinations.duckdb(str(db)),
                     dataset_name="ds", pipelines_dir=str(work / "pipelines"))
    source = sql_database(server.url(), table_names=[table], backend="pyarrow")
    try:
        p.run(source)
    except Exception as e:  # dlt's failure is part of what is recorded (its root cause)
        return {"error": error_text(e)}
    columns = {
        name: {k: v for k, v in col.items()
               if k in ("data_type", "precision", "scale", "nullable", "timezone", "primary_key")}
        for name, col in p.default_schema.get_table_columns(table).items()
    }
    return {"columns": columns, **shown(db, table)}


def into_postgres(server, work, dest):
    """dlt's `every_type` loaded into PostgreSQL server `dest`: its columns' types there."""
    import dlt
    import psycopg2
    from dlt.sources.sql_database import sql_database

    url = dest.url().replace("+psycopg2", "")
    # dlt insists on a password; the server trusts loopback and ignores it
    creds = url.replace("postgres@", "postgres:unused@")
    p = dlt.pipeline(pipeline_name="sql_every_type_pg", destination=dlt.destinations.postgres(credentials=creds),
                     dataset_name="ds", pipelines_dir=str(work / "pg-pipelines"))
    out = {}
    try:
        p.run(sql_database(server.url(), table_names=["every_type"], backend="pyarrow"))
    except Exception as e:  # its default (CSV for Arrow) fails on binary columns: recorded
        out["error"] = error_text(e)
        p.drop_pending_packages()
        p.run(sql_database(server.url(), table_names=["every_type"], backend="pyarrow"),
              loader_file_format="insert_values")
        out["loader_file_format"] = "insert_values"
    with psycopg2.connect(url) as con, con.cursor() as cur:
        cur.execute("SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = 'ds' AND table_name = 'every_type' ORDER BY ordinal_position")
        out["ddl"] = [list(r) for r in cur.fetchall()]
        cur.execute("DROP SCHEMA ds CASCADE")
    return out


def fixture(server_class, name, apart, dest):
    """Load `name`.sql into a fresh server; dlt's output for `every_type` and `apart` into
    DuckDB, and the types of `every_type` loaded into PostgreSQL server `dest`."""
    import dlt

    server = server_class()
    try:
        server.setup((CASES / f"{name}.sql").read_text())
        work = Path(tempfile.mkdtemp(prefix="sluice-sql-fixtures-"))
        out = {"dlt": dlt.__version__, "backend": "pyarrow",
               "every_type": load(server, work, "every_type"),
               apart: load(server, work, apart),
               "every_type_into_postgres": into_postgres(server, work, dest)}
    finally:
        server.stop()
    (CASES / f"{name}.expected.json").write_text(
        json.dumps(out, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"fixtures: sql {name} every_type: {len(out['every_type'].get('ddl', []))} columns; "
          f"{apart}: {'error' if 'error' in out[apart] else 'loaded'} (dlt {dlt.__version__})",
          file=sys.stderr)


def main():
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    # dlt writes a MariaDB SET as a JSON list of a Python set: fix the hash seed for its order
    if (Path(sys.prefix).resolve() != Path(bench.VENV).resolve()
            or os.environ.get("PYTHONHASHSEED") != "0"):
        bench.ensure_venv()
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(str(bench.PY), [str(bench.PY), __file__, *sys.argv[1:]])
    dest = Server()
    try:
        fixture(Server, "postgres_types", "intervals", dest)
        fixture(MariaDb, "mariadb_types", "unsigned_ints", dest)
    finally:
        dest.stop()


if __name__ == "__main__":
    main()
