"""The notebook example in examples/ runs as it is (its own assertions included)."""

import pathlib
import runpy

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "python_notebook.py"


def test_the_notebook_example_runs(capsys):
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "loaded" in out and "refused:" in out
