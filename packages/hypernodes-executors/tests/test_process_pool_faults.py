"""ProcessPoolExecutor under faults: a dead caller, a dead worker, runaway calls, leaks, an unguarded script.

Each test uses real processes. Waits are bounded by generous deadlines that only stop a
test from hanging; nothing passes because of timing.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hypernodes import (
    CallbackContext,
    NodeTimeoutError,
    Pipeline,
    PipelineCallback,
    RuntimeConfig,
    WorkerCrashedError,
    node,
)
from hypernodes.executors import ProcessPoolExecutor

DEADLINE = 60.0  # seconds a bounded wait lasts before the test fails (never reached when it passes)


def _eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not true after {DEADLINE}s")
        time.sleep(0.05)


def _is_gone(pid: int) -> bool:
    """Whether process `pid` ended (a zombie nobody reaped yet counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
    return state in ("Z", "X")


def _kill_leftovers(pids: list[int]) -> None:
    for pid in pids:
        if not _is_gone(pid):
            os.kill(pid, signal.SIGKILL)


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(body))
    return path


@node(output_name="pid")
def worker_pid(x: int) -> int:
    return os.getpid()


# -- the caller dies mid-map ------------------------------------------------------------------------


_BLOCKING_PARENT = """
import os, threading
from pathlib import Path
from hypernodes import Pipeline, RuntimeConfig, node
from hypernodes.executors import ProcessPoolExecutor

@node(output_name="y")
def block(x: int, folder: str) -> int:
    Path(folder, f"{os.getpid()}.pid").touch()
    threading.Event().wait()  # until the worker is stopped
    return x

if __name__ == "__main__":
    with ProcessPoolExecutor(max_workers=2, chunksize=1, start_method=START_METHOD) as executor:
        Pipeline(nodes=[block]).map(
            inputs={"x": list(range(8)), "folder": FOLDER}, map_over="x",
            config=RuntimeConfig(executor=executor),
        )
"""


@pytest.mark.parametrize(
    ("how", "start_method"),
    [(signal.SIGKILL, "spawn"), (signal.SIGTERM, "spawn"), (signal.SIGKILL, "forkserver")],
    ids=["SIGKILL", "SIGTERM", "SIGKILL-forkserver"],
)
def test_workers_exit_when_the_caller_is_killed_mid_map(tmp_path: Path, how: signal.Signals, start_method: str) -> None:
    folder = tmp_path / "pids"
    folder.mkdir()
    body = _BLOCKING_PARENT.replace("FOLDER", repr(str(folder))).replace("START_METHOD", repr(start_method))
    script = _script(tmp_path, body)
    parent = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path)
    pids: list[int] = []
    try:
        _eventually(lambda: len(list(folder.iterdir())) == 2, "both workers started an item")
        pids = [int(path.stem) for path in folder.iterdir()]
        parent.send_signal(how)
        parent.wait(DEADLINE)
        _eventually(lambda: all(_is_gone(pid) for pid in pids), f"workers {pids} exited after the caller died")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        _kill_leftovers(pids)


# -- a worker dies ----------------------------------------------------------------------------------


@node(output_name="y")
def exit_on_37(x: int) -> int:
    if x == 37:
        os._exit(3)
    return x


@node(output_name="y")
def kill_self_on_37(x: int) -> int:
    if x == 37:
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
    return x


@node(output_name="y")
def segfault_on_37(x: int) -> int:
    if x == 37:
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    return x


@pytest.mark.parametrize(
    ("dying", "how"),
    [(exit_on_37, "exit code 3"), (kill_self_on_37, "killed by SIGKILL"), (segfault_on_37, "killed by SIGSEGV")],
    ids=["os._exit", "SIGKILL", "segfault"],
)
def test_a_dead_worker_names_the_items_it_held(dying: Any, how: str) -> None:
    with ProcessPoolExecutor(max_workers=2, chunksize=10) as executor:
        config = RuntimeConfig(executor=executor)
        with pytest.raises(WorkerCrashedError, match=rf"died while running map items 30-39 \(pid \d+, {how}\)") as info:
            Pipeline(nodes=[dying], name="p").map(inputs={"x": list(range(100))}, map_over="x", config=config)
        assert info.value.item_index == 30
        out = Pipeline(nodes=[worker_pid]).map(inputs={"x": [1, 2]}, map_over="x", config=config)
        assert len(out["pid"]) == 2  # the pool was restarted


def test_a_dead_run_says_it_was_a_run() -> None:
    with (
        ProcessPoolExecutor(max_workers=1) as executor,
        pytest.raises(WorkerCrashedError, match=r"died while running the run \(pid \d+, exit code 3\)"),
    ):
        Pipeline(nodes=[exit_on_37], name="p").run(inputs={"x": 37}, config=RuntimeConfig(executor=executor))


@node(output_name="pid")
def wait_for_go(x: int, folder: str) -> int:
    Path(folder, "started").touch()
    _eventually(lambda: Path(folder, "go").exists(), "the test let the item finish")
    return os.getpid()


