"""Part of `just differential`: Sluice's naming against dlt's `snake_case` convention on N
seeded identifiers (leading, trailing and repeated underscores, leading digits, unicode letters
and marks, emoji, every separator, mixed case, names past the 63-byte limit). Compares
`normalize_identifier`, `normalize_path` (how dlt names keys and tables) and `normalize_path`
shortened to 63 bytes; prints each class of difference with its shortest example.

usage: naming.py [--seed N] [--count N] [--show N]
"""
import argparse
import collections
import json
import os
import random
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import bench  # noqa: E402

NAMING = bench.TARGET / "release" / "examples" / "naming"
PIECES = [
    "a", "b", "id", "user", "Name", "HTTP", "Server", "camelCase", "XMLHttp", "x1", "9", "42",
    "é", "ü", "ñ", "Å", "ß", "Ω", "Δ", "日本", "😀", "🎉", "a\u0301", "\u200b", "İ", "ﬁ",
]
SEPARATORS = [
    "_", "__", "___", "-", "--", ".", " ", "  ", "\t", "/", "\\", ":", ";", ",", "+", "*", "@",
    "|", "#", "$", "%", "&", "!", "?", "'", '"', "(", ")", "[", "]", "{", "}", "<", ">", "=",
    "~", "`", "^",
]


def identifier(rng):
    parts = []
    if rng.random() < 0.3:
        parts.append(rng.choice(["_", "__", "___", " ", "1", "12", "-", "."]))
    for _ in range(rng.randint(1, 4)):
        parts.append(rng.choice(PIECES))
        if rng.random() < 0.6:
            parts.append(rng.choice(SEPARATORS))
    if rng.random() < 0.25:
        parts.append(rng.choice(["_", "__", "___", " ", "-", "."]))
    name = "".join(parts)
    if rng.random() < 0.08:
        name = (name + "_") * rng.randint(8, 30)  # past the 63-byte limit
    return name


def dlt_names(idents):
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    full, short = NamingConvention(), NamingConvention(max_length=63)
    return [{
        "ident": full.normalize_identifier(i),
        "path": full.normalize_path(i),
        "path63": short.normalize_path(i),
    } for i in idents]


def sluice_names(idents):
    text = "".join(json.dumps(i) + "\n" for i in idents)
    p = subprocess.run([str(NAMING)], input=text, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in p.stdout.splitlines()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--show", type=int, default=3)
    args = ap.parse_args()
    if Path(sys.prefix).resolve() != Path(bench.VENV).resolve():
        bench.ensure_venv()
        os.execv(str(bench.PY), [str(bench.PY), __file__, *sys.argv[1:]])
    if not NAMING.exists():
        sys.exit(f"build it first: cargo build --release -p sluice-schema --example naming ({NAMING})")
    rng = random.Random(args.seed)
    idents = [identifier(rng) for _ in range(args.count)]
    theirs, mine = dlt_names(idents), sluice_names(idents)
    classes = collections.defaultdict(list)
    for i, a, b in zip(idents, theirs, mine):
        for f in ("ident", "path", "path63"):
            if a[f] != b[f]:
                classes[f].append((len(i), i, a[f], b[f]))
    bad = {i for hits in classes.values() for _, i, _, _ in hits}
    print(f"\n{len(idents)} identifiers (seed {args.seed}): {len(idents) - len(bad)} named alike, "
          f"{len(bad)} differ")
    for f, hits in classes.items():
        print(f"\n## {f} — {len(hits)} identifier(s)")
        for _, i, a, b in sorted(hits)[:args.show]:
            print(f"   {json.dumps(i, ensure_ascii=False)}: dlt {a!r}, Sluice {b!r}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
