"""A throwaway PostgreSQL server for the Python tests, as the Rust integration tests start
theirs: `initdb` into a temporary directory (as the `postgres` user when running as root),
started on a free loopback port with fsync off, stopped and removed afterwards."""

import glob
import os
import shutil
import socket
import subprocess
import tempfile


def _bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
            "(scripts/bootstrap installs them)"
        )
    return os.path.dirname(found[-1])


def _run(args):
    if os.getuid() == 0:
        args = ["runuser", "-u", "postgres", "--"] + args
    subprocess.run(args, check=True, capture_output=True)


class PgServer:
    def __init__(self):
        self.bin = _bin()
        self.dir = tempfile.mkdtemp(prefix="sluice-py-pg-")
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        _run([f"{self.bin}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
              "--no-sync", "-E", "UTF8"])
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off")
        _run([f"{self.bin}/pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"),
              "-o", opts, "-w", "-t", "60", "start"])

    @property
    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self):
        try:
            _run([f"{self.bin}/pg_ctl", "-D", self.data, "-m", "immediate", "stop"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
