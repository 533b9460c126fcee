from __future__ import annotations

import asyncio
import pickle
import threading
from collections.abc import Callable
from typing import Any

import pytest

from hypernodes import CallbackContext, Pipeline, PipelineCallback, RuntimeConfig, node
from hypernodes.executors import AsyncExecutor
from hypernodes.executors.asynchronous import _wait_all

DEADLINE = 60.0  # seconds a blocked wait lasts before the test fails (never reached when it passes)


def _config(executor: AsyncExecutor) -> RuntimeConfig:
    return RuntimeConfig(executor=executor)


def test_independent_async_nodes_are_awaited_concurrently() -> None:
    events: dict[str, asyncio.Event] = {}

    def event(name: str) -> asyncio.Event:
        return events.setdefault(name, asyncio.Event())

    @node(output_name="left")
    async def left(x: int) -> int:
        event("left").set()
        await asyncio.wait_for(event("right").wait(), DEADLINE)  # only set if `right` runs meanwhile
        return x

    @node(output_name="right")
    async def right(x: int) -> int:
        event("right").set()
        await asyncio.wait_for(event("left").wait(), DEADLINE)
        return -x

    with AsyncExecutor() as executor:
        assert Pipeline(nodes=[left, right]).run(inputs={"x": 2}, config=_config(executor)) == {"left": 2, "right": -2}


def test_map_awaits_max_concurrency_items_at_once() -> None:
    active = [0]
    peak = [0]
    barriers: list[asyncio.Barrier] = []

    @node(output_name="y")
    async def track(x: int) -> int:
        if not barriers:
            barriers.append(asyncio.Barrier(3))
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        if x < 3:  # the first three meet: three are in flight at once
            await asyncio.wait_for(barriers[0].wait(), DEADLINE)
        await asyncio.sleep(0)
        active[0] -= 1
        return x

    with AsyncExecutor(max_concurrency=3) as executor:
        out = Pipeline(nodes=[track]).map(inputs={"x": list(range(10))}, map_over="x", config=_config(executor))
    assert out == {"y": list(range(10))}
    assert peak[0] == 3


def test_sync_nodes_run_off_the_event_loop() -> None:
    threads: list[threading.Thread] = []

    @node(output_name="y")
    def blocking(x: int) -> int:
        threads.append(threading.current_thread())
        return x

    async def main(executor: AsyncExecutor) -> dict[str, Any]:
        return await executor.run_async(Pipeline(nodes=[blocking]), inputs={"x": 1})

    with AsyncExecutor() as executor:
        assert asyncio.run(main(executor)) == {"y": 1}
    assert threads and threads[0] is not threading.main_thread()


def test_run_async_runs_on_the_callers_loop_without_blocking_it() -> None:
    async def main(executor: AsyncExecutor) -> tuple[dict[str, Any], dict[str, list[Any]]]:
        release = asyncio.Event()  # bound to this loop: the node can only await it here

        @node(output_name="y")
        async def wait_for_release(x: int) -> int:
            await asyncio.wait_for(release.wait(), DEADLINE)
            return x

        async def set_release() -> None:
            release.set()

        p = Pipeline(nodes=[wait_for_release])
        run, _ = await asyncio.gather(executor.run_async(p, inputs={"x": 1}), set_release())
        mapped = await executor.map_async(p, inputs={"x": [1, 2]}, map_over="x")
        return run, mapped

    with AsyncExecutor() as executor:
        assert asyncio.run(main(executor)) == ({"y": 1}, {"y": [1, 2]})


