from __future__ import annotations

import pickle
import threading
from collections.abc import Callable
from typing import Any

import pytest

from hypernodes import Pipeline, PipelineCallback, RuntimeConfig, node
from hypernodes.executors import ThreadPoolExecutor

DEADLINE = 60.0  # seconds a blocked wait lasts before the test fails (never reached when it passes)


def threads_named(prefix: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith(prefix)]



def _config(executor: ThreadPoolExecutor) -> RuntimeConfig:
    return RuntimeConfig(executor=executor)


def test_independent_nodes_run_concurrently() -> None:
    barrier = threading.Barrier(2, timeout=DEADLINE)  # breaks unless both nodes wait at once

    @node(output_name="left")
    def left(x: int) -> int:
        barrier.wait()
        return x

    @node(output_name="right")
    def right(x: int) -> int:
        barrier.wait()
        return -x

    with ThreadPoolExecutor(max_workers=1) as executor:  # the caller runs one, the worker the other
        assert Pipeline(nodes=[left, right]).run(inputs={"x": 1}, config=_config(executor)) == {
            "left": 1,
            "right": -1,
        }


def test_map_items_run_concurrently() -> None:
    barrier = threading.Barrier(4, timeout=DEADLINE)

    @node(output_name="y")
    def meet(x: int) -> int:
        barrier.wait()
        return x

    with ThreadPoolExecutor(max_workers=4) as executor:
        out = Pipeline(nodes=[meet]).map(inputs={"x": [0, 1, 2, 3]}, map_over="x", config=_config(executor))
    assert out == {"y": [0, 1, 2, 3]}


def test_map_runs_at_most_max_workers_items_at_once() -> None:
    lock = threading.Lock()
    active = [0]
    peak = [0]
    barrier = threading.Barrier(3, timeout=DEADLINE)  # proves 3 run at once

    @node(output_name="y")
    def track(x: int) -> int:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        if x < 3:
            barrier.wait()
        with lock:
            active[0] -= 1
        return x

    with ThreadPoolExecutor(max_workers=3) as executor:
        Pipeline(nodes=[track]).map(inputs={"x": list(range(12))}, map_over="x", config=_config(executor))
    assert peak[0] == 3


def test_a_linear_chain_runs_in_the_calling_thread() -> None:
    seen: list[threading.Thread] = []

    @node(output_name="a")
    def first(x: int) -> int:
        seen.append(threading.current_thread())
        return x + 1

    @node(output_name="b")
    def second(a: int) -> int:
        seen.append(threading.current_thread())
        return a + 1

    with ThreadPoolExecutor(max_workers=2) as executor:
        assert Pipeline(nodes=[first, second]).run(inputs={"x": 0}, config=_config(executor)) == {"a": 1, "b": 2}
        assert threads_named(executor.thread_name_prefix) == []  # no pool was even started
    assert seen == [threading.main_thread()] * 2


def test_nested_maps_with_one_worker_do_not_deadlock(finishes: Callable[..., Any]) -> None:
    @node(output_name="doubled")
    def double(x: int) -> int:
        return 2 * x

    @node(output_name="halved")
    def halve(x: int) -> float:
        return x / 2

    with ThreadPoolExecutor(max_workers=1) as executor:
        level1 = Pipeline(nodes=[double, halve], name="level1")
        level2 = Pipeline(nodes=[level1.as_node(map_over="x", name="per_x")], name="level2")
        level3 = Pipeline(nodes=[level2.as_node(map_over="x", name="per_list")], name="level3")
        out = finishes(
            lambda: level3.map(inputs={"x": [[[1, 2], [3]], [[4]]]}, map_over="x", config=_config(executor))
        )
    assert out["doubled"] == [[[2, 4], [6]], [[8]]]


def test_a_node_that_runs_a_pipeline_on_the_same_full_pool_does_not_deadlock(finishes: Callable[..., Any]) -> None:
    executor = ThreadPoolExecutor(max_workers=1)

    @node(output_name="doubled")
    def double(x: int) -> int:
        return 2 * x

    inner = Pipeline(nodes=[double], name="inner")

    @node(output_name="total")
    def run_inner(xs: list[int]) -> int:  # user code calling map from inside a worker
        return sum(inner.map(inputs={"x": xs}, map_over="x", config=_config(executor))["doubled"])

    with executor:
        out = finishes(
            lambda: Pipeline(nodes=[run_inner]).map(
                inputs={"xs": [[1, 2], [3], [4, 5, 6]]}, map_over="xs", config=_config(executor)
            )
        )
    assert out == {"total": [6, 6, 30]}


