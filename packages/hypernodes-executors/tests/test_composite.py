from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import pytest

from hypernodes import InlineExecutor, Pipeline, RuntimeConfig, node
from hypernodes.executors import AsyncExecutor, CompositeExecutor, ProcessPoolExecutor, ThreadPoolExecutor

DEADLINE = 60.0  # seconds a blocked wait lasts before the test fails (never reached when it passes)


def test_threads_across_items_and_asyncio_within_an_item() -> None:
    barrier = threading.Barrier(2, timeout=DEADLINE)  # the two items run in two threads at once
    item_threads: set[str] = set()

    @node(output_name="left")
    async def left(x: int) -> int:
        item_threads.add(threading.current_thread().name)
        await asyncio.sleep(0)
        return x

    @node(output_name="right")
    async def right(x: int) -> int:
        await asyncio.sleep(0)
        return -x

    @node(output_name="total")
    def total(left: int, right: int, x: int) -> int:
        barrier.wait()
        return left + right + x

    executor = CompositeExecutor(map_executor=ThreadPoolExecutor(2), node_executor=AsyncExecutor())
    with executor:
        out = Pipeline(nodes=[left, right, total]).map(
            inputs={"x": [1, 2]}, map_over="x", config=RuntimeConfig(executor=executor)
        )
    assert out == {"left": [1, 2], "right": [-1, -2], "total": [1, 2]}


@node(output_name="pids")
def pid_pair(x: int) -> tuple[int, str]:
    return os.getpid(), threading.current_thread().name


def test_processes_across_items_and_threads_within_an_item() -> None:
    executor = CompositeExecutor(map_executor=ProcessPoolExecutor(2), node_executor=ThreadPoolExecutor(2))
    with executor:
        config = RuntimeConfig(executor=executor)
        out = Pipeline(nodes=[pid_pair]).map(inputs={"x": [1, 2, 3]}, map_over="x", config=config)
    assert all(pid != os.getpid() for pid, _ in out["pids"])


def test_a_single_run_goes_to_the_node_executor() -> None:
    runs: list[str] = []

    class Recording(InlineExecutor):
        def run_pipeline(self, request: Any) -> Any:
            runs.append(request.pipeline.name)
            return super().run_pipeline(request)

    with CompositeExecutor(map_executor=ThreadPoolExecutor(2), node_executor=Recording()) as executor:
        Pipeline(nodes=[node(lambda x: x, output_name="y")], name="single").run(
            inputs={"x": 1}, config=RuntimeConfig(executor=executor)
        )
    assert runs == ["single"]


def test_close_closes_both_executors() -> None:
    threads = ThreadPoolExecutor(2)
    composite = CompositeExecutor(map_executor=threads, node_executor=ThreadPoolExecutor(2))
    Pipeline(nodes=[node(lambda x: x, output_name="y")]).map(
        inputs={"x": [1, 2, 3]}, map_over="x", config=RuntimeConfig(executor=composite)
    )
    composite.close()
    composite.close()
    assert not any(t.name.startswith(threads.thread_name_prefix) for t in threading.enumerate())


def test_map_executor_must_be_an_executor() -> None:
    with pytest.raises(ValueError, match=r"map_executor=\.\.\..*got 'threads'"):
        CompositeExecutor(map_executor="threads", node_executor=AsyncExecutor())  # type: ignore[arg-type]


def test_any_executor_can_schedule_the_items_of_a_composite() -> None:
    @node(output_name="y")
    def where(x: int) -> str:
        return f"{x}"

    composite = CompositeExecutor(map_executor=InlineExecutor(), node_executor=ThreadPoolExecutor(2))
    out = Pipeline(nodes=[where]).map(inputs={"x": [1, 2]}, map_over="x", config=RuntimeConfig(executor=composite))
    assert out == {"y": ["1", "2"]}
    composite.close()


def test_repr_names_both_executors() -> None:
    executor: Any = CompositeExecutor(map_executor=ThreadPoolExecutor(3), node_executor=AsyncExecutor(4))
    assert repr(executor) == (
        "CompositeExecutor(map_executor=ThreadPoolExecutor(max_workers=3), "
        "node_executor=AsyncExecutor(max_concurrency=4))"
    )
