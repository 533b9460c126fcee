"""A node sent by value to worker processes keeps the caller's code hash, so the cache is shared."""

from __future__ import annotations

from pathlib import Path

from hypernodes import CacheSpec, Pipeline, RuntimeConfig, node
from hypernodes.executors import ProcessPoolExecutor, SequentialExecutor
from hypernodes.testing.nodes import read_calls, record_call


@node(output_name="y")
def tripled(x: int, log: str) -> int:  # this test module is imported by path: it travels by value
    record_call(log, f"tripled-{x}")
    return 3 * x


def test_a_worker_run_hits_what_a_local_run_of_a_by_value_node_cached(tmp_path: Path) -> None:
    log = str(tmp_path / "calls.log")
    cache = CacheSpec(kind="disk", path=tmp_path / "cache")
    pipeline = Pipeline(nodes=[tripled], name="p")
    inputs = {"x": [1, 2, 3], "log": log}
    local = pipeline.map(inputs=inputs, map_over="x", config=RuntimeConfig(executor=SequentialExecutor(), cache=cache))
    with ProcessPoolExecutor(max_workers=2) as executor:
        remote = pipeline.map(inputs=inputs, map_over="x", config=RuntimeConfig(executor=executor, cache=cache))
    assert local == remote == {"y": [3, 6, 9]}
    assert sorted(read_calls(log)) == ["tripled-1", "tripled-2", "tripled-3"]  # the workers computed nothing
