"""Say which items a dead pool worker held, and why it died, when it can be told (private).

When a worker process dies, ``concurrent.futures`` breaks the whole pool and fails every
pending task alike. The caller knows more: each worker announced the chunk it took (see
:mod:`hypernodes.executors._events`), and the worker's exit code says how it ended. A worker
that died before it took any chunk died while starting; the usual cause is a script that
runs a pipeline at import time, without ``if __name__ == "__main__":``, which every spawned
worker re-imports.
"""

from __future__ import annotations

import ast
import signal
import sys
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from types import FrameType

from hypernodes import WorkerCrashedError

__all__ = ["Crash", "describe"]

_TERMINATED = -signal.SIGTERM  # how concurrent.futures stops the workers that survived the crash


@dataclass(frozen=True, kw_only=True, slots=True)
class Crash:
    """What the caller knows when its pool broke.

    Attributes:
        owner: The executor's repr.
        pipeline: The pipeline's name.
        channel: The channel of the map (or run) that asks.
        chunks: That map's chunks, first item -> stop (None: a run).
        exit_codes: The exit code of each worker that had ended, by pid (negative: a signal).
        holders: For each worker pid, the ``(channel, first item)`` of the last chunk it took.
        answered: The first items of that map's chunks whose answers arrived.
    """

    owner: str
    pipeline: str
    channel: int
    chunks: Mapping[int, int | None]
    exit_codes: Mapping[int, int]
    holders: Mapping[int, tuple[int, int]]
    answered: AbstractSet[int] = frozenset()


def describe(crash: Crash) -> WorkerCrashedError:
    """Return the error naming the items the dead worker(s) held, the cause and a fix."""
    culprits = {pid: code for pid, code in crash.exit_codes.items() if code != _TERMINATED} or dict(crash.exit_codes)
    ours: list[tuple[int, int]] = []  # (first item, pid) of the chunks the dead workers held
    between: list[tuple[int, int]] = []  # (first item, pid) of chunks they finished before dying
    for pid in culprits:
        channel, start = crash.holders.get(pid, (None, 0))
        if channel == crash.channel:
            (between if start in crash.answered else ours).append((start, pid))
    ours.sort()
    restart = "The pool is restarted on next use."
    if ours:
        parts = [f"{_what(start, crash.chunks.get(start))} (pid {pid}, {_how(culprits[pid])})" for start, pid in ours]
        return WorkerCrashedError(
            f"a worker process of {crash.owner} died while running {' and '.join(parts)} of pipeline "
            f"{crash.pipeline!r}: {_cause(culprits[ours[0][1]])}. {restart} Lower max_workers or chunksize "
            "if memory is short; chunksize=1 names the very item.",
            item_index=None if crash.chunks.get(ours[0][0]) is None else ours[0][0],
        )
    if between:
        start, pid = min(between)
        return WorkerCrashedError(
            f"a worker process of {crash.owner} (pid {pid}, {_how(culprits[pid])}) died between chunks of pipeline "
            f"{crash.pipeline!r}, after it finished {_what(start, crash.chunks.get(start))} and before it announced "
            f"its next chunk, so which items it held is unknown: {_cause(culprits[pid])}. {restart}"
        )
    if any(pid in crash.holders for pid in culprits):
        return WorkerCrashedError(
            f"a worker process of {crash.owner} died while running another map (or run) on this executor, and "
            f"the work of pipeline {crash.pipeline!r} was lost with the pool. {restart}"
        )
    codes = ", ".join(sorted({_how(code) for code in culprits.values()})) or "exit code unknown"
    script = _unguarded_script()
    if script is not None:
        return WorkerCrashedError(
            f"the worker processes of {crash.owner} died while starting ({codes}): the script {script} runs "
            f"pipeline {crash.pipeline!r} when it is imported, and every worker process re-imports it (the "
            "'spawn' and 'forkserver' start methods do), so each worker tried to start a pool of its own and "
            "failed ('An attempt has been made to start a new process before the current process has finished "
            "its bootstrapping phase', on stderr). Put the code that runs the pipeline under "
            '`if __name__ == "__main__":`.'
        )
    return WorkerCrashedError(
        f"a worker process of {crash.owner} died while starting, before it ran any item of pipeline "
        f"{crash.pipeline!r} ({codes}); its error, if any, is on stderr. A script must guard the code that runs "
        f'a pipeline with `if __name__ == "__main__":`, and what the workers import must import there. {restart}'
    )


def _what(start: int, stop: int | None) -> str:
    if stop is None:
        return "the run"
    return f"map item {start}" if stop == start + 1 else f"map items {start}-{stop - 1}"


def _cause(code: int) -> str:
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
