"""Deterministic benchmark datasets as NDJSON (the same bytes for every tool).

kinds: github (GitHub-events-like nested records, like the `synthetic` connector),
github_update (the same ids with other values), wide (100 flat columns), deep (6 levels of
nested lists). usage: gen.py KIND N FILE
"""
import json
import random
import sys

TYPES = ["PushEvent", "IssuesEvent", "WatchEvent", "ForkEvent", "PullRequestEvent"]
LABELS = ["bug", "docs", "good first issue", "perf", "wontfix", "help wanted"]


def github(i, r):
    n_commits = r.randrange(4)
    ts = 1_700_000_000 + i * 37 + r.randrange(30)
    return {
        "id": str(30_000_000_000 + i),
        "seq": i,
        "type": TYPES[r.randrange(5)],
        "actor": {"id": r.randrange(100_000), "login": f"user{r.randrange(100_000)}", "avatar_url": None},
        "repo": {"id": r.randrange(50_000), "name": f"org{r.randrange(100)}/repo{r.randrange(500)}"},
        "payload": {
            "action": "opened" if r.random() < 0.2 else None,
            "size": n_commits,
            "commits": [
                {
                    "sha": f"{r.getrandbits(64):016x}{r.getrandbits(64):016x}",
                    "author": {"name": f"dev{c}", "email": f"dev{c}@example.com"},
                    "message": f"change {c} of event {i}",
                    "distinct": c % 2 == 0,
                }
                for c in range(n_commits)
            ],
            "labels": [LABELS[r.randrange(6)] for _ in range(r.randrange(3))],
        },
        "public": r.random() < 0.9,
        "score": r.randrange(10_000) / 100.0,
        "created_at": f"2023-11-{14 + (ts // 86400) % 15:02d}T{(ts // 3600) % 24:02d}:{(ts // 60) % 60:02d}:{ts % 60:02d}Z",
    }


def wide(i, r):
    rec = {"id": i}
    for c in range(99):
        k = c % 5
        if k == 0:
            rec[f"int_{c}"] = r.randrange(1_000_000)
        elif k == 1:
            rec[f"float_{c}"] = r.randrange(1_000_000) / 7.0
        elif k == 2:
            rec[f"text_{c}"] = f"value {r.randrange(1000)} of column {c}"
        elif k == 3:
            rec[f"flag_{c}"] = r.random() < 0.5
        else:
            rec[f"ts_{c}"] = f"2024-0{1 + c % 9}-1{c % 10}T0{c % 10}:00:00Z"
    return rec


def deep(i, r):
    def level(d, prefix):
        node = {"name": f"{prefix}-{d}", "value": r.randrange(1000)}
        if d < 6:
            width = 2 if d <= 3 else 1
            node[f"l{d + 1}"] = [level(d + 1, f"{prefix}.{k}") for k in range(width)]
        return node

    return {"id": i, "l1": [level(1, f"{i}.{k}") for k in range(2)]}


def main():
    kind, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    # github_update: the same ids as github with new values (merge benchmarks)
    make = {"github": github, "github_update": github, "wide": wide, "deep": deep}[kind]
    r = random.Random(7 if kind == "github_update" else 42)
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps(make(i, r), separators=(",", ":")))
            f.write("\n")


if __name__ == "__main__":
    main()
