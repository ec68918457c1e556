"""A generator of 1M records loads with flat memory: peak RSS measured in a child process for
200k and 1M records must stay within 1.3× (plus the interpreter's own growth)."""

import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import json, resource, sys
    import sluice

    n = int(sys.argv[1])
    def records():
        for i in range(n):
            yield {"id": i, "name": f"user {i}", "score": i * 0.5, "tags": {"a": i % 7}}

    p = sluice.pipeline("mem", destination="duckdb:" + sys.argv[2] + "/mem.duckdb",
                        pipelines_dir=sys.argv[2] + "/pipelines")
    info = p.run(records(), table_name="users")
    print(json.dumps({"rows": info.tables["users"],
                      "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    """
)


def peak(n, tmp_path):
    d = tmp_path / str(n)
    d.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), str(d)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_million_record_generator_loads_in_flat_memory(tmp_path):
    small = peak(200_000, tmp_path)
    large = peak(1_000_000, tmp_path)
    assert small["rows"] == 200_000 and large["rows"] == 1_000_000
    print(f"peak RSS: 200k records {small['rss_kb'] // 1024} MiB, "
          f"1M records {large['rss_kb'] // 1024} MiB")
    assert large["rss_kb"] <= small["rss_kb"] * 1.3, (small, large)
