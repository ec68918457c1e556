"""Fixtures of the Python package's tests: every pipeline lives in the test's own temporary
directory (its DuckDB file, its working directory), so tests never share state."""

import pytest

import sluice


@pytest.fixture
def make_pipeline(tmp_path):
    def make(name="p", destination=None, dataset_name="ds"):
        return sluice.pipeline(
            name,
            destination=destination or f"duckdb:{tmp_path / (name + '.duckdb')}",
            dataset_name=dataset_name,
            pipelines_dir=str(tmp_path / "pipelines"),
        )

    return make


def rows(pipeline, sql):
    """The rows of a query over the pipeline's dataset, as tuples."""
    return pipeline.dataset().query(sql).fetchall()
