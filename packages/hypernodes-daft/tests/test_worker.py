"""DaftExecutor(use_process=True): items run through core's worker side in Daft's UDF processes."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from hypernodes import CacheSpec, Pipeline, RuntimeConfig, node
from hypernodes.daft import DaftExecutor
from hypernodes.testing.nodes import clean, count, explode, logged_square, read_calls
from hypernodes.testing.recording import RecordingCallback

from .nodes import Doc, make_doc


@pytest.fixture(name="processes", scope="module")
def processes_fixture() -> Iterator[DaftExecutor]:
    with DaftExecutor(use_process=True) as executor:
        yield executor


@node(output_name="pid")
def pid(x: int) -> int:
    return os.getpid()


def test_items_run_in_another_process(processes: DaftExecutor) -> None:
    out = Pipeline(nodes=[pid]).map(inputs={"x": [1, 2]}, map_over="x", config=RuntimeConfig(executor=processes))
    assert os.getpid() not in out["pid"]


def test_outputs_errors_and_models_come_back(processes: DaftExecutor) -> None:
    config = RuntimeConfig(executor=processes)
    assert Pipeline(nodes=[clean, count]).map(inputs={"text": ["A b", "c"]}, map_over="text", config=config) == {
        "clean": ["a b", "c"], "n_words": [2, 1], "n_chars": [3, 1],
    }  # fmt: skip
    assert Pipeline(nodes=[make_doc]).run(inputs={"x": 1}, config=config) == {"doc": Doc(text="doc 1", tags=["a"])}
    with pytest.raises(ValueError, match="x=2") as info:
        Pipeline(nodes=[explode], name="fragile").map(inputs={"x": [0, 2, 3]}, map_over="x", config=config)
    assert info.value.__notes__ == ["in node 'explode' of fragile, map item 1"]


def test_callbacks_fire_in_the_caller_and_the_disk_cache_is_shared(processes: DaftExecutor, tmp_path: Path) -> None:
    log = str(tmp_path / "calls.log")
    recorder = RecordingCallback()
    config = RuntimeConfig(
        executor=processes, cache=CacheSpec(kind="disk", path=tmp_path / "cache"), callbacks=[recorder]
    )
    p = Pipeline(nodes=[logged_square], name="p")
    for _ in range(2):
        assert p.map(inputs={"x": [1, 2, 3], "log": log}, map_over="x", config=config) == {"squared": [1, 4, 9]}
    assert sorted(read_calls(log)) == ["square-1", "square-2", "square-3"]
    counts = Counter(e.hook for e in recorder.events)
    assert counts["on_map_item_end"] == 6 and counts["on_node_end"] == 3 and counts["on_node_cached"] == 3


@node(output_name="where")
async def where_async(x: int) -> tuple[int, bool]:
    import asyncio

    from hypernodes.daft._scope import is_inside_udf

    await asyncio.sleep(0)
    return os.getpid(), is_inside_udf()


def test_a_composite_with_processes_runs_each_item_through_its_node_executor_there() -> None:
    from hypernodes.executors import AsyncExecutor, CompositeExecutor

    executor = CompositeExecutor(map_executor=DaftExecutor(use_process=True), node_executor=AsyncExecutor())
    with executor:
        out = Pipeline(nodes=[where_async]).map(
            inputs={"x": [1, 2, 3]}, map_over="x", config=RuntimeConfig(executor=executor)
        )
    assert all(pid != os.getpid() and inside for pid, inside in out["where"])
