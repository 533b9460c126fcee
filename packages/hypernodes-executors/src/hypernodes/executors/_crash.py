"""Say which items a dead pool worker held, and why it died (private).

Each worker of ``ProcessPoolExecutor`` holds one task at a time (see
:mod:`hypernodes.executors._pool`), so when one dies the caller knows exactly which chunk it
held, and its exit code says how it ended. A worker that died before it was ready died while
starting; the usual cause is a script that runs a pipeline at import time, without
``if __name__ == "__main__":``, which every spawned worker re-imports.
"""

from __future__ import annotations

import ast
import signal
import sys
from dataclasses import dataclass
from types import FrameType

from hypernodes import WorkerCrashedError

__all__ = ["Crash", "describe"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Crash:
    """What the caller knows about a worker that died holding one of its chunks.

    Attributes:
        owner: The executor's repr.
        pipeline: The pipeline's name.
        start: The first item of the chunk the worker held.
        stop: The end of that chunk (None: a run, not a map).
        pid: The worker's pid (None: unknown).
        exit_code: Its exit code, negative for a signal (None: unknown).
        started: Whether the worker had started (False: it died while starting).
        stopped: Whether the executor stopped it (closed, or Ctrl-C in another map).
    """

    owner: str
    pipeline: str
    start: int
    stop: int | None
    pid: int | None
    exit_code: int | None
    started: bool = True
    stopped: bool = False


def describe(crash: Crash) -> WorkerCrashedError:
    """Return the error naming the items the dead worker held, the cause and a fix."""
    what = _what(crash.start, crash.stop)
    how = "exit code unknown" if crash.exit_code is None else _how(crash.exit_code)
    if crash.stopped:
        return WorkerCrashedError(
            f"the worker processes of {crash.owner} were stopped while {what} of pipeline {crash.pipeline!r} "
            "was waiting or running: the executor was closed, or Ctrl-C stopped another map on it. Run it again "
            "(items that finished are in the cache, if the config has one)."
        )
    if not crash.started:
        return _died_while_starting(crash, how)
    item_index = None if crash.stop is None else crash.start
    return WorkerCrashedError(
        f"a worker process of {crash.owner} died while running {what} (pid {crash.pid}, {how}) of pipeline "
        f"{crash.pipeline!r}: {_cause(crash.exit_code)}. A new worker replaces it; the chunks of "
        "this map not started were cancelled, and those running on other workers finished first (with a "
        "cache in the config, a rerun computes only the items that did not finish). Lower max_workers or "
        "chunksize if memory is short; chunksize=1 names the very item.",
        item_index=item_index,
    )


def _died_while_starting(crash: Crash, how: str) -> WorkerCrashedError:
    script = _unguarded_script()
    if script is not None:
        return WorkerCrashedError(
            f"the worker processes of {crash.owner} died while starting ({how}): the script {script} runs "
            f"pipeline {crash.pipeline!r} when it is imported, and every worker process re-imports it (the "
            "'spawn' and 'forkserver' start methods do), so each worker tried to start a pool of its own and "
            "failed ('An attempt has been made to start a new process before the current process has finished "
            "its bootstrapping phase', on stderr). Put the code that runs the pipeline under "
            '`if __name__ == "__main__":`.'
        )
    return WorkerCrashedError(
        f"a worker process of {crash.owner} died while starting, before it ran any item of pipeline "
        f"{crash.pipeline!r} ({how}); its error, if any, is on stderr. A script must guard the code that runs "
        f'a pipeline with `if __name__ == "__main__":`, and what the workers import must import there. The '
        "pool is restarted on next use."
    )


def _what(start: int, stop: int | None) -> str:
    if stop is None:
        return "the run"
    return f"map item {start}" if stop == start + 1 else f"map items {start}-{stop - 1}"


def _cause(code: int | None) -> str:
    if code is None:
        return "why is unknown"
    if code == -signal.SIGKILL:
        return "it was killed (out of memory? the OOM killer sends SIGKILL)"
    if code in (-signal.SIGSEGV, -signal.SIGBUS, -signal.SIGABRT, -signal.SIGILL):
        return "it crashed in native code (an extension module or a library it wraps)"
    if code < 0:
        return "it was killed by a signal"
    return "it exited (os._exit(), or native code calling exit())"


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _unguarded_script() -> str | None:
    """Return the path of the ``__main__`` script whose import-time code is running this, if unguarded."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__main__":
            path = frame.f_globals.get("__file__")
            if isinstance(path, str) and not _is_guarded(path, frame.f_lineno):
                return path
            return None
        frame = frame.f_back
    return None


def _is_guarded(path: str, line: int) -> bool:
    try:
        with open(path, encoding="utf-8") as file:
            tree = ast.parse(file.read(), path)
    except (OSError, SyntaxError, ValueError):
        return True  # cannot tell: claim nothing
    for statement in ast.walk(tree):
        if isinstance(statement, ast.If) and _is_main_test(statement.test):
            end = statement.end_lineno or statement.lineno
            if statement.lineno <= line <= end:
                return True
    return False


def _is_main_test(test: ast.expr) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, *test.comparators]
    names = [side for side in sides if isinstance(side, ast.Name) and side.id == "__name__"]
    mains = [side for side in sides if isinstance(side, ast.Constant) and side.value == "__main__"]
    return bool(names) and bool(mains)
