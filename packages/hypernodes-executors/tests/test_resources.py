"""Which executors of this package use batch forms, and where resources are built."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from hypernodes import CacheSpec, Pipeline, RuntimeConfig, node
from hypernodes.executors import (
    AsyncExecutor,
    CompositeExecutor,
    ProcessPoolExecutor,
    SequentialExecutor,
    ThreadPoolExecutor,
)
from hypernodes.testing.nodes import read_calls
from hypernodes.testing.resource_nodes import builds, computed, counting_resource, scaling_node, teardowns, triple


def batch_calls(log: str) -> list[int]:
    return [int(line.split()[1]) for line in read_calls(log) if line.startswith("batch-call ")]


def test_the_process_pool_runs_each_chunk_through_the_batch_form(tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    with ProcessPoolExecutor(max_workers=2, chunksize=10) as executor:
        out = Pipeline(nodes=[triple]).map(
            inputs={"x": list(range(40)), "log": log}, map_over="x", config=RuntimeConfig(executor=executor)
        )
    assert out == {"tripled": [3 * x for x in range(40)]}
    assert sorted(batch_calls(log)) == [10, 10, 10, 10]  # one call per chunk
    assert not [line for line in read_calls(log) if line.startswith("item ")]  # the per-item function never ran


def test_the_process_pool_batches_only_the_misses_of_a_chunk(tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    with ProcessPoolExecutor(max_workers=2, chunksize=4) as executor:
        config = RuntimeConfig(executor=executor, cache=CacheSpec(kind="disk", path=tmp_path / "cache"))
        p = Pipeline(nodes=[triple])
        p.map(inputs={"x": [0, 2, 4, 6], "log": log}, map_over="x", config=config)
        assert p.map(inputs={"x": list(range(8)), "log": log}, map_over="x", config=config) == {
            "tripled": [3 * x for x in range(8)]
        }
    assert sorted(computed(log)) == list(range(8))
    assert sorted(batch_calls(log)) == [2, 2, 4]  # the second map's chunks held two misses each


@pytest.mark.parametrize(
    "make",
    [
        SequentialExecutor,
        lambda: ThreadPoolExecutor(2),
        lambda: AsyncExecutor(4),
        lambda: CompositeExecutor(map_executor=ProcessPoolExecutor(1), node_executor=SequentialExecutor()),
    ],
    ids=["sequential", "thread_pool", "asynchronous", "composite_over_processes"],
)
def test_other_executors_run_the_per_item_function(make: type, tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    with make() as executor:
        out = Pipeline(nodes=[triple]).map(
            inputs={"x": [1, 2, 3], "log": log}, map_over="x", config=RuntimeConfig(executor=executor)
        )
    assert out == {"tripled": [3, 6, 9]}
    assert batch_calls(log) == [] and sorted(computed(log)) == [1, 2, 3]


def test_process_pool_workers_build_a_resource_once_each_and_tear_it_down_on_close(tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    p = Pipeline(nodes=[scaling_node(counting_resource(log), batch=True)])
    with ProcessPoolExecutor(max_workers=2, chunksize=1) as executor:
        config = RuntimeConfig(executor=executor)
        for _ in range(3):
            assert p.map(inputs={"x": list(range(10))}, map_over="x", config=config) == {
                "scaled": [2 * x for x in range(10)]
            }
        processes = Counter(place.split(":")[0] for place in builds(log))
        assert 1 <= len(processes) <= 2 and set(processes.values()) == {1}  # 30 chunks, at most 2 builds
        assert teardowns(log) == []
    assert Counter(place.split(":")[0] for place in teardowns(log)) == processes


def test_a_node_with_its_own_executor_uses_that_executors_resources(tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    with ThreadPoolExecutor(2) as outer, SequentialExecutor() as own:
        scale = scaling_node(counting_resource(log)).with_config(executor=own)
        p = Pipeline(nodes=[scale], config=RuntimeConfig(executor=outer))  # a call-site config would win
        out = p.map(inputs={"x": [1, 2]}, map_over="x")
        assert out == {"scaled": [2, 4]}
        assert own.resource_pool.built == ("model",) and outer.resource_pool.built == ()


def _halve_batch(x: list[int], log: list[str]) -> list[float]:
    with open(log[0], "a", encoding="utf-8") as handle:
        handle.write(f"batch-call {len(x)}\n")
    return [v / 2 for v in x]


@node(output_name="half", batch=_halve_batch)
def halve(x: int, log: str) -> float:
    return x / 2


def test_a_batch_form_defined_in_a_test_module_reaches_the_workers(tmp_path: Path) -> None:
    log = str(tmp_path / "log")  # this module's functions travel by value, batch form included
    with ProcessPoolExecutor(max_workers=1, chunksize=5) as executor:
        out = Pipeline(nodes=[halve]).map(
            inputs={"x": list(range(10)), "log": log}, map_over="x", config=RuntimeConfig(executor=executor)
        )
    assert out == {"half": [x / 2 for x in range(10)]}
    assert batch_calls(log) == [5, 5]
