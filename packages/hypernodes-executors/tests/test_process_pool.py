from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hypernodes import (
    CacheSpec,
    CallbackContext,
    Pipeline,
    PipelineCallback,
    RuntimeConfig,
    SerializationError,
    node,
)
from hypernodes.callbacks.relay import UnpicklableValue
from hypernodes.executors import ProcessPoolExecutor, ThreadPoolExecutor
from hypernodes.testing.nodes import double

DEADLINE = 60.0  # seconds a blocked wait lasts before the test fails (never reached when it passes)


@pytest.fixture(name="executor", scope="module")
def executor_fixture() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(max_workers=2) as executor:
        yield executor


def _config(executor: ProcessPoolExecutor, **fields: Any) -> RuntimeConfig:
    return RuntimeConfig(executor=executor, **fields)


def _wait_for(path: Path) -> None:
    """Wait (bounded) until `path` exists; a test fails on the deadline, it never passes by time."""
    deadline = time.monotonic() + DEADLINE
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.005)


@node(output_name="pid")
def worker_pid(x: int) -> int:
    return os.getpid()


@node(output_name="met")
def meet(x: int, folder: str) -> int:
    """Item x announces itself and waits until the other item did too: both must run at once."""
    Path(folder, f"here-{x}").touch()
    _wait_for(Path(folder, f"here-{1 - x}"))
    return os.getpid()


def test_lambdas_and_closures_defined_here_run_in_worker_processes(executor: ProcessPoolExecutor) -> None:
    offset = 10
    add_offset = node(lambda x: x + offset, output_name="shifted")
    out = Pipeline(nodes=[add_offset, worker_pid]).map(inputs={"x": [1, 2, 3]}, map_over="x", config=_config(executor))
    assert out["shifted"] == [11, 12, 13]
    assert os.getpid() not in out["pid"]


def test_items_run_in_parallel_processes(executor: ProcessPoolExecutor, tmp_path: Path) -> None:
    out = Pipeline(nodes=[meet]).map(
        inputs={"x": [0, 1], "folder": str(tmp_path)}, map_over="x", config=_config(executor)
    )
    assert len(set(out["met"])) == 2


def test_a_chunk_of_items_runs_in_one_worker() -> None:
    with ProcessPoolExecutor(max_workers=2, chunksize=3) as executor:
        out = Pipeline(nodes=[worker_pid]).map(inputs={"x": list(range(7))}, map_over="x", config=_config(executor))
    pids = out["pid"]
    assert pids[0] == pids[1] == pids[2]
    assert pids[3] == pids[4] == pids[5]


def test_a_run_goes_to_a_worker_process(executor: ProcessPoolExecutor) -> None:
    assert Pipeline(nodes=[worker_pid]).run(inputs={"x": 1}, config=_config(executor))["pid"] != os.getpid()


def test_nested_map_inside_a_worker_runs_inline_there(executor: ProcessPoolExecutor) -> None:
    inner = Pipeline(nodes=[worker_pid], name="inner").as_node(map_over="x", output_mapping={"pid": "pids"})
    outer = Pipeline(nodes=[inner], name="outer")
    out = outer.map(inputs={"x": [[1, 2, 3], [4, 5]]}, map_over="x", config=_config(executor))
    for pids in out["pids"]:
        assert len(set(pids)) == 1  # every nested item ran in the worker of its outer item
        assert os.getpid() not in pids


# -- callbacks ------------------------------------------------------------------------------------


class _Recorder(PipelineCallback):
    def __init__(self, folder: Path | None = None) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, Any]] = []
        self.states: list[dict[str, Any]] = []
        self.folder = folder

    def on_map_start(self, ctx: CallbackContext, total: int) -> None:
        ctx.state["marker"] = "set in the caller"

    def on_map_item_end(self, ctx: CallbackContext, index: int, duration: float) -> None:
        with self.lock:
            self.events.append(("item", index))
            self.states.append(ctx.state)
        if self.folder is not None:
            Path(self.folder, f"seen-{index}").touch()

    def on_node_end(self, ctx: CallbackContext, node: str, outputs: Any, duration: float) -> None:
        with self.lock:
            self.events.append((node, dict(outputs)))


@node(output_name="y")
def wait_for_caller(x: int, folder: str) -> int:
    if x == 1:  # item 0 ran in this same worker: its end event must reach the caller first
        _wait_for(Path(folder, "seen-0"))
    return x


