"""The peers, run inside the bench virtualenv: dlt (parquet loader files, and its default)
and DuckDB's own read_json, each loading one NDJSON file into a DuckDB file.

usage: peers.py dlt-parquet|dlt-default|read_json FILE TABLE DB
       peers.py tables DB DATASET          (table → row count, as JSON)
"""
import json
import sys


def rows(path):
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def main():
    mode = sys.argv[1]
    if mode == "tables":
        import duckdb

        con = duckdb.connect(sys.argv[2], read_only=True)
        names = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = ? order by 1",
            [sys.argv[3]]).fetchall()]
        out = {n: con.execute(f'select count(*) from "{sys.argv[3]}"."{n}"').fetchone()[0] for n in names}
        print(json.dumps(out))
        return
    path, table, db = sys.argv[2], sys.argv[3], sys.argv[4]
    if mode == "read_json":
        import duckdb

        con = duckdb.connect(db)
        con.execute("create schema if not exists bench")
        con.execute(f"create table bench.{table} as select * from read_json(?, format='newline_delimited')", [path])
        con.close()
        return
    import dlt

    p = dlt.pipeline(pipeline_name=f"bench_{table}", destination=dlt.destinations.duckdb(db),
                     dataset_name="bench", pipelines_dir=db + ".pipelines")
    kwargs = {"loader_file_format": "parquet"} if mode == "dlt-parquet" else {}
    p.run(rows(path), table_name=table, **kwargs)


if __name__ == "__main__":
    main()
