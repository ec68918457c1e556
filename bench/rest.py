"""The REST section of `just bench` (`python3 bench/bench.py --only-rest`): a GitHub-like API on
loopback that answers every request after a fixed latency (50 ms by default) — issues in pages
of 100 by `Link` header, each issue's comments at `/issues/N/comments` — loaded into DuckDB by
Sluice's bundled `rest_api` connector (the shape of `pipelines/github/github.toml`: issues
incremental on `updated_at`, comments of each issue as a dependent resource) and by dlt's
`rest_api` source with the same configuration, sequential and with `parallelized: True` on
the comments, in one run. Every load's tables are checked: same issues, same comments.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SERVER = r"""
import json, sys, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse, parse_qs
port, issues, latency = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000
PER = 100

def issue(n):
    return {"id": 1000 + n, "number": n, "title": f"issue {n}", "state": "open",
            "updated_at": f"2024-03-{1 + n % 28:02d}T{n % 24:02d}:00:{n % 60:02d}Z",
            "user": {"login": f"user{n % 37}", "id": n % 37}, "labels": [{"name": "bug"}] if n % 3 else [],
            "body": "text " * (n % 20), "comments": n % 4}

def comments(n):
    return [{"id": n * 10 + k, "body": f"comment {k} on {n}", "user": {"login": f"user{k}"},
             "created_at": "2024-03-01T00:00:00Z", "reactions": {"+1": k, "total_count": k}}
            for k in range(n % 4)]

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body leave in one write, with no Nagle delay: without these, a client's
    # delayed ACK stalls each kept-alive response by ~40 ms and measures the stack, not the API
    disable_nagle_algorithm = True
    wbufsize = -1
    def log_message(self, *a):
        pass
    def do_GET(self):
        time.sleep(latency)
        u = urlparse(self.path)
        q = parse_qs(u.query)
        parts = u.path.strip("/").split("/")
        headers = {}
        if parts[-1] == "issues":
            page = int(q.get("page", ["1"])[0])
            body = [issue(n) for n in range((page - 1) * PER + 1, min(page * PER, issues) + 1)]
            if page * PER < issues:
                nxt = f"http://127.0.0.1:{port}{u.path}?per_page={PER}&page={page + 1}"
                headers["Link"] = f'<{nxt}>; rel="next"'
        elif parts[-1] == "comments":
            body = comments(int(parts[-2]))
        else:
            body = {"message": "not found"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.request_queue_size = 128
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"""

PIPELINE = """name = "bench_rest"
dataset = "bench"
[connector]
name = "rest_api"
[grants]
allow_hosts = ["{base}"]
[config]
name = "github"
[config.client]
base_url = "{base}/repos/o/r/"
paginator = "header_link"
[config.resource_defaults]
primary_key = "id"
write_disposition = "merge"
endpoint = {{ params = {{ per_page = 100 }} }}
[[config.resources]]
name = "issues"
endpoint = {{ path = "issues", params = {{ state = "all", sort = "updated", direction = "asc", since = "{{incremental.start_value}}" }}, incremental = {{ cursor_path = "updated_at", initial_value = "2024-01-01T00:00:00Z" }} }}
[[config.resources]]
name = "issue_comments"
endpoint = "issues/{{resources.issues.number}}/comments"
include_from_parent = ["number"]
"""

DLT = r"""
import sys, dlt
from dlt.sources.rest_api import rest_api_source
base, db, work, parallel = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
source = rest_api_source({
    "client": {"base_url": base + "/repos/o/r/", "paginator": "header_link"},
    "resource_defaults": {"primary_key": "id", "write_disposition": "merge",
                          "endpoint": {"params": {"per_page": 100}}},
    "resources": [
        {"name": "issues", "endpoint": {"path": "issues", "params": {
            "state": "all", "sort": "updated", "direction": "asc", "since": "{incremental.start_value}"},
            "incremental": {"cursor_path": "updated_at", "initial_value": "2024-01-01T00:00:00Z"}}},
        {"name": "issue_comments", "parallelized": parallel,
         "endpoint": "issues/{resources.issues.number}/comments", "include_from_parent": ["number"]},
    ],
})
p = dlt.pipeline(pipeline_name="bench_rest", destination=dlt.destinations.duckdb(db),
                 dataset_name="bench", pipelines_dir=work + "/pipelines")
p.run(source)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(b, issues, latency_ms):
    port = free_port()
    proc = subprocess.Popen([b.PY, "-c", SERVER, str(port), str(issues), str(latency_ms)])
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("bench: the REST bench server did not start")


def tables(b, db):
    """(issues, comments) in the dataset, as sorted id lists (the same data, checked)."""
    _, out = b.timed([b.PY, "-c", "import duckdb,sys,json; c=duckdb.connect(sys.argv[1], read_only=True); "
                      "print(json.dumps([[r[0] for r in c.execute(f'SELECT id FROM bench.{t} ORDER BY id').fetchall()] "
                      "for t in ('issues', 'issue_comments')]))", db])
    return json.loads(out)


def one(b, tool, base, tmp):
    """One load by `tool` (`sluice`, `dlt`, `dlt_parallel`) into a fresh DuckDB file:
    (seconds, peak RSS MiB, tables)."""
    d = Path(tempfile.mkdtemp(dir=tmp))
    db = str(d / "out.duckdb")
    if tool == "sluice":
        toml = d / "rest.toml"
        toml.write_text(PIPELINE.format(base=base))
        # from a cache holding the compiled component, as every run after a user's first
        shutil.copytree(Path(tmp) / "warm-rest" / "cache", d / "cache", dirs_exist_ok=True)
        env = dict(os.environ, SLUICE_DATA_DIR=str(d))
        secs, rss, _ = b.run_measured([str(b.SLUICE), "run", str(toml), "--destination", f"duckdb:{db}", "-q"],
                                      env=env)
    else:
        secs, rss, _ = b.run_measured([b.PY, "-c", DLT, base, db, str(d), "1" if tool == "dlt_parallel" else "0"])
    got = tables(b, db)
    shutil.rmtree(d, ignore_errors=True)
    return secs, rss, got


def rest_api(b, issues, latency_ms, runs, tmp):
    b.timed([b.SLUICE, "connector", "inspect", "rest_api", "--json"],
            env=dict(os.environ, SLUICE_DATA_DIR=str(Path(tmp) / "warm-rest")))
    proc, base = start_server(b, issues, latency_ms)
    try:
        out = {"issues": issues, "latency_ms": latency_ms, "runs": runs}
        expected = None
        for tool in ("sluice", "dlt", "dlt_parallel"):
            res = []
            for i in range(runs):
                b.log(f"rest: {tool}, {issues} issues at {latency_ms} ms per request, run {i + 1}/{runs}")
                secs, rss, got = one(b, tool, base, tmp)
                expected = expected or got
                if got != expected or len(got[0]) != issues:
                    raise SystemExit(f"bench: {tool} loaded other tables than the first load "
                                     f"({len(got[0])} issues, {len(got[1])} comments)")
                res.append((secs, rss))
            out[tool] = {"secs": b.median([s for s, _ in res]), "rss": max(r for _, r in res)}
        out["comments"] = len(expected[1])
        out["requests"] = (issues + 99) // 100 + issues
        return out
    finally:
        proc.kill()


def report_rest(r, date, machine):
    if not r:
        return []
    s = r["sluice"]["secs"]
    best = min(r["dlt"]["secs"], r["dlt_parallel"]["secs"])
    lines = ["", "## REST APIs at network speed", "",
             f"A GitHub-like API on loopback answering every request after {r['latency_ms']} ms "
             f"(`bench/rest.py`): {r['issues']} issues in pages of 100 and each issue's comments, "
             f"{r['requests']} requests, {r['comments']} comments, into DuckDB; median of {r['runs']} runs, "
             f"measured {date} on {machine} (`python3 bench/bench.py --only-rest`). Both tools run the "
             "resources of `pipelines/github/github.toml` (issues incremental on `updated_at`, "
             "comments as a dependent resource, merge on `id`) at their defaults, without that file's "
             "GitHub-specific rate limit and one-request-at-a-time setting; the tables of every load "
             "are checked equal.", "",
             "| tool | seconds | peak RSS | Sluice is |", "|---|---|---|---|"]
    for tool, label in (("sluice", "Sluice `rest_api` (defaults: fan-out, 32 per host)"),
                        ("dlt", "dlt `rest_api`"), ("dlt_parallel", "dlt `rest_api`, `parallelized: True`")):
        t = r[tool]
        ratio = "—" if tool == "sluice" else f"{t['secs'] / s:.1f}× faster"
        lines.append(f"| {label} | {t['secs']:.2f} | {t['rss']:.0f} MiB | {ratio} |")
    pages = (r["issues"] + 99) // 100
    trips = pages * (1 + -(-100 // 32))
    lines += ["", f"Target: ≥ 3× dlt's best — **{best / s:.1f}×** ({s:.2f} s against {best:.2f} s). "
              f"At 32 requests per host, a page of issues and the four rounds of its comments are "
              f"{trips} round trips of {r['latency_ms']} ms ({trips * r['latency_ms'] / 1000:.2f} s); the rest "
              "is starting the process and the DuckDB load.", ""]
    return lines