def test_events_reach_the_caller_live_with_the_callers_state(tmp_path: Path) -> None:
    recorder = _Recorder(tmp_path)
    with ProcessPoolExecutor(max_workers=1, chunksize=2) as executor:
        out = Pipeline(nodes=[wait_for_caller]).map(
            inputs={"x": [0, 1], "folder": str(tmp_path)}, map_over="x", config=_config(executor, callbacks=[recorder])
        )
    assert out == {"y": [0, 1]}
    assert sorted(index for kind, index in recorder.events if kind == "item") == [0, 1]
    assert all(state["marker"] == "set in the caller" for state in recorder.states)


@node(output_name="guarded")
def make_lock(x: int) -> threading.Lock:
    return threading.Lock()


@node(output_name="y")
def use_lock(guarded: threading.Lock, x: int) -> int:
    with guarded:
        return x


def test_unpicklable_values_in_events_become_placeholders(executor: ProcessPoolExecutor) -> None:
    recorder = _Recorder()
    p = Pipeline(nodes=[make_lock, use_lock])
    out = p.map(inputs={"x": [1, 2]}, map_over="x", output_name="y", config=_config(executor, callbacks=[recorder]))
    assert out == {"y": [1, 2]}
    locks = [outputs["guarded"] for name, outputs in recorder.events if name == "make_lock"]
    assert len(locks) == 2
    assert all(isinstance(value, UnpicklableValue) and value.type_name == "lock" for value in locks)


