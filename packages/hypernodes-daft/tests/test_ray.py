"""DaftExecutor(runner="ray") on a local Ray: the behaviour suite and what differs from the native runner.

Daft sets its runner once per process, so these tests run in a pytest process of their own:
``uv run nox -s daft_ray`` (``pytest -m ray``). The local Ray (2 CPUs) starts once for the
module and stops at its end.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest

from hypernodes import InvalidArgumentError, Pipeline, RuntimeConfig, node
from hypernodes.daft import DaftExecutor
from hypernodes.testing import ExecutorBehaviourSuite
from hypernodes.testing.recording import RecordingCallback

from .nodes import Doc, make_doc

pytestmark = pytest.mark.ray


@pytest.fixture(name="executor", scope="module")
def executor_fixture() -> Iterator[DaftExecutor]:
    ray = pytest.importorskip("ray", reason="needs hypernodes-daft[ray]")
    # address="local": always a new Ray of our own, never a cluster another process started here
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with DaftExecutor(runner="ray") as executor:
            # The first query starts Daft's Ray workers (seconds): pay it here, not in a test's
            # progress bar, which would then print intermediate refreshes.
            Pipeline(nodes=[pid]).map(inputs={"x": [0, 1]}, map_over="x", config=RuntimeConfig(executor=executor))
            yield executor
    finally:
        ray.shutdown()


class TestDaftOnRay(ExecutorBehaviourSuite):
    """Every behaviour of the suite, under ``DaftExecutor(runner="ray")``."""


@node(output_name="pid")
def pid(x: int) -> int:
    return os.getpid()


def test_items_run_in_ray_workers(executor: DaftExecutor) -> None:
    out = Pipeline(nodes=[pid]).map(inputs={"x": [1, 2, 3]}, map_over="x", config=RuntimeConfig(executor=executor))
    assert os.getpid() not in out["pid"]


def test_models_and_callbacks_come_back(executor: DaftExecutor) -> None:
    recorder = RecordingCallback()
    config = RuntimeConfig(executor=executor, callbacks=[recorder])
    out = Pipeline(nodes=[make_doc]).map(inputs={"x": [1, 2]}, map_over="x", config=config)
    assert out == {"doc": [Doc(text="doc 1", tags=["a"]), Doc(text="doc 2", tags=["a", "a"])]}
    counts = Counter(e.hook for e in recorder.events)
    assert counts["on_map_item_end"] == 2 and counts["on_node_end"] == 2


def test_the_native_runner_is_refused_in_a_ray_process(executor: DaftExecutor) -> None:
    Pipeline(nodes=[pid]).run(inputs={"x": 1}, config=RuntimeConfig(executor=executor))
    with pytest.raises(InvalidArgumentError, match="'ray' runner"):
        Pipeline(nodes=[pid]).run(inputs={"x": 1}, config=RuntimeConfig(executor=DaftExecutor()))


@node(output_name="where")
async def where_async(x: int) -> int:
    import asyncio

    await asyncio.sleep(0)
    return os.getpid()


def test_a_composite_on_ray_runs_each_item_through_its_node_executor_in_a_worker(executor: DaftExecutor) -> None:
    from hypernodes.executors import AsyncExecutor, CompositeExecutor

    composite = CompositeExecutor(map_executor=executor, node_executor=AsyncExecutor())
    out = Pipeline(nodes=[where_async]).map(
        inputs={"x": [1, 2, 3]}, map_over="x", config=RuntimeConfig(executor=composite)
    )
    assert os.getpid() not in out["where"]
