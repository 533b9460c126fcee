"""What runs inside a worker process of ``ProcessPoolExecutor`` (private).

A task is core's run payload (what every item shares, pickled once per map) and one chunk
of items; :func:`hypernodes.executor.run_payload` runs it and answers in bytes. The worker
tells the caller, on the line given to :func:`initialize`, when it takes a chunk, every
callback event of it, and when the chunk ended (see :mod:`hypernodes.executors._events`).

A worker never outlives the caller: a thread waits for the caller's end of the start-up
pipe to close (``multiprocessing.parent_process()``; it closes when the caller dies, even
by SIGKILL) and ends the worker then, whatever it was doing.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from typing import TYPE_CHECKING

from hypernodes.executor import run_payload
from hypernodes.executors import _scope
from hypernodes.executors._events import END, EVENT, START

if TYPE_CHECKING:
    from hypernodes.executors._events import EventWriter

__all__ = ["initialize", "run_chunk"]

ORPHANED = 70  # the exit code of a worker whose caller died
# Core runs a sync node that has a timeout in a thread of this name, and abandons the thread
# when the call overruns (Python cannot stop a thread): a worker still running one is tainted.
_TIMEOUT_THREAD = "hypernodes-timeout-"

# The line back to the caller; set once per worker process.
_line: EventWriter | None = None


def initialize(line: EventWriter) -> None:
    """Keep the caller's line and watch the caller (the pool's initializer, once per worker)."""
    global _line
    _line = line
    threading.Thread(target=_exit_with_parent, name="hypernodes-parent-watch", daemon=True).start()


def run_chunk(key: str, channel: int, wants_events: bool, shared: bytes, chunk: bytes | None, first: int) -> bytes:
    """Run one chunk of map items (or, with no chunk, one run); return the answer as bytes.

    Work nested inside for the executor keyed `key` runs here, inline. `first` is the
    position of the chunk's first item, which the worker announces before it runs anything.
    """
    line = _line
    assert line is not None, "initialize() runs first in every worker"
    _send(line, channel, START, first)

    def send(blob: bytes) -> None:
        _send(line, channel, EVENT, 0, blob)

    try:
        with _scope.inside(key):
            return run_payload(shared, chunk, send if wants_events else None)
    finally:
        _send(line, channel, END, int(_runs_abandoned_call()))


def _send(line: EventWriter, channel: int, kind: int, number: int, blob: bytes = b"") -> None:
    try:
        line.send(channel, kind, number, blob)
    except OSError:  # the caller's end is closed: the caller died, nobody waits for this work
        os._exit(ORPHANED)


def _runs_abandoned_call() -> bool:
    return any(thread.name.startswith(_TIMEOUT_THREAD) and thread.is_alive() for thread in threading.enumerate())


def _exit_with_parent() -> None:
    parent = multiprocessing.parent_process()
    if parent is None:  # not started by multiprocessing: nothing to watch
        return
    parent.join()  # returns once the caller's end of the start-up pipe closed: the caller died
    os._exit(ORPHANED)