def test_cache_is_made_in_the_workers_from_its_spec(executor: ProcessPoolExecutor, tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    calls.mkdir()

    @node(output_name="y")
    def count_calls(x: int, folder: str) -> int:
        Path(folder, f"{x}-{time.monotonic_ns()}").touch()
        return x

    config = _config(executor, cache=CacheSpec(kind="disk", path=str(tmp_path / "cache")))
    p = Pipeline(nodes=[count_calls])
    for _ in range(2):
        assert p.map(inputs={"x": [1, 2, 3], "folder": str(calls)}, map_over="x", config=config) == {"y": [1, 2, 3]}
    assert len(list(calls.iterdir())) == 3  # the second map was served by the workers' disk cache


# -- failures -------------------------------------------------------------------------------------


@node(output_name="y")
def fail_on_two(x: int) -> int:
    if x == 2:
        raise KeyError(f"bad {x}")
    return x


def test_node_error_keeps_its_type_and_note(executor: ProcessPoolExecutor) -> None:
    with pytest.raises(KeyError, match="bad 2") as info:
        Pipeline(nodes=[fail_on_two], name="p").map(inputs={"x": [0, 1, 2, 3]}, map_over="x", config=_config(executor))
    assert info.value.__notes__ == ["in node 'fail_on_two' of p, map item 2"]
    assert "fail_on_two" in str(info.value.__cause__)  # the worker's traceback


def test_unpicklable_shared_input_names_the_input_and_type(executor: ProcessPoolExecutor) -> None:
    with pytest.raises(SerializationError, match=r"input 'guarded' .* is a lock.*'use_lock'") as info:
        Pipeline(nodes=[use_lock], name="p").map(
            inputs={"x": [1, 2], "guarded": threading.Lock()}, map_over="x", config=_config(executor)
        )
    assert info.value.input_name == "guarded"
    assert info.value.node_name == "use_lock"


def test_unpicklable_item_names_the_item(executor: ProcessPoolExecutor) -> None:
    with pytest.raises(SerializationError, match=r"input 'guarded' \(map item 1\)"):
        Pipeline(nodes=[use_lock], name="p").map(
            inputs={"x": [1, 2], "guarded": ["not a lock", threading.Lock()]},
            map_over=["x", "guarded"],
            config=_config(executor),
        )


def test_unpicklable_output_names_the_node_and_type(executor: ProcessPoolExecutor) -> None:
    with pytest.raises(SerializationError, match=r"output 'guarded' of node 'make_lock' .* is a lock") as info:
        Pipeline(nodes=[make_lock], name="p").map(inputs={"x": [1, 2]}, map_over="x", config=_config(executor))
    assert info.value.node_name == "make_lock"


class _SignalStart(PipelineCallback):
    def __init__(self) -> None:
        self.started = threading.Event()

    def on_map_item_start(self, ctx: CallbackContext, index: int) -> None:
        self.started.set()


@node(output_name="y")
def block_forever(x: int, folder: str) -> int:
    _wait_for(Path(folder, "never"))
    return x


def test_keyboard_interrupt_stops_the_workers(
    tmp_path: Path, interrupt_when: Callable[[threading.Event], threading.Thread]
) -> None:
    before = set(multiprocessing.active_children())
    signal_start = _SignalStart()
    executor = ProcessPoolExecutor(max_workers=2)
    interrupter = interrupt_when(signal_start.started)
    with pytest.raises(KeyboardInterrupt):
        Pipeline(nodes=[block_forever]).map(
            inputs={"x": [1, 2, 3], "folder": str(tmp_path)},
            map_over="x",
            config=_config(executor, callbacks=[signal_start]),
        )
    interrupter.join()
    assert set(multiprocessing.active_children()) <= before  # the workers were stopped, not left running
    executor.close()


# -- lifetime -------------------------------------------------------------------------------------


def test_pool_starts_on_first_use_is_reused_and_close_leaves_nothing() -> None:
    before_processes = set(multiprocessing.active_children())
    before_threads = set(threading.enumerate())
    executor = ProcessPoolExecutor(max_workers=1)
    assert set(multiprocessing.active_children()) == before_processes
    p = Pipeline(nodes=[worker_pid])
    first = p.map(inputs={"x": [1, 2]}, map_over="x", config=_config(executor))["pid"]
    second = p.map(inputs={"x": [1, 2]}, map_over="x", config=_config(executor))["pid"]
    assert set(first) == set(second)  # the same worker served both maps
    executor.close()
    executor.close()  # idempotent
    assert set(multiprocessing.active_children()) == before_processes
    assert set(threading.enumerate()) <= before_threads


def test_pickles_without_its_pool(executor: ProcessPoolExecutor) -> None:
    Pipeline(nodes=[worker_pid]).map(inputs={"x": [1]}, map_over="x", config=_config(executor))
    copy = pickle.loads(pickle.dumps(executor))
    assert repr(copy) == "ProcessPoolExecutor(max_workers=2, chunksize=None, start_method='spawn')"


def test_fork_is_refused() -> None:
    with pytest.raises(ValueError, match="'fork' is unsafe"):
        ProcessPoolExecutor(start_method="fork")  # type: ignore[arg-type]


def test_a_node_can_run_alone_in_a_worker_process() -> None:
    with ProcessPoolExecutor(max_workers=1) as processes, ThreadPoolExecutor(2) as threads:
        heavy = worker_pid.with_config(RuntimeConfig(executor=processes))
        p = Pipeline(nodes=[heavy], config=RuntimeConfig(executor=threads))  # a call-site config would win
        out = p.map(inputs={"x": [1, 2, 3]}, map_over="x")
    assert os.getpid() not in out["pid"]


def test_errors_in_worker_maps_nested_in_outer_items_name_every_item() -> None:
    from hypernodes import InlineExecutor
    from hypernodes.testing.nodes import explode

    with ProcessPoolExecutor(max_workers=1) as pool:
        inner = Pipeline(nodes=[explode], name="inner", config=RuntimeConfig(executor=pool)).as_node(
            map_over="x", name="per_x"
        )
        outer = Pipeline(nodes=[inner], name="corpus", config=RuntimeConfig(executor=InlineExecutor()))
        with pytest.raises(ValueError) as info:
            outer.map(inputs={"x": [[1], [0, 2]]}, map_over="x")
    assert "in node 'explode' of corpus[item 1] > per_x, map item 1" in info.value.__notes__


def test_workers_start_as_tasks_need_them_never_more_than_max_workers() -> None:
    def children() -> set[int | None]:
        return {process.pid for process in multiprocessing.active_children()}

    before = children()
    pipeline = Pipeline(nodes=[double])
    with ProcessPoolExecutor(max_workers=3, chunksize=1) as executor:
        config = RuntimeConfig(executor=executor)
        assert pipeline.run(inputs={"x": 2}, config=config) == {"doubled": 4}
        assert len(children() - before) == 1  # a run needs one worker, not max_workers of them
        assert pipeline.map(inputs={"x": list(range(12))}, map_over="x", config=config)["doubled"][-1] == 22
        assert 1 <= len(children() - before) <= 3
    assert not children() - before  # close() stopped them
