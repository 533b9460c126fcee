"""DaftExecutor as CompositeExecutor's map executor: a row per item, each item's steps on the node executor."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Iterator

import pytest

from hypernodes import ItemFailure, MemoryCache, Pipeline, RuntimeConfig, node
from hypernodes.daft import DaftExecutor
from hypernodes.daft._scope import is_inside_udf
from hypernodes.executors import AsyncExecutor, CompositeExecutor, SequentialExecutor
from hypernodes.testing import ExecutorBehaviourSuite
from hypernodes.testing.recording import RecordingCallback


def composite(threads: int | None = 4) -> CompositeExecutor:
    return CompositeExecutor(map_executor=DaftExecutor(threads=threads), node_executor=AsyncExecutor())


@pytest.fixture(name="executor_factory", scope="module")
def executor_factory_fixture() -> Callable[[], CompositeExecutor]:
    return functools.partial(composite, 4)


@pytest.fixture(name="executor", scope="module")
def executor_fixture(executor_factory: Callable[[], CompositeExecutor]) -> Iterator[CompositeExecutor]:
    with executor_factory() as executor:
        yield executor


class TestCompositeOverDaft(ExecutorBehaviourSuite):
    """Every behaviour of the suite, with Daft mapping the items and asyncio running each item's nodes."""


# -- the items are rows of a Daft query ----------------------------------------------------------


def test_each_item_runs_inside_a_daft_udf_through_the_node_executor(executor: CompositeExecutor) -> None:
    seen: list[tuple[bool, bool]] = []

    @node(output_name="both")
    async def both(x: int, y: int) -> int:
        seen.append((is_inside_udf(), asyncio.get_running_loop() is not None))
        await asyncio.sleep(0)
        return x + y

    @node(output_name="y")
    async def twice(x: int) -> int:
        return 2 * x

    out = Pipeline(nodes=[twice, both]).map(
        inputs={"x": [3, 1, 2]}, map_over="x", config=RuntimeConfig(executor=executor)
    )
    assert out == {"y": [6, 2, 4], "both": [9, 3, 6]}  # in item order
    assert seen == [(True, True)] * 3


def test_the_rows_of_a_batch_run_at_once_on_the_executors_threads() -> None:
    barrier = threading.Barrier(4, timeout=30)  # breaks, failing the map, unless 4 items run at once

    @node(output_name="waited")
    def wait(x: int) -> int:
        barrier.wait()
        return x

    executor = CompositeExecutor(map_executor=DaftExecutor(threads=4), node_executor=SequentialExecutor())
    with executor:
        out = Pipeline(nodes=[wait]).map(
            inputs={"x": [1, 2, 3, 4]}, map_over="x", config=RuntimeConfig(executor=executor)
        )
    assert out == {"waited": [1, 2, 3, 4]}


def test_the_first_failed_item_by_order_raises_its_own_error(executor: CompositeExecutor) -> None:
    @node(output_name="y")
    def fragile(x: int) -> int:
        if x in (2, 4):
            raise KeyError(f"no {x}")
        return x

    with pytest.raises(KeyError, match="no 2") as caught:
        Pipeline(nodes=[fragile]).map(inputs={"x": [1, 2, 3, 4]}, map_over="x", config=RuntimeConfig(executor=executor))
    assert any("fragile" in note for note in caught.value.__notes__)


def test_on_error_continue_gives_a_record_per_failed_item(executor: CompositeExecutor) -> None:
    @node(output_name="y")
    def fragile(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        return x

    out = Pipeline(nodes=[fragile]).map(
        inputs={"x": [1, 2, 3]}, map_over="x", config=RuntimeConfig(executor=executor), on_error="continue"
    )
    assert out["y"][0] == 1 and out["y"][2] == 3
    failure = out["y"][1]
    assert isinstance(failure, ItemFailure) and failure.item_index == 1 and failure.node_name == "fragile"
    assert isinstance(failure.exception, ValueError)


def test_item_hooks_and_the_cache_work_per_item(executor: CompositeExecutor) -> None:
    @node(output_name="y")
    def tenfold(x: int) -> int:
        return x * 10

    recorder = RecordingCallback()
    config = RuntimeConfig(executor=executor, cache=MemoryCache(), callbacks=[recorder])
    pipeline = Pipeline(nodes=[tenfold])
    assert pipeline.map(inputs={"x": [1, 2, 3]}, map_over="x", config=config) == {"y": [10, 20, 30]}
    assert pipeline.map(inputs={"x": [1, 2, 3]}, map_over="x", config=config) == {"y": [10, 20, 30]}
    assert len(recorder.hooks("on_node_start")) == 3  # the first map only: the rerun is served from the cache
    assert len(recorder.hooks("on_node_cached")) == 3
    assert sorted(e.subject for e in recorder.hooks("on_map_item_start")) == [0, 0, 1, 1, 2, 2]
