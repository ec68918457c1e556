"""`sluice.run("pipeline.toml")`: a pipeline file with a bundled wasm connector, incremental."""

import json

import sluice
from conftest import rows


def write_events(path, ids):
    with open(path, "w") as f:
        for i in ids:
            f.write(json.dumps({"id": i, "updated_at": f"2024-01-{i:02d}T00:00:00Z"}) + "\n")


def test_an_incremental_pipeline_file_loads_only_new_records(tmp_path):
    data = tmp_path / "events.ndjson"
    write_events(data, [1, 2, 3])
    spec = tmp_path / "events.toml"
    spec.write_text(
        f"""name = "events"
dataset = "raw"
destination = "duckdb:{tmp_path / 'events.duckdb'}"
[connector]
name = "files"
[config]
paths = ["{data}"]
table = "events"
[grants]
allow_read_files = ["{data}"]
[resources.events.incremental]
cursor_path = "updated_at"
"""
    )
    pipelines = str(tmp_path / "pipelines")
    first = sluice.run(spec, pipelines_dir=pipelines)
    assert first.tables == {"events": 3}
    write_events(data, [1, 2, 3, 4, 5])
    second = sluice.run(spec, pipelines_dir=pipelines)
    assert second.tables == {"events": 2}
    third = sluice.run(spec, pipelines_dir=pipelines)
    assert not third.has_loaded and "nothing new to load" in str(third)
    p = sluice.pipeline(
        "events", destination=f"duckdb:{tmp_path / 'events.duckdb'}", dataset_name="raw",
        pipelines_dir=pipelines,
    )
    assert rows(p, "SELECT count(*), max(id) FROM events") == [(5, 5)]
    state = p.dataset().state()
    # the cursor in dlt's state shape, under the connector's source (`files`)
    cursor = state["sources"]["files"]["resources"]["events"]["incremental"]["updated_at"]
    assert cursor["last_value"] == "2024-01-05T00:00:00Z"


def test_set_overrides_values_of_the_file(tmp_path):
    spec = tmp_path / "synthetic.toml"
    spec.write_text(
        f"""name = "syn"
destination = "duckdb:{tmp_path / 'syn.duckdb'}"
[connector]
name = "synthetic"
[config]
rows = 10
"""
    )
    info = sluice.run(spec, set={"rows": 250}, pipelines_dir=str(tmp_path / "pipelines"))
    assert info.rows >= 250 and info.tables[next(iter(info.tables))] == 250


def test_a_missing_pipeline_file_is_a_configuration_error(tmp_path):
    import pytest

    with pytest.raises(sluice.ConfigurationError, match="nope.toml"):
        sluice.run(tmp_path / "nope.toml")


def test_stages_and_connector_lines_reach_python_logging(tmp_path, caplog):
    import logging

    spec = tmp_path / "hello.toml"
    spec.write_text(
        f"""name = "syn_log"
destination = "duckdb:{tmp_path / 'log.duckdb'}"
[connector]
name = "synthetic"
[config]
rows = 10
"""
    )
    with caplog.at_level(logging.INFO, logger="sluice"):
        sluice.run(spec, pipelines_dir=str(tmp_path / "pipelines"))
    stages = [r.getMessage() for r in caplog.records if r.name == "sluice"]
    assert any(m.startswith("extract:") for m in stages), stages


def test_the_engines_own_messages_reach_python_logging(tmp_path):
    # a fresh working directory takes its state from the destination, which the engine
    # reports at INFO (SLUICE_LOG=info): the event reaches the `sluice` logger
    import subprocess
    import sys

    child = f"""
import logging, sys
logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
import sluice
for workdir in ("first", "fresh"):
    p = sluice.pipeline("logged", destination="duckdb:{tmp_path}/l.duckdb",
                        pipelines_dir="{tmp_path}/" + workdir)
    p.run([{{"id": 1}}], table_name="t")
"""
    import os

    env = dict(os.environ, SLUICE_LOG="info")
    out = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert "sluice INFO state restored from the destination" in out, out