def test_node_error_reaches_the_caller_with_its_note() -> None:
    @node(output_name="y")
    def fail_on_two(x: int) -> int:
        if x == 2:
            raise KeyError(f"bad {x}")
        return x

    with ThreadPoolExecutor(max_workers=2) as executor, pytest.raises(KeyError, match="bad 2") as info:
        Pipeline(nodes=[fail_on_two], name="p").map(inputs={"x": [0, 1, 2, 3]}, map_over="x", config=_config(executor))
    assert info.value.__notes__ == ["in node 'fail_on_two' of p, map item 2"]


def test_failing_branch_raises_after_the_running_branch_finishes() -> None:
    finished = threading.Event()
    started = threading.Event()

    @node(output_name="slow")
    def slow_branch(x: int) -> int:
        started.set()
        finished.wait(DEADLINE)
        return x

    @node(output_name="bad")
    def bad_branch(x: int) -> int:
        started.wait(DEADLINE)
        finished.set()
        raise RuntimeError("boom")

    with ThreadPoolExecutor(max_workers=2) as executor, pytest.raises(RuntimeError, match="boom"):
        Pipeline(nodes=[slow_branch, bad_branch]).run(inputs={"x": 1}, config=_config(executor))


def test_keyboard_interrupt_stops_starting_items(interrupt_when: Callable[..., threading.Thread]) -> None:
    running = threading.Event()
    release = threading.Event()
    lock = threading.Lock()
    started: list[int] = []

    @node(output_name="y")
    def block(x: int) -> int:
        with lock:
            started.append(x)
            if len(started) == 2:
                running.set()
        release.wait(DEADLINE)
        return x

    executor = ThreadPoolExecutor(max_workers=2)
    interrupter = interrupt_when(running)
    with pytest.raises(KeyboardInterrupt):
        Pipeline(nodes=[block]).map(inputs={"x": list(range(10))}, map_over="x", config=_config(executor))
    interrupter.join()
    release.set()
    executor.close()  # waits for the two running items
    assert sorted(started) == [0, 1]


class _CountItems(PipelineCallback):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.indices: list[int] = []

    def on_map_item_end(self, ctx: object, index: int, duration: float) -> None:
        with self.lock:
            self.indices.append(index)


def test_item_hooks_fire_once_per_item() -> None:
    @node(output_name="y")
    def identity(x: int) -> int:
        return x

    callback = _CountItems()
    with ThreadPoolExecutor(max_workers=4) as executor:
        Pipeline(nodes=[identity]).map(
            inputs={"x": list(range(50))}, map_over="x", config=RuntimeConfig(executor=executor, callbacks=[callback])
        )
    assert sorted(callback.indices) == list(range(50))


def test_pool_starts_on_first_use_is_reused_and_close_leaves_no_thread() -> None:
    @node(output_name="y")
    def name_thread(x: int) -> str:
        return threading.current_thread().name

    executor = ThreadPoolExecutor(max_workers=2)
    prefix = executor.thread_name_prefix
    assert threads_named(prefix) == []
    p = Pipeline(nodes=[name_thread])
    first = set(p.map(inputs={"x": list(range(20))}, map_over="x", config=_config(executor))["y"])
    second = set(p.map(inputs={"x": list(range(20))}, map_over="x", config=_config(executor))["y"])
    assert len(first | second) <= 2  # the same two threads served both maps
    assert all(name.startswith(prefix) for name in first | second)
    executor.close()
    executor.close()  # idempotent
    assert threads_named(prefix) == []
    # a closed executor can be used again: it starts a new pool
    assert p.map(inputs={"x": [1, 2]}, map_over="x", config=_config(executor))["y"][0].startswith(prefix)
    executor.close()
    assert threads_named(prefix) == []


def test_pickles_without_its_pool() -> None:
    with ThreadPoolExecutor(max_workers=3) as executor:
        Pipeline(nodes=[node(lambda x: x, output_name="y")]).map(
            inputs={"x": [1, 2]}, map_over="x", config=_config(executor)
        )
        copy = pickle.loads(pickle.dumps(executor))
    assert isinstance(copy, ThreadPoolExecutor)
    assert copy.max_workers == 3
    assert repr(copy) == "ThreadPoolExecutor(max_workers=3)"


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_max_workers_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(ValueError, match="max_workers"):
        ThreadPoolExecutor(max_workers=bad)  # type: ignore[arg-type]
