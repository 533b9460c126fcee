"""DaskExecutor on a LocalCluster of worker processes: tasks, chunks, nesting, events, errors, resources."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hypernodes import CacheSpec, InvalidArgumentError, Pipeline, PipelineCallback, RuntimeConfig, node
from hypernodes.distributed import DaskExecutor
from hypernodes.testing.recording import RecordingCallback

T = TypeVar("T")
DEADLINE = 60.0  # seconds before a blocked test is declared deadlocked (never reached when it passes)


def finishes(function: Callable[[], T], seconds: float = DEADLINE) -> T:
    """Return `function()`, run in a daemon thread; fail (instead of hanging) if it deadlocks."""
    box: list[tuple[bool, Any]] = []
    thread = threading.Thread(target=lambda: box.append(_call(function)), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise AssertionError(f"deadlocked: still running after {seconds}s")
    ok, value = box[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


def _call(function: Callable[[], T]) -> tuple[bool, Any]:
    try:
        return True, function()
    except BaseException as exc:
        return False, exc


def _task_key() -> str:
    import distributed

    return str(distributed.get_worker().get_current_task())


@node(output_name="a")
def task_a(x: int) -> tuple[int, str]:
    return x + 1, _task_key()


@node(output_name="b")
def task_b(x: int) -> tuple[int, str]:
    return x * 10, _task_key()


@node(output_name="joined")
def join(a: tuple[int, str], b: tuple[int, str]) -> tuple[int, str]:
    return a[0] + b[0], _task_key()


@node(output_name="key")
def where(x: int) -> str:
    return _task_key()


class CustomError(Exception):
    """An exception class defined in this (by-path) test module."""


@node(output_name="y")
def fails_on_three(x: int) -> int:
    if x == 3:
        raise CustomError(f"bad item {x}")
    return x


@node(output_name="y")
def waits_for_file(x: int, marker: str) -> int:
    """Item 1 waits until the caller's callback saw item 0 end (bounded: fail, never hang)."""
    if x == 1:
        deadline = time.monotonic() + 30
        while not Path(marker).exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the caller never saw item 0 end while item 1 ran: events are not live")
            time.sleep(0.02)
    return x


class _MarkOnItemEnd(PipelineCallback):
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def on_node_end(self, ctx: Any, node: str, outputs: Any, duration: float) -> None:
        if ctx.item_index == 0:
            self.marker.touch()


@node(output_name="doubled")
def double(x: int) -> int:
    return 2 * x


@pytest.fixture(name="dask", scope="module")
def dask_fixture(dask_client: Any) -> Iterator[DaskExecutor]:
    with DaskExecutor(client=dask_client, resource_timeout=0.5) as executor:
        yield executor


def test_independent_nodes_are_separate_tasks_fed_by_upstream_tasks(dask: DaskExecutor) -> None:
    out = Pipeline(nodes=[task_a, task_b, join]).run(inputs={"x": 2}, config=RuntimeConfig(executor=dask))
    assert (out["a"][0], out["b"][0], out["joined"][0]) == (3, 20, 23)
    keys = {out["a"][1], out["b"][1], out["joined"][1]}
    assert len(keys) == 3 and all(key.startswith("run_one_step") for key in keys)


def test_map_items_are_chunked_into_tasks(dask: DaskExecutor, dask_client: Any) -> None:
    p = Pipeline(nodes=[where])
    keys = p.map(inputs={"x": list(range(40))}, map_over="x", config=RuntimeConfig(executor=dask))["key"]
    threads = sum(dask_client.nthreads().values())  # asks the scheduler (scheduler_info() may lag)
    assert len(set(keys)) == 4 * threads  # about four chunks per worker thread by default
    with DaskExecutor(client=dask_client, chunksize=10) as tens:
        keys = p.map(inputs={"x": list(range(40))}, map_over="x", config=RuntimeConfig(executor=tens))["key"]
    assert [len({keys[i] for i in range(s, s + 10)}) for s in range(0, 40, 10)] == [1, 1, 1, 1]
    assert len(set(keys)) == 4


def test_node_error_comes_back_as_its_own_type_with_the_note(dask: DaskExecutor) -> None:
    p = Pipeline(nodes=[fails_on_three], name="fragile")
    with pytest.raises(CustomError, match="bad item 3") as info:
        p.map(inputs={"x": [1, 2, 3, 4]}, map_over="x", config=RuntimeConfig(executor=dask))
    assert "in node 'fails_on_three' of fragile, map item 2" in info.value.__notes__
    assert "bad item 3" in str(info.value.__cause__)  # the worker's traceback