def test_a_dead_worker_fails_only_its_own_map_and_the_other_worker_goes_on(tmp_path: Path) -> None:
    with ProcessPoolExecutor(max_workers=2) as executor:
        config = RuntimeConfig(executor=executor)
        box: list[object] = []
        waiting = Pipeline(nodes=[wait_for_go])
        inputs = {"x": [1], "folder": str(tmp_path)}
        other = threading.Thread(target=lambda: box.append(waiting.map(inputs=inputs, map_over="x", config=config)))
        other.start()
        try:
            _eventually(lambda: (tmp_path / "started").exists(), "the other map's item started")
            with pytest.raises(WorkerCrashedError, match=r"died while running map item 0 \(pid \d+, exit code 3\)"):
                Pipeline(nodes=[exit_on_37], name="p").map(inputs={"x": [37]}, map_over="x", config=config)
        finally:
            (tmp_path / "go").touch()
            other.join(DEADLINE)
        assert len(box) == 1 and isinstance(box[0], dict)  # the other map returned its result
        survivor = box[0]["pid"][0]
        assert not _is_gone(survivor)  # its worker was not stopped with the dead one
        out = Pipeline(nodes=[worker_pid]).map(inputs={"x": [1, 2]}, map_over="x", config=config)
        assert len(out["pid"]) == 2  # a new worker replaced the dead one