def test_sync_entry_points_work_inside_a_running_loop() -> None:
    @node(output_name="y")
    async def add_one(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    async def notebook_cell(executor: AsyncExecutor) -> dict[str, list[Any]]:
        return Pipeline(nodes=[add_one]).map(inputs={"x": [1, 2]}, map_over="x", config=_config(executor))

    with AsyncExecutor() as executor:
        assert asyncio.run(notebook_cell(executor)) == {"y": [2, 3]}


def test_many_nested_pipelines_with_sync_nodes_do_not_exhaust_threads(finishes: Callable[..., Any]) -> None:
    # Each nested node blocks a thread while its inner run proceeds on the loop; asyncio's
    # default executor (a handful of threads) would deadlock here.
    @node(output_name="doubled")
    def double(x: int) -> int:
        return 2 * x

    inner = Pipeline(nodes=[double], name="inner")
    middle = Pipeline(nodes=[inner.as_node(name="inner_node")], name="middle")
    outer = Pipeline(nodes=[middle.as_node(name="middle_node")], name="outer")
    with AsyncExecutor(max_concurrency=64) as executor:
        out = finishes(lambda: outer.map(inputs={"x": list(range(64))}, map_over="x", config=_config(executor)))
    assert out == {"doubled": [2 * x for x in range(64)]}


def test_nested_maps_with_concurrency_one_do_not_deadlock(finishes: Callable[..., Any]) -> None:
    @node(output_name="y")
    async def add_one(x: int) -> int:
        return x + 1

    level1 = Pipeline(nodes=[add_one], name="level1").as_node(map_over="x", name="per_x")
    level2 = Pipeline(nodes=[level1], name="level2")
    with AsyncExecutor(max_concurrency=1) as executor:
        out = finishes(lambda: level2.map(inputs={"x": [[1, 2], [3]]}, map_over="x", config=_config(executor)))
    assert out == {"y": [[2, 3], [4]]}


def test_node_error_keeps_its_type_and_note() -> None:
    @node(output_name="y")
    async def fail_on_two(x: int) -> int:
        if x == 2:
            raise KeyError(f"bad {x}")
        return x

    with AsyncExecutor() as executor, pytest.raises(KeyError, match="bad 2") as info:
        Pipeline(nodes=[fail_on_two], name="p").map(inputs={"x": [0, 1, 2]}, map_over="x", config=_config(executor))
    assert info.value.__notes__ == ["in node 'fail_on_two' of p, map item 2"]


class _SignalStart(PipelineCallback):
    def __init__(self) -> None:
        self.started = threading.Event()

    def on_map_item_start(self, ctx: CallbackContext, index: int) -> None:
        self.started.set()


def test_keyboard_interrupt_cancels_the_coroutines(interrupt_when: Callable[..., threading.Thread]) -> None:
    cancelled = threading.Event()

    @node(output_name="y")
    async def wait_forever(x: int) -> int:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return x

    callback = _SignalStart()
    with AsyncExecutor() as executor:
        interrupter = interrupt_when(callback.started)
        with pytest.raises(KeyboardInterrupt):
            Pipeline(nodes=[wait_forever]).map(
                inputs={"x": [1, 2]}, map_over="x", config=RuntimeConfig(executor=executor, callbacks=[callback])
            )
        interrupter.join()
        assert cancelled.wait(DEADLINE)


def test_keyboard_interrupt_cancels_nested_levels_and_close_returns(
    interrupt_when: Callable[..., threading.Thread], finishes: Callable[..., Any]
) -> None:
    started, cancelled = threading.Event(), threading.Event()

    @node(output_name="y")
    async def wait_forever(x: int) -> int:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return x

    inner = Pipeline(nodes=[wait_forever], name="inner")  # runs in a thread that waits for it
    outer = Pipeline(nodes=[inner.as_node(name="inner_node")], name="outer")
    executor = AsyncExecutor()
    interrupter = interrupt_when(started)
    with pytest.raises(KeyboardInterrupt):
        outer.map(inputs={"x": [1, 2]}, map_over="x", config=_config(executor))
    interrupter.join()
    assert cancelled.is_set()
    finishes(executor.close)  # waits for its threads: none is left waiting for a nested level


def test_a_closed_wait_for_items_cancels_them_without_awaiting() -> None:
    # The garbage collector closes, never cancels, a coroutine it finalises; awaiting in
    # there would raise "coroutine ignored GeneratorExit".
    async def main() -> asyncio.Task[None]:
        cancelled = asyncio.Event()

        async def item() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

        task = asyncio.create_task(item())
        await asyncio.sleep(0)  # the item starts waiting
        waiting = _wait_all([task])
        waiting.send(None)  # now suspended in asyncio.wait, as the items are
        waiting.close()
        await asyncio.wait_for(cancelled.wait(), DEADLINE)
        return task

    assert asyncio.run(main()).cancelled()


def test_close_leaves_no_thread_and_the_executor_pickles() -> None:
    @node(output_name="y")
    def blocking(x: int) -> int:
        return x

    executor = AsyncExecutor(max_concurrency=5)
    prefix = f"hypernodes-async-{executor._key[:8]}"
    Pipeline(nodes=[blocking]).map(inputs={"x": [1, 2, 3]}, map_over="x", config=_config(executor))
    assert any(t.name.startswith(prefix) for t in threading.enumerate())
    copy = pickle.loads(pickle.dumps(executor))
    assert repr(copy) == "AsyncExecutor(max_concurrency=5)"
    executor.close()
    executor.close()  # idempotent
    assert not any(t.name.startswith(prefix) for t in threading.enumerate())


@pytest.mark.parametrize("bad", [0, None, 2.0])
def test_max_concurrency_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        AsyncExecutor(max_concurrency=bad)  # type: ignore[arg-type]
