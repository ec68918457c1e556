"""Failures as Python exceptions with the command line's messages, nothing committed lost."""

import threading
import time

import pyarrow as pa
import pytest

import sluice
from conftest import rows


def test_a_contract_violation_raises_and_leaves_committed_rows(make_pipeline):
    p = make_pipeline()
    p.run([{"id": 1}], table_name="t")
    with pytest.raises(sluice.ContractViolation) as e:
        p.run([{"id": 2, "new": "x"}], table_name="t", schema_contract={"columns": "freeze"})
    text = str(e.value)
    assert "pipeline `p` failed" in text
    assert "`new`" in text and "freeze" in text
    assert "abort-packages" in text  # what frees the pending package, as the CLI says
    assert isinstance(e.value, sluice.SluiceError)
    assert rows(p, "SELECT id FROM t") == [(1,)]
    # the refused package stays pending until it is set aside; then runs go on
    with pytest.raises(sluice.ContractViolation):
        p.run([{"id": 3}], table_name="t", schema_contract="freeze")
    assert len(p.drop_pending_packages()) == 1
    p.run([{"id": 3}], table_name="t", schema_contract="freeze")
    assert rows(p, "SELECT id FROM t ORDER BY id") == [(1,), (3,)]


def test_an_exception_in_the_generator_is_raised_as_is_and_loads_nothing(make_pipeline):
    class Broken(Exception):
        pass

    def records():
        for i in range(30_000):
            if i == 25_000:
                raise Broken("source went away")
            yield {"id": i}

    p = make_pipeline()
    with pytest.raises(Broken, match="source went away"):
        p.run(records(), table_name="t")
    # the open package was discarded: no table, no load
    assert p.dataset().table_names == [] and p.dataset().loads() == []
    # the pipeline is usable afterwards, with nothing pending
    assert p.run([{"id": 1}], table_name="t").tables == {"t": 1}


def test_a_record_that_is_not_a_dict_names_its_position(make_pipeline):
    with pytest.raises(TypeError, match="record 3: expected a dict, got int"):
        make_pipeline().run([{"a": 1}, {"a": 2}, 5], table_name="t")


def test_a_wrong_destination_is_a_configuration_error(make_pipeline):
    p = make_pipeline(destination="nowhere://x")
    with pytest.raises(sluice.ConfigurationError, match="pipeline `p` failed"):
        p.run([{"id": 1}], table_name="t")


def test_merge_into_files_is_refused_before_anything_runs(make_pipeline, tmp_path):
    p = make_pipeline(destination=f"file://{tmp_path / 'lake'}")
    with pytest.raises(sluice.ConfigurationError, match="merge needs a SQL destination"):
        p.run([{"id": 1}], table_name="t", write_disposition="merge", primary_key="id")


def test_the_gil_is_released_while_the_engine_works(make_pipeline):
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    table = pa.table({"i": pa.array(range(2_000_000), pa.int64())})
    p = make_pipeline()
    t = threading.Thread(target=tick)
    t.start()
    try:
        started = time.perf_counter()
        p.run(table, table_name="big")
        ended = time.perf_counter()
    finally:
        stop.set()
        t.join()
    during = [x for x in ticks if started < x < ended]
    # a Python thread kept running during the load: the engine held no GIL
    assert len(during) >= 10, (len(during), ended - started)


def test_ctrl_c_stops_a_run_fed_by_a_generator_with_nothing_loaded(make_pipeline):
    import os
    import signal

    def records():
        for i in range(1_000_000):
            if i == 30_000:
                os.kill(os.getpid(), signal.SIGINT)
            yield {"id": i}

    p = make_pipeline()
    with pytest.raises(KeyboardInterrupt):
        p.run(records(), table_name="t")
    assert p.dataset().table_names == []


def test_ctrl_c_stops_a_run_fed_by_arrow_at_its_next_page(make_pipeline):
    import logging
    import os
    import signal
    import threading

    import pyarrow as pa

    # 92 pages of 128k rows; the signal is sent once the engine is extracting (its
    # `extract` stage reaches Python's logging), from another thread, after the main thread
    # has gone back into the engine
    rows = 12_000_000
    table = pa.table({"id": pa.array(range(rows), pa.int64())})

    class SignalOnExtract(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("extract"):
                threading.Timer(0.02, lambda: os.kill(os.getpid(), signal.SIGINT)).start()

    handler = SignalOnExtract()
    logger = logging.getLogger("sluice")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    p = make_pipeline()
    try:
        with pytest.raises(KeyboardInterrupt):
            p.run(table, table_name="t")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    # stopped before its end: of the open package nothing is kept (a package sealed earlier
    # by the package size limit would stay, as for any failed run)
    loaded = p.dataset().tables
    assert sum(t["rows"] for t in loaded if t["name"] == "t") < rows
