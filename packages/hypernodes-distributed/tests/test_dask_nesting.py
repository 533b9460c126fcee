"""Nested pipelines and maps under DaskExecutor never deadlock, also on one worker with one thread."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hypernodes import Pipeline, RuntimeConfig, node
from hypernodes.distributed import DaskExecutor

from .test_dask_executor import finishes


@node(output_name="doubled")
def double(x: int) -> int:
    return 2 * x


@node(output_name="total")
def total(doubled: list[int]) -> int:
    return sum(doubled)


@pytest.fixture(name="single", scope="module")
def single_thread_executor() -> Iterator[DaskExecutor]:
    """A LocalCluster of ONE worker process with ONE thread: any task waiting on another would deadlock."""
    with DaskExecutor(n_workers=1, threads_per_worker=1, processes=True) as executor:
        yield executor


def _per_item() -> Pipeline:
    inner = Pipeline(nodes=[double], name="inner").as_node(map_over="x", name="per_x")
    return Pipeline(nodes=[inner, total], name="outer")


def test_a_nested_map_in_a_run_fans_out_without_deadlock(single: DaskExecutor) -> None:
    out = finishes(lambda: _per_item().run(inputs={"x": [1, 2, 3]}, config=RuntimeConfig(executor=single)))
    assert out == {"doubled": [2, 4, 6], "total": 12}


def test_a_nested_map_inside_map_items_runs_in_their_task(single: DaskExecutor) -> None:
    config = RuntimeConfig(executor=single)
    out = finishes(lambda: _per_item().map(inputs={"x": [[1], [2, 3], []]}, map_over="x", config=config))
    assert out == {"doubled": [[2], [4, 6], []], "total": [2, 10, 0]}


def test_three_levels_of_nesting(single: DaskExecutor) -> None:
    middle = _per_item().as_node(map_over="x", name="per_group")
    top = Pipeline(nodes=[middle], name="top")
    config = RuntimeConfig(executor=single)
    out = finishes(lambda: top.map(inputs={"x": [[[1, 2]], [[3]]]}, map_over="x", config=config))
    assert out == {"doubled": [[[2, 4]], [[6]]], "total": [[6], [6]]}


def test_a_node_on_another_dask_executor_of_the_same_cluster(single: DaskExecutor, dask_client: Any) -> None:
    """The node's own executor uses the session's cluster, from inside the single-thread cluster's tasks."""
    other = DaskExecutor(client=dask_client)
    p = Pipeline(nodes=[double.with_config(RuntimeConfig(executor=other))])
    out = finishes(lambda: p.map(inputs={"x": [1, 2]}, map_over="x", config=RuntimeConfig(executor=single)))
    assert out == {"doubled": [2, 4]}
