"""`just differential`: Sluice against dlt on generated nested JSON, a development check (not
part of CI). Each of N seeded cases (a few records whose keys change type, nest, repeat and
carry awkward names) is loaded by dlt (from PyPI, in the bench virtualenv) and by `sluice
load` into DuckDB; both datasets are dumped in the conformance form (tables, column types,
row counts, rows without ids) and compared. Differences are grouped into classes, each shown
with its smallest case.

A case showing one of the deliberate differences the README documents (documented.py) is
reported under that reason; the exit status is non-zero only for unexplained differences.
`--avoid-documented` draws only cases none of those rules matches.

usage: run.py [--seed N] [--cases N] [--keep DIR] [--show N] [--avoid-documented]
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(HERE))

import bench  # noqa: E402  (venv, release binary)
import documented  # noqa: E402
import gen  # noqa: E402


def in_venv():
    return Path(sys.prefix).resolve() == Path(bench.VENV).resolve()


def log(msg):
    print(f"differential: {msg}", file=sys.stderr, flush=True)


def load_dlt(cases, db, work):
    """The cases in as few dlt runs as possible, one resource (table) each, each run into a
    dataset of its own: a run dlt refuses is split in halves until the refused cases stand
    alone, with their error kept. Returns the errors and the datasets of the runs that
    loaded."""
    import dlt

    runs = iter(range(10**9))
    errors, loaded = {}, []

    def load(named):
        n = next(runs)
        p = dlt.pipeline(pipeline_name=f"diff_{n}", destination=dlt.destinations.duckdb(str(db)),
                         dataset_name=f"diff_{n}", pipelines_dir=str(work / "dlt_pipelines"))
        try:
            p.run([dlt.resource(rows, name=name) for name, rows in named])
            loaded.append(f"diff_{n}")
        except Exception as e:  # noqa: BLE001 — the case's error is the finding
            if len(named) == 1:
                errors[named[0][0]] = str(e).splitlines()[-1][:200]
                return
            half = len(named) // 2
            load(named[:half])
            load(named[half:])

    load([(f"c{i:04d}", c) for i, c in enumerate(cases)])
    return errors, loaded


def load_sluice(cases, db, work):
    errors = {}
    for i, c in enumerate(cases):
        name = f"c{i:04d}"
        f = work / "cases" / f"{name}.json"
        f.parent.mkdir(exist_ok=True)
        f.write_text(json.dumps(c, ensure_ascii=False))
        p = subprocess.run(
            [str(bench.SLUICE), "load", str(f), "--table", name, "--pipeline", f"d{name}",
             "--dataset", "diff", "--destination", f"duckdb:{db}", "--pipelines-dir",
             str(work / "sluice_pipelines"), "-q"],
            capture_output=True, text=True)
        if p.returncode != 0:
            errors[name] = (p.stderr.strip().splitlines() or ["?"])[-1][:200]
        if i % 200 == 199:
            log(f"sluice: {i + 1} cases")
    return errors


def canon(db, datasets):
    """table → {columns: {name: type}, count, rows} (the conformance form) over `datasets`."""
    import duckdb

    c = duckdb.connect(str(db), read_only=True)
    columns = collections.defaultdict(dict)
    where = {}
    for ds, t, n, ty in c.execute(
            "select schema_name, table_name, column_name, data_type from duckdb_columns() "
            "order by 1, 2, 3").fetchall():
        if ds in datasets and not t.startswith("_dlt_"):
            columns[t][n] = ty
            where[t] = ds
    out = {}
    for t, cols in columns.items():
        keep = [n for n in cols if not n.startswith("_dlt_") or n == "_dlt_list_idx"]
        q = ", ".join(f'CAST("{n}" AS VARCHAR)' for n in keep) or "1"
        rows = sorted(json.dumps(list(r), ensure_ascii=False)
                      for r in c.execute(f'select {q} from "{where[t]}"."{t}"').fetchall())
        out[t] = {"columns": cols, "count": len(rows), "rows": rows}
    c.close()
    return out


def by_case(tables):
    """case → its tables (`c0001`, `c0001__items`, …)."""
    out = collections.defaultdict(dict)
    for t, v in tables.items():
        out[t[:5]][t] = v
    return out


def shape(name):
    """A column or table name with its words abstracted, so one naming rule is one class."""
    return re.sub(r"[a-z0-9]+", "w", re.sub(r"^c\d{4}", "T", name))


def differences(case, dlt, slc, dlt_err, slc_err):
    """The classes of difference of one case, each with its detail."""
    if dlt_err or slc_err:
        if dlt_err and slc_err:
            return []
        if dlt_err:
            return [(("dlt fails, Sluice loads",), dlt_err)]
        return [(("Sluice fails, dlt loads", re.sub(r"c\d{4}", "T", slc_err)[:80]), slc_err)]
    mine, theirs = slc.get(case, {}), dlt.get(case, {})
    out = []
    for t in sorted(set(mine) | set(theirs)):
        if t not in mine:
            out.append((("table only in dlt", shape(t)), t))
            continue
        if t not in theirs:
            out.append((("table only in Sluice", shape(t)), t))
            continue
        a, b = theirs[t]["columns"], mine[t]["columns"]
        for col in sorted(set(a) | set(b)):
            if col not in b:
                out.append((("column only in dlt", shape(col)), f"{t}.{col} {a[col]}"))
            elif col not in a:
                out.append((("column only in Sluice", shape(col)), f"{t}.{col} {b[col]}"))
            elif a[col] != b[col]:
                variant = "variant" if "__v_" in col else "column"
                out.append((("type", variant, a[col], b[col]), f"{t}.{col}: dlt {a[col]}, Sluice {b[col]}"))
        if a == b and theirs[t]["rows"] != mine[t]["rows"]:
            extra = sorted(set(theirs[t]["rows"]) ^ set(mine[t]["rows"]))[:2]
            out.append((("rows differ", "child" if "__" in t else "root"), f"{t}: {extra}"))
        elif a == b and theirs[t]["count"] != mine[t]["count"]:
            out.append((("row count",), f"{t}: dlt {theirs[t]['count']}, Sluice {mine[t]['count']}"))
    return out


def main():
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--keep", help="keep the databases and cases in this folder")
    ap.add_argument("--show", type=int, default=1, help="examples per class")
    ap.add_argument("--compare-only", action="store_true",
                    help="compare the databases an earlier run left in --keep")
    ap.add_argument("--avoid-documented", action="store_true",
                    help="draw only cases no documented difference can explain")
    args = ap.parse_args()
    if not in_venv():
        bench.ensure_venv()
        os.execv(str(bench.PY), [str(bench.PY), __file__, *sys.argv[1:]])
    if not bench.SLUICE.exists():
        sys.exit(f"build the release binary first: cargo build --release -p sluice-cli ({bench.SLUICE})")
    keep = (lambda c: not documented.reasons(c)) if args.avoid_documented else (lambda c: True)
    cases = gen.cases(args.seed, args.cases, keep)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="sluice-diff-"))
    work.mkdir(parents=True, exist_ok=True)
    errors_file = work / "errors.json"
    if args.compare_only:
        dlt_errors, dlt_datasets, slc_errors = json.loads(errors_file.read_text())
    else:
        log(f"{len(cases)} cases from seed {args.seed} in {work}")
        log("dlt: loading")
        dlt_errors, dlt_datasets = load_dlt(cases, work / "dlt.duckdb", work)
        log("sluice: loading")
        slc_errors = load_sluice(cases, work / "sluice.duckdb", work)
        errors_file.write_text(json.dumps([dlt_errors, dlt_datasets, slc_errors]))
    log("comparing")
    dlt = by_case(canon(work / "dlt.duckdb", set(dlt_datasets)))
    slc = by_case(canon(work / "sluice.duckdb", {"diff"}))
    classes = collections.defaultdict(list)
    explained = collections.Counter()
    differing = 0
    for i, c in enumerate(cases):
        name = f"c{i:04d}"
        found = differences(name, dlt, slc, dlt_errors.get(name), slc_errors.get(name))
        if not found:
            continue
        why = documented.reasons(c, slc_errors.get(name))
        if why:
            explained.update(why)
            explained["cases"] += 1
            continue
        differing += 1
        for key, detail in found:
            classes[key].append((len(json.dumps(c)), name, c, detail))
    report(args, cases, classes, explained, differing)
    sys.exit(1 if differing else 0)


def report(args, cases, classes, explained, differing):
    for key, hits in sorted(classes.items(), key=lambda kv: -len(kv[1])):
        print(f"## {' · '.join(key)} — {len(hits)} case(s)")
        for _, name, c, detail in sorted(hits, key=lambda h: h[0])[:args.show]:
            print(f"   {name}: {detail}")
            print(f"   records: {json.dumps(c, ensure_ascii=False)[:400]}")
        print()
    documented_cases = explained.pop("cases", 0)
    print("documented differences (README, \"Where Sluice differs from dlt, on purpose\"):")
    for why, n in explained.most_common():
        print(f"   {n:5d}  {why}")
    mode = ", documented triggers avoided" if args.avoid_documented else ""
    print(f"\n{len(cases)} cases (seed {args.seed}{mode}): "
          f"{len(cases) - differing - documented_cases} identical, "
          f"{documented_cases} documented, {differing} unexplained in {len(classes)} classes")


if __name__ == "__main__":
    main()
