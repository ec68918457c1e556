"""An Azure Blob Storage emulator for the integration tests: Azurite (npm `azurite`, which
scripts/bootstrap installs under ~/.cache/sluice/azurite) on a free loopback port, with its
well-known development account and Shared Key signatures checked.

Speaks the protocol of tests/s3_server.py: prints one JSON line ({"endpoint",
"access_key_id": the account, "secret_access_key": the account key}), then takes the same
commands (`bucket` makes a container; `put`, `delete`, `list`, `get`) until stdin closes.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from azure.storage.blob import BlobServiceClient

ACCOUNT = "devstoreaccount1"
KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
       "KBHBeksoGMGw==")


def azurite_bin():
    found = os.environ.get("AZURITE_BLOB") or str(
        Path.home() / ".cache/sluice/azurite/node_modules/.bin/azurite-blob")
    if not Path(found).exists():
        sys.exit(f"azurite-blob not found at {found} (scripts/bootstrap installs it)")
    return found


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    port = free_port()
    data = tempfile.mkdtemp(prefix="sluice-azurite-")
    server = subprocess.Popen(
        [azurite_bin(), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", data,
         "--silent", "--skipApiVersionCheck", "--disableProductStyleUrl"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}/{ACCOUNT}"
    client = BlobServiceClient(account_url=endpoint, credential={"account_name": ACCOUNT,
                                                                 "account_key": KEY})
    for _ in range(200):
        try:
            list(client.list_containers())
            break
        except Exception:
            time.sleep(0.05)
    print(json.dumps({"endpoint": endpoint, "access_key_id": ACCOUNT,
                      "secret_access_key": KEY}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            answer = run(client, cmd)
            print(json.dumps({"ok": True, **answer}), flush=True)
        except Exception as e:  # answered, so the test fails naming it
            print(json.dumps({"ok": False, "error": str(e)}), flush=True)
    server.terminate()
    server.wait()


def run(client, cmd):
    op = cmd["op"]
    if op == "bucket":
        client.create_container(cmd["bucket"])
        return {}
    blobs = client.get_container_client(cmd["bucket"])
    if op == "put":
        with open(cmd["file"], "rb") as f:
            blobs.upload_blob(cmd["key"], f.read(), overwrite=True)
    elif op == "delete":
        blobs.delete_blob(cmd["key"])
    elif op == "list":
        return {"keys": sorted(b.name for b in blobs.list_blobs(name_starts_with=cmd.get("prefix", "")))}
    elif op == "get":
        with open(cmd["file"], "wb") as f:
            f.write(blobs.download_blob(cmd["key"]).readall())
    return {}


if __name__ == "__main__":
    main()