def test_a_script_that_never_closes_its_executor_exits(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        import weakref
        weakref.finalize(object.__new__(type("Early", (), {})), print)  # an exit hook registered early
        from hypernodes import Pipeline, RuntimeConfig, node
        from hypernodes.executors import ProcessPoolExecutor

        @node(output_name="y")
        def inc(x: int) -> int:
            return x + 1

        EXECUTOR = ProcessPoolExecutor(max_workers=2)  # a module global: alive until the interpreter exits

        if __name__ == "__main__":
            config = RuntimeConfig(executor=EXECUTOR)
            print(Pipeline(nodes=[inc]).map(inputs={"x": [1, 2]}, map_over="x", config=config))
        """,
    )
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=DEADLINE)
    assert done.returncode == 0, done.stderr
    assert "{'y': [2, 3]}" in done.stdout


# -- many small chunks ------------------------------------------------------------------------------


def test_thousands_of_one_item_chunks_come_back_in_order() -> None:
    # How long it takes (linear in the chunks) is measured in benchmarks/bench_executors.py.
    with ProcessPoolExecutor(max_workers=2, chunksize=1) as executor:
        out = Pipeline(nodes=[worker_pid]).map(
            inputs={"x": list(range(2000))}, map_over="x", config=RuntimeConfig(executor=executor)
        )
    assert len(out["pid"]) == 2000


# -- a callback that raises SystemExit --------------------------------------------------------------


class _Exiting(PipelineCallback):
    def on_map_item_end(self, ctx: CallbackContext, index: int, duration: float) -> None:
        raise SystemExit(f"callback exits at item {index}")


class _CountItems(PipelineCallback):
    def __init__(self) -> None:
        self.ended: list[int] = []

    def on_map_item_end(self, ctx: CallbackContext, index: int, duration: float) -> None:
        self.ended.append(index)


def test_a_callback_raising_system_exit_leaves_the_relay_working(finishes: Callable[..., Any]) -> None:
    p = Pipeline(nodes=[worker_pid])
    with ProcessPoolExecutor(max_workers=2) as executor:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            finishes(
                lambda: p.map(
                    inputs={"x": [1, 2, 3]},
                    map_over="x",
                    config=RuntimeConfig(executor=executor, callbacks=[_Exiting()]),
                )
            )
        assert any("SystemExit" in str(w.message) for w in caught)
        for _ in range(3):  # every later map gets all its events, promptly
            counter = _CountItems()
            config = RuntimeConfig(executor=executor, callbacks=[counter])
            finishes(lambda config=config: p.map(inputs={"x": [1, 2, 3]}, map_over="x", config=config), 20.0)
            assert sorted(counter.ended) == [0, 1, 2]


# -- an executor that is never closed ---------------------------------------------------------------


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _use_and_drop() -> str:
    executor = ProcessPoolExecutor(max_workers=1)
    Pipeline(nodes=[worker_pid]).map(inputs={"x": [1]}, map_over="x", config=RuntimeConfig(executor=executor))
    return f"hypernodes-events-{executor._key[:8]}"


def test_an_executor_never_closed_is_released_when_garbage_collected() -> None:
    _use_and_drop()  # the first pool starts what lives as long as this process (resource tracker)
    gc.collect()
    before_fds, before_children = _open_fds(), set(multiprocessing.active_children())
    names = [_use_and_drop() for _ in range(5)]
    gc.collect()
    alive = [thread.name for thread in threading.enumerate() if thread.name in names]
    assert alive == []  # every pool thread stopped
    assert set(multiprocessing.active_children()) <= before_children  # every worker stopped
    assert _open_fds() <= before_fds  # and every pipe closed


# -- a sync node overruns its timeout ---------------------------------------------------------------


@node(output_name="y")
def hang_once(x: int, folder: str) -> int:
    """Item 0 hangs on its first call (until its worker is stopped); every other call returns.

    The hung call writes its worker's pid to ``hung``; if it ever got past the hang (its
    worker was not stopped), it would write ``escaped`` once the test writes ``release``.
    """
    here = Path(folder)
    (here / f"{os.getpid()}.pid").touch()
    if x == 0 and not (here / "hung").exists():
        (here / "hung").write_text(str(os.getpid()))
        _eventually(lambda: (here / "release").exists(), "the test released the hung call")
        (here / "escaped").touch()
    return x


def _worker_pids(folder: Path) -> list[int]:
    return [int(path.stem) for path in folder.glob("*.pid")]


def _hung_worker(folder: Path) -> int:
    return int((folder / "hung").read_text())


@node(output_name="z")
def late_items_wait_for_the_kill(y: int, folder: str) -> int:
    """Items from 10 on wait until the worker of the hung call is gone: it must go while the map runs."""
    here = Path(folder)
    if y >= 10:
        _eventually(lambda: (here / "hung").exists() and _is_gone(_hung_worker(here)), "the hung worker was killed")
    (here / f"item-{y}-{os.getpid()}").touch()
    return y


def _pids_by_item(folder: Path) -> dict[int, int]:
    return {int(path.name.split("-")[1]): int(path.name.split("-")[2]) for path in folder.glob("item-*")}


def test_the_worker_of_a_call_that_overran_its_timeout_is_killed_while_the_map_goes_on(tmp_path: Path) -> None:
    overrun = hang_once.with_config(timeout=0.5, retries=1)  # the retry returns: the map succeeds
    with ProcessPoolExecutor(max_workers=2, chunksize=1) as executor:
        config = RuntimeConfig(executor=executor)  # the pipeline's: a call-site config would override the node's
        p = Pipeline(nodes=[overrun, late_items_wait_for_the_kill], name="p", config=config)
        out = p.map(inputs={"x": list(range(20)), "folder": str(tmp_path)}, map_over="x")
        assert out == {"y": list(range(20)), "z": list(range(20))}
        hung = _hung_worker(tmp_path)
        assert _is_gone(hung)  # killed during the map: items 10-19 waited for it
        (tmp_path / "release").touch()
        assert not (tmp_path / "escaped").exists()  # the hung call stopped with its process
        other = _pids_by_item(tmp_path)[1]  # item 1 went to the other worker while item 0 hung
        assert other != hung and not _is_gone(other)  # the other worker was not disturbed
        again = Pipeline(nodes=[worker_pid]).map(inputs={"x": list(range(8))}, map_over="x", config=config)
        assert hung not in again["pid"] and not any(_is_gone(pid) for pid in again["pid"])
        assert not _is_gone(other)


def test_a_worker_whose_node_overran_its_timeout_is_replaced(tmp_path: Path) -> None:
    p = Pipeline(nodes=[hang_once], name="p")
    with ProcessPoolExecutor(max_workers=2, chunksize=1) as executor:
        config = RuntimeConfig(executor=executor, timeout=0.5)
        with pytest.raises(NodeTimeoutError, match="'hang_once'"):
            p.map(inputs={"x": [0, 1], "folder": str(tmp_path)}, map_over="x", config=config)
        hung = _hung_worker(tmp_path)
        assert _is_gone(hung)  # killed before the map raised
        for path in tmp_path.glob("*.pid"):
            path.unlink()
        out = p.map(inputs={"x": [2, 3], "folder": str(tmp_path)}, map_over="x", config=config)
        assert out == {"y": [2, 3]}
        assert hung not in _worker_pids(tmp_path)  # served by the worker that replaced it (and the other one)


def test_a_call_retried_after_a_timeout_succeeds_and_its_worker_is_replaced(tmp_path: Path) -> None:
    p = Pipeline(nodes=[hang_once], name="p")
    with ProcessPoolExecutor(max_workers=1) as executor:
        config = RuntimeConfig(executor=executor, timeout=0.5, retries=1)
        assert p.map(inputs={"x": [0, 1], "folder": str(tmp_path)}, map_over="x", config=config) == {"y": [0, 1]}
        hung = _hung_worker(tmp_path)
        assert _is_gone(hung)
        assert Pipeline(nodes=[worker_pid]).run(inputs={"x": 1}, config=RuntimeConfig(executor=executor))["pid"] != hung


# -- a script without the __main__ guard ------------------------------------------------------------


def test_a_script_without_the_main_guard_is_told_how_to_fix_it(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        from hypernodes import Pipeline, RuntimeConfig, node
        from hypernodes.executors import ProcessPoolExecutor

        @node(output_name="y")
        def inc(x: int) -> int:
            return x + 1

        config = RuntimeConfig(executor=ProcessPoolExecutor(max_workers=1))
        Pipeline(nodes=[inc], name="unguarded").map(inputs={"x": [1, 2]}, map_over="x", config=config)
        """,
    )
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=DEADLINE)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("hypernodes.errors.WorkerCrashedError: the worker processes")
    assert "script.py runs pipeline 'unguarded' when it is imported" in last
    assert 'under `if __name__ == "__main__":`' in last
