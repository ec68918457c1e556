"""Sluice from Python: load records, DataFrames and Arrow into DuckDB, PostgreSQL or files
with dlt's datasets, and read them back.

    import sluice
    p = sluice.pipeline("shop", destination="duckdb", dataset_name="raw")
    info = p.run([{"id": 1, "items": [{"sku": "a"}]}], table_name="orders")
    p.dataset()["orders"].df()

The engine is native (Rust); it works with the GIL released. Records are pulled from an
iterator page by page, so memory stays flat whatever its length; DataFrames and Arrow data go
through the Arrow C stream interface with no per-row Python work.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from . import _sluice
from ._sluice import (
    ConfigurationError,
    ConnectorError,
    ContractViolation,
    DataError,
    DestinationError,
    PipelineBusy,
    SluiceError,
)

__version__ = _sluice.__version__

__all__ = [
    "pipeline",
    "run",
    "Pipeline",
    "Dataset",
    "Relation",
    "RunInfo",
    "SluiceError",
    "ConfigurationError",
    "ContractViolation",
    "DataError",
    "ConnectorError",
    "DestinationError",
    "PipelineBusy",
]

Key = Union[str, Sequence[str], None]


def _data_dir() -> str:
    """`$SLUICE_DATA_DIR`, else `~/.sluice`: where the command line keeps pipelines too."""
    return os.environ.get("SLUICE_DATA_DIR") or os.path.join(os.path.expanduser("~"), ".sluice")


def _default_pipelines_dir() -> str:
    return os.path.join(_data_dir(), "pipelines")


@dataclass
class RunInfo:
    """What a run did (the command line's `--json` summary, as attributes)."""

    pipeline: str
    dataset: str
    destination: str
    load_ids: List[str]
    #: table → rows this run loaded
    tables: Dict[str, int]
    schema_version: int
    duration_ms: int
    pending_packages_loaded: int
    #: the whole summary as the command line's `--json` prints it
    raw: Dict[str, Any] = field(repr=False)

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    @property
    def has_loaded(self) -> bool:
        return bool(self.load_ids)

    @classmethod
    def _of(cls, text: str) -> "RunInfo":
        s = json.loads(text)
        return cls(
            pipeline=s["pipeline"],
            dataset=s["dataset"],
            destination=s["destination"],
            load_ids=list(s["load_ids"]),
            tables=dict(s["tables"]),
            schema_version=s["schema_version"],
            duration_ms=s["duration_ms"],
            pending_packages_loaded=s["pending_packages_loaded"],
            raw=s,
        )

    def __str__(self) -> str:
        if not self.load_ids:
            return (
                f"pipeline `{self.pipeline}`: nothing new to load; {self.destination} "
                f"dataset `{self.dataset}` is unchanged ({self.duration_ms / 1000:.2f}s)"
            )
        tables = ", ".join(f"{t}: {n}" for t, n in self.tables.items())
        return (
            f"pipeline `{self.pipeline}`: loaded {self.rows} rows into {self.destination} "
            f"dataset `{self.dataset}` ({tables}) in {self.duration_ms / 1000:.2f}s; "
            f"load {', '.join(self.load_ids)}"
        )


def _keys(key: Key, what: str) -> Optional[List[str]]:
    if key is None:
        return None
    if isinstance(key, str):
        return [key]
    if isinstance(key, (list, tuple)) and all(isinstance(k, str) for k in key):
        return list(key)
    raise ConfigurationError(f"{what}: a column name or a list of column names, not {key!r}")


def _resource(
    write_disposition: Union[str, Mapping[str, Any], None],
    primary_key: Key,
    merge_key: Key,
    columns: Union[Mapping[str, Any], Sequence[Mapping[str, Any]], None],
) -> Dict[str, Any]:
    """The `[resources.<table>]` overrides of a run, from dlt's `run` arguments."""
    out: Dict[str, Any] = {}
    if isinstance(write_disposition, Mapping):
        out["write_disposition"] = write_disposition.get("disposition")
        if write_disposition.get("strategy"):
            out["merge_strategy"] = write_disposition["strategy"]
        for k in ("validity_column_names", "active_record_timestamp", "boundary_timestamp"):
            if k in write_disposition:
                out[k] = write_disposition[k]
    elif write_disposition is not None:
        out["write_disposition"] = write_disposition
    if (pk := _keys(primary_key, "primary_key")) is not None:
        out["primary_key"] = pk
    if (mk := _keys(merge_key, "merge_key")) is not None:
        out["merge_key"] = mk
    if columns:
        if isinstance(columns, Mapping):
            hints = {name: dict(h) for name, h in columns.items()}
        else:
            hints = {c["name"]: {k: v for k, v in c.items() if k != "name"} for c in columns}
        out["columns"] = hints
    return out


def _destination(destination: str, name: str) -> str:
    """A destination with DuckDB paths made absolute (as dlt puts `<name>.duckdb` in the
    working directory), so the dataset is found again from any directory."""
    if destination == "duckdb":
        return "duckdb:" + os.path.abspath(f"{name}.duckdb")
    if destination.startswith("duckdb:"):
        return "duckdb:" + os.path.abspath(destination[len("duckdb:"):])
    return destination


def _contract(contract: Union[str, Mapping[str, str], None]) -> Optional[str]:
    if contract is None:
        return None
    return contract if isinstance(contract, str) else json.dumps(dict(contract))


def _as_arrow(data: Any) -> Any:
    """Arrow-capable data as an object with `__arrow_c_stream__`, else `None` (records)."""
    module = type(data).__module__ or ""
    if module.startswith("pandas") and type(data).__name__ == "DataFrame":
        import pyarrow as pa

        # as dlt does: a RangeIndex is not a column, any other index is
        return pa.Table.from_pandas(data)
    if hasattr(data, "__arrow_c_stream__"):
        return data
    if module.startswith("pyarrow") and type(data).__name__ == "RecordBatch":
        import pyarrow as pa

        return pa.Table.from_batches([data])
    if module.startswith("polars") and hasattr(data, "to_arrow"):
        return data.to_arrow()
    return None


class Relation:
    """A table or a query's result, read when asked for."""

    def __init__(self, dataset: "Dataset", table: Optional[str] = None, sql: Optional[str] = None):
        self._dataset = dataset
        self._table = table
        self._sql = sql

    def _ipc(self) -> bytes:
        if self._table is not None:
            return self._dataset._inner.table_ipc(self._table)
        return self._dataset._inner.query_ipc(self._sql)

    def arrow(self):
        """The rows as a `pyarrow.Table`."""
        import pyarrow as pa

        return pa.ipc.open_stream(self._ipc()).read_all()

    def df(self):
        """The rows as a pandas DataFrame."""
        return self.arrow().to_pandas()

    def pl(self):
        """The rows as a polars DataFrame."""
        import polars as pl

        return pl.from_arrow(self.arrow())

    def fetchall(self) -> List[tuple]:
        """The rows as tuples."""
        t = self.arrow()
        return list(zip(*(c.to_pylist() for c in t.columns))) if t.num_columns else []

    def __repr__(self) -> str:
        what = f"table {self._table!r}" if self._table is not None else f"query {self._sql!r}"
        return f"<sluice.Relation {what} of {self._dataset!r}>"


class Dataset:
    """The dataset a pipeline loaded: read-only, never making a run wait."""

    def __init__(self, pipelines_dir: str, pipeline_name: str):
        self._inner = _sluice._Dataset(pipelines_dir, pipeline_name)
        self.pipeline_name = pipeline_name

    @property
    def tables(self) -> List[Dict[str, Any]]:
        """The data tables: name, parent, resource, write disposition, rows, columns with
        dlt types."""
        return json.loads(self._inner.tables_json())

    @property
    def table_names(self) -> List[str]:
        return [t["name"] for t in self.tables]

    def loads(self) -> List[Dict[str, Any]]:
        """The rows of `_dlt_loads`."""
        return json.loads(self._inner.loads_json())

    def state(self) -> Optional[Dict[str, Any]]:
        """The newest committed pipeline state."""
        return json.loads(self._inner.state_json())

    def query(self, sql: str) -> Relation:
        """One read-only statement (SELECT, WITH, …) over the dataset's tables."""
        return Relation(self, sql=sql)

    __call__ = query

    def __getitem__(self, table: str) -> Relation:
        return Relation(self, table=table)

    def __getattr__(self, table: str) -> Relation:
        if table.startswith("_"):
            raise AttributeError(table)
        return Relation(self, table=table)

    def __repr__(self) -> str:
        return (
            f"<sluice.Dataset {self._inner.name()!r} of pipeline {self.pipeline_name!r}"
            f" at {self._inner.describe()}>"
        )


class Pipeline:
    """A pipeline: where data goes, under which name its state and packages are kept."""

    def __init__(
        self,
        pipeline_name: str,
        destination: str = "duckdb",
        dataset_name: Optional[str] = None,
        pipelines_dir: Optional[str] = None,
    ):
        if not isinstance(pipeline_name, str) or not pipeline_name:
            raise ConfigurationError("a pipeline needs a name")
        self.pipeline_name = pipeline_name
        self.destination = _destination(destination, pipeline_name)
        self.dataset_name = dataset_name
        self.pipelines_dir = os.path.abspath(pipelines_dir or _default_pipelines_dir())

    def run(
        self,
        data: Any,
        *,
        table_name: Optional[str] = None,
        write_disposition: Union[str, Mapping[str, Any], None] = None,
        primary_key: Key = None,
        merge_key: Key = None,
        columns: Union[Mapping[str, Any], Sequence[Mapping[str, Any]], None] = None,
        schema_contract: Union[str, Mapping[str, str], None] = None,
        max_table_nesting: Optional[int] = None,
    ) -> RunInfo:
        """Load `data` — a list or any iterable of dicts (streamed page by page), a pandas or
        polars DataFrame, a pyarrow Table, RecordBatch or RecordBatchReader, or anything with
        `__arrow_c_stream__` — into table `table_name`. Pending packages of an earlier failed
        run load first. Returns what the run did."""
        arrow = _as_arrow(data)
        if arrow is None and isinstance(data, Mapping):
            data = [data]
        if arrow is None and isinstance(data, (str, bytes)):
            raise ConfigurationError(
                "data: records (dicts), a DataFrame or Arrow data, not a string; "
                "to load a file use `sluice load FILE` or the `files` connector"
            )
        table = table_name or getattr(data, "__name__", None)
        if not table:
            raise ConfigurationError(
                "table_name: name the table to load into (run(data, table_name=...))"
            )
        resource = _resource(write_disposition, primary_key, merge_key, columns)
        if max_table_nesting is not None:
            resource["max_table_nesting"] = max_table_nesting
        spec: Dict[str, Any] = {
            "name": self.pipeline_name,
            "destination": self.destination,
            "resources": {table: resource},
        }
        if self.dataset_name:
            spec["dataset"] = self.dataset_name
        text = _sluice.run_data(
            json.dumps(spec),
            self.pipelines_dir,
            table,
            arrow if arrow is not None else data,
            arrow is not None,
            _contract(schema_contract),
        )
        return RunInfo._of(text)

    def dataset(self) -> Dataset:
        """The dataset this pipeline loaded."""
        return Dataset(self.pipelines_dir, self.pipeline_name)

    def drop_pending_packages(self) -> List[str]:
        """Set aside packages that can never load (a contract violation, bad data), as
        `sluice pipeline NAME abort-packages` does; returns their load ids."""
        return _sluice.drop_pending_packages(self.pipelines_dir, self.pipeline_name)

    def __repr__(self) -> str:
        return (
            f"<sluice.Pipeline {self.pipeline_name!r} → {self.destination}"
            f" dataset {self.dataset_name or self.pipeline_name + '_dataset'!r}>"
        )


def pipeline(
    pipeline_name: str,
    destination: str = "duckdb",
    dataset_name: Optional[str] = None,
    pipelines_dir: Optional[str] = None,
) -> Pipeline:
    """A pipeline named `pipeline_name` loading into `destination`: `duckdb` (the file
    `<name>.duckdb` here), `duckdb:PATH`, `postgres://user@host/db` (password from
    `PGPASSWORD`), `file:///DIR` or a bucket; the dataset defaults to `<name>_dataset`."""
    return Pipeline(pipeline_name, destination, dataset_name, pipelines_dir)


def run(
    path: Union[str, "os.PathLike[str]"],
    set: Optional[Mapping[str, Any]] = None,
    *,
    pipelines_dir: Optional[str] = None,
    schema_contract: Union[str, Mapping[str, str], None] = None,
) -> RunInfo:
    """Run a pipeline file with its (wasm) connector, as `sluice run` does; `set` overrides
    values as `--set KEY=VALUE` does."""
    sets = [f"{k}={_set_value(v)}" for k, v in (set or {}).items()]
    text = _sluice.run_file(
        os.fspath(path),
        sets,
        os.path.abspath(pipelines_dir) if pipelines_dir else None,
        _contract(schema_contract),
    )
    return RunInfo._of(text)


def _set_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return v
    return json.dumps(v)
