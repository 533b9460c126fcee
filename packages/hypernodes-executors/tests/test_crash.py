"""How a dead pool worker is described, from what the caller knew when it died (no processes needed)."""

from __future__ import annotations

import signal
from typing import Any

from hypernodes.executors._crash import Crash, describe


def _crash(**fields: Any) -> Crash:
    base: dict[str, Any] = {
        "owner": "ProcessPoolExecutor(max_workers=2)",
        "pipeline": "p",
        "start": 10,
        "stop": 20,
        "pid": 11,
        "exit_code": -signal.SIGKILL,
    }
    return Crash(**{**base, **fields})


def test_names_the_chunk_the_dead_worker_held_and_why_it_died() -> None:
    error = describe(_crash())
    assert "died while running map items 10-19 (pid 11, killed by SIGKILL) of pipeline 'p'" in str(error)
    assert "out of memory" in str(error)
    assert "a rerun computes only the items that did not finish" in str(error)
    assert "chunksize=1 names the very item" in str(error)
    assert error.item_index == 10


def test_names_one_item_and_a_run() -> None:
    assert "died while running map item 10 (pid 11, exit code 3)" in str(describe(_crash(stop=11, exit_code=3)))
    error = describe(_crash(start=0, stop=None, exit_code=-signal.SIGSEGV))
    assert "died while running the run (pid 11, killed by SIGSEGV)" in str(error)
    assert "native code" in str(error)
    assert error.item_index is None


def test_a_worker_that_never_started_died_while_starting() -> None:
    error = describe(_crash(started=False, exit_code=1))
    assert "died while starting, before it ran any item of pipeline 'p' (exit code 1)" in str(error)
    assert '`if __name__ == "__main__":`' in str(error)


def test_workers_stopped_by_the_executor_are_not_called_a_crash() -> None:
    error = describe(_crash(stopped=True, pid=None, exit_code=None))
    assert "were stopped while map items 10-19 of pipeline 'p' was waiting or running" in str(error)
