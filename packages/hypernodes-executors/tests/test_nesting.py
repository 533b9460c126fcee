"""Nesting never deadlocks: any executor, any depth, the smallest pools, and executors nested in each other."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hypernodes import Executor, Pipeline, RuntimeConfig, node
from hypernodes.executors import (
    AsyncExecutor,
    CompositeExecutor,
    ProcessPoolExecutor,
    SequentialExecutor,
    ThreadPoolExecutor,
)


@node(output_name="doubled")
def double(x: int) -> int:
    return 2 * x


@node(output_name="total")
def add_up(doubled: list[int]) -> int:
    return sum(doubled)


def _three_levels(inner_config: RuntimeConfig | None = None, middle_config: RuntimeConfig | None = None) -> Pipeline:
    level1 = Pipeline(nodes=[double], name="level1", config=inner_config)
    level2 = Pipeline(nodes=[level1.as_node(map_over="x", name="per_x"), add_up], name="level2", config=middle_config)
    return Pipeline(nodes=[level2.as_node(map_over="x", name="per_list")], name="level3")


SMALLEST: dict[str, Callable[[], Executor]] = {
    "sequential": SequentialExecutor,
    "asynchronous": lambda: AsyncExecutor(max_concurrency=1),
    "thread_pool": lambda: ThreadPoolExecutor(max_workers=1),
    "process_pool": lambda: ProcessPoolExecutor(max_workers=1, chunksize=1),
    "composite": lambda: CompositeExecutor(map_executor=ThreadPoolExecutor(1), node_executor=ThreadPoolExecutor(1)),
}


@pytest.mark.parametrize("make", SMALLEST.values(), ids=SMALLEST.keys())
def test_three_levels_of_maps_on_the_smallest_pool(make: Callable[[], Executor], finishes: Callable[..., Any]) -> None:
    with make() as executor:
        out = finishes(
            lambda: _three_levels().map(
                inputs={"x": [[[1, 2], [3]], [[4]]]}, map_over="x", config=RuntimeConfig(executor=executor)
            )
        )
    assert out == {"doubled": [[[2, 4], [6]], [[8]]], "total": [[6, 6], [8]]}


def test_executors_nested_in_each_other_in_a_cycle(finishes: Callable[..., Any]) -> None:
    threads = ThreadPoolExecutor(max_workers=1)
    coroutines = AsyncExecutor(max_concurrency=1)
    with threads, coroutines:
        # threads -> asyncio -> the same threads again
        p = _three_levels(
            inner_config=RuntimeConfig(executor=threads), middle_config=RuntimeConfig(executor=coroutines)
        )
        out = finishes(
            lambda: p.map(inputs={"x": [[[1, 2], [3]], [[4]]]}, map_over="x", config=RuntimeConfig(executor=threads))
        )
    assert out["total"] == [[6, 6], [8]]


def test_processes_then_threads_then_the_same_processes(finishes: Callable[..., Any]) -> None:
    processes = ProcessPoolExecutor(max_workers=1)
    threads = ThreadPoolExecutor(max_workers=1)
    with processes, threads:
        p = _three_levels(
            inner_config=RuntimeConfig(executor=processes), middle_config=RuntimeConfig(executor=threads)
        )
        out = finishes(
            lambda: p.map(inputs={"x": [[[1, 2], [3]], [[4]]]}, map_over="x", config=RuntimeConfig(executor=processes))
        )
    assert out["total"] == [[6, 6], [8]]
