"""`just conformance-fixtures`: dlt's output for every case in `tests/conformance/cases`,
written to `tests/conformance/expected/NAME.expected.json` in the conformance form (the shared
`canon.py`), or `{"error": ...}` where dlt refuses the case. Runs dlt from PyPI in the bench
virtualenv, so CI holds dlt's answers without installing dlt.

usage: fixtures.py [NAME ...]   (default: every case)
"""
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CASES = ROOT / "tests" / "conformance"
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT.parent / "shared" / "conformance"))

import bench  # noqa: E402  (venv)


def root_cause(e):
    """The first line of the innermost error dlt wraps (a failed step wraps the real one)."""
    seen = set()
    while id(e) not in seen:
        seen.add(id(e))
        inner = getattr(e, "exception", None) or e.__cause__ or e.__context__
        if not isinstance(inner, BaseException):
            break
        e = inner
    return f"{type(e).__name__}: {str(e).strip().splitlines()[0][:400]}"


def dlt_output(name, rows, work):
    """The conformance form of dlt loading `rows` as table `name`, or its error."""
    import dlt
    from canon import canon_duckdb

    db = work / f"{name}.duckdb"
    p = dlt.pipeline(pipeline_name=name, destination=dlt.destinations.duckdb(str(db)),
                     dataset_name="conf_dataset", pipelines_dir=str(work / "pipelines"))
    try:
        p.run(rows, table_name=name)
    except Exception as e:  # noqa: BLE001 — dlt's refusal is the fixture
        return {"error": root_cause(e)}
    return canon_duckdb(str(db), "conf_dataset")


def main():
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    if Path(sys.prefix).resolve() != Path(bench.VENV).resolve():
        bench.ensure_venv()
        os.execv(str(bench.PY), [str(bench.PY), __file__, *sys.argv[1:]])
    import dlt

    names = sys.argv[1:] or sorted(p.stem for p in (CASES / "cases").glob("*.json"))
    work = Path(tempfile.mkdtemp(prefix="sluice-fixtures-"))
    (CASES / "expected").mkdir(exist_ok=True)
    for name in names:
        rows = json.loads((CASES / "cases" / f"{name}.json").read_text())
        out = dlt_output(name, rows, work)
        out_file = CASES / "expected" / f"{name}.expected.json"
        out_file.write_text(json.dumps(out, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
        verdict = "dlt fails" if "error" in out else f"{len(out)} table(s)"
        print(f"fixtures: {name}: {verdict} (dlt {dlt.__version__})", file=sys.stderr)


if __name__ == "__main__":
    main()