def test_events_reach_the_caller_while_tasks_run(dask_client: Any, tmp_path: Path) -> None:
    marker = tmp_path / "item-0-ended"
    recorder = RecordingCallback()
    with DaskExecutor(client=dask_client, chunksize=1) as executor:
        config = RuntimeConfig(executor=executor, callbacks=[_MarkOnItemEnd(marker), recorder])
        out = Pipeline(nodes=[waits_for_file]).map(
            inputs={"x": [0, 1], "marker": str(marker)}, map_over="x", config=config
        )
    assert out == {"y": [0, 1]}
    assert sorted(e.item_index for e in recorder.hooks("on_node_end")) == [0, 1]


def test_a_resource_no_worker_has_is_a_clear_error_not_a_hang(dask: DaskExecutor, dask_client: Any) -> None:
    gpu = DaskExecutor(client=dask_client, resources={"GPU": 1}, resource_timeout=0.5)
    with pytest.raises(InvalidArgumentError, match="GPU=1") as info:
        finishes(lambda: Pipeline(nodes=[double]).run(inputs={"x": 1}, config=RuntimeConfig(executor=gpu)))
    assert "--resources" in str(info.value)


def test_a_node_asking_for_a_missing_resource_fails_before_any_task(dask: DaskExecutor) -> None:
    tpu = RuntimeConfig(executor=dask.with_resources(TPU=2))
    p = Pipeline(nodes=[double.with_config(tpu)], config=RuntimeConfig(executor=dask))
    with pytest.raises(InvalidArgumentError, match="TPU=2"):
        finishes(lambda: p.map(inputs={"x": [1, 2]}, map_over="x"))


def test_invalid_arguments_name_the_argument(dask_client: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="n_workers"):
        DaskExecutor(n_workers=0)
    with pytest.raises(InvalidArgumentError, match="not both"):
        DaskExecutor("tcp://127.0.0.1:1", client=dask_client)
    with pytest.raises(InvalidArgumentError, match="resources"):
        DaskExecutor(resources={"GPU": -1})


def test_a_given_client_is_never_closed(dask_client: Any) -> None:
    executor = DaskExecutor(client=dask_client)
    Pipeline(nodes=[double]).run(inputs={"x": 1}, config=RuntimeConfig(executor=executor))
    executor.close()
    executor.close()
    assert dask_client.status == "running"


def test_without_address_it_starts_owns_and_closes_a_local_cluster() -> None:
    executor = DaskExecutor(n_workers=1, processes=False)
    try:
        out = Pipeline(nodes=[double]).map(inputs={"x": [1, 2]}, map_over="x", config=RuntimeConfig(executor=executor))
        assert out == {"doubled": [2, 4]}
        client = executor.client
        cluster = executor._cluster
        assert cluster is not None and client.status == "running"
    finally:
        executor.close()
    assert client.status == "closed" and cluster.status.name == "closed"
    executor.close()  # a second close is a no-op


def test_entries_written_by_a_local_run_are_hit_by_the_cluster_run(dask: DaskExecutor, tmp_path: Path) -> None:
    """Signatures chain from task to task as they do in one process (nodes of an installed module)."""
    from hypernodes.testing.nodes import add
    from hypernodes.testing.nodes import double as double_node
    from hypernodes.testing.nodes import square as square_node

    p = Pipeline(nodes=[double_node, square_node, add], name="diamond")
    cache = CacheSpec(kind="disk", path=tmp_path / "cache")
    local = p.run(inputs={"x": 4}, config=RuntimeConfig(cache=cache))
    recorder = RecordingCallback()
    remote = p.run(inputs={"x": 4}, config=RuntimeConfig(executor=dask, cache=cache, callbacks=[recorder]))
    assert remote == local == {"doubled": 8, "squared": 16, "sum": 24}
    assert sorted(e.subject for e in recorder.hooks("on_node_cached")) == ["add", "double", "square"]
    assert recorder.hooks("on_node_start") == []


@node(output_name="size")
def measure(x: int, blob: str) -> int:
    return len(blob) + x


def test_a_large_shared_payload_is_scattered_once_and_still_reaches_every_task(dask: DaskExecutor) -> None:
    blob = "x" * 200_000  # past the size that travels inside each task
    p = Pipeline(nodes=[measure, task_a, task_b, join])
    out = p.map(inputs={"x": [1, 2, 3], "blob": blob}, map_over="x", config=RuntimeConfig(executor=dask))
    assert out["size"] == [200_001, 200_002, 200_003]
    run = p.run(inputs={"x": 1, "blob": blob}, config=RuntimeConfig(executor=dask))
    assert (run["size"], run["joined"][0]) == (200_001, 12)
