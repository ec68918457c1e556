"""`synthetic` in Python: the same deterministic GitHub-events-like records as the Rust
connector (`connectors/synthetic`), record for record, so the same pipelines give identical
tables in both languages.

Config: `rows` (default 10000), `seed` (default 42), `page_size` (default 1000). `seq` is the
record's position, a natural incremental cursor: given a window (the pipeline file declares
the cursor), the resource starts at its `start_value`. `commit_stats` (not selected by default)
depends on `events` and yields one record per event.
"""

import sluice
from sluice import Source  # noqa: F401  the component's export

MASK = (1 << 64) - 1
TYPES = ["PushEvent", "IssuesEvent", "WatchEvent", "ForkEvent", "PullRequestEvent"]
LABELS = ["bug", "docs", "good first issue", "perf", "security", "wontfix"]


def mix(z: int) -> int:
    """splitmix64, as the Rust connector computes it (wrapping u64 arithmetic)."""
    z = (z + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def record(seed: int, i: int) -> dict:
    r = mix(seed ^ mix(i))
    kind = TYPES[r % 5]
    ts = 1_700_000_000 + i * 37 + (r % 30)
    day, secs = ts // 86_400, ts % 86_400
    created = "2023-11-%02dT%02d:%02d:%02dZ" % (
        14 + min(day - 19_675, 15),
        secs // 3600,
        (secs // 60) % 60,
        secs % 60,
    )
    user = (r >> 16) % 100
    commits = [
        {
            "sha": "%016x%016x" % (mix(r ^ c), mix((r + c) & MASK)),
            "author": {"name": f"dev{user}", "email": f"dev{user}@example.com"},
            "message": f"change {c} of event {i}",
            "distinct": c % 2 == 0,
        }
        for c in range((r >> 8) % 4)
    ]
    labels = [LABELS[(r >> (20 + n)) % 6] for n in range((r >> 12) % 3)]
    return {
        "id": str(30_000_000_000 + i),
        "seq": i,
        "type": kind,
        "actor": {"id": (r >> 24) % 100_000, "login": f"user{(r >> 24) % 100_000}", "avatar_url": None},
        "repo": {"id": (r >> 32) % 50_000, "name": f"org{(r >> 40) % 100}/repo{(r >> 32) % 500}"},
        "payload": {
            "action": "opened" if kind == "IssuesEvent" else None,
            "size": len(commits),
            "commits": commits,
            "labels": labels,
        },
        "public": r % 10 != 0,
        "score": (r % 10_000) / 100.0,
        "created_at": created,
    }


@sluice.resource(name="events", primary_key="id")
def events(rows: int, seed: int, page_size: int):
    # resume at the window's start: rows before it are already loaded
    window = sluice.window()
    start = 0
    if window is not None and window.start_value is not None:
        start = max(0, int(float(window.start_value)))
    for first in range(start, rows, page_size):
        end = min(first + page_size, rows)
        yield sluice.Page([record(seed, i) for i in range(first, end)], checkpoint={"emitted": end})


@sluice.transformer(data_from=events, name="commit_stats", selected=False)
def commit_stats(parents: list):
    yield [{"event_id": e["id"], "commits": len(e["payload"]["commits"])} for e in parents]


@sluice.source(name="synthetic", version="0.1.0")
def synthetic(rows: int = 10_000, seed: int = 42, page_size: int = 1000):
    """deterministic GitHub-events-like records"""
    return events(rows, seed, max(1, page_size))
