"""What runs inside a worker process of ``ProcessPoolExecutor`` (private).

:func:`serve` is the worker's main loop, on the pipe its pool gave it (see
:mod:`hypernodes.executors._pool`). A task is three messages: a header (:func:`task`), core's
run payload (what every item of a map shares) and one chunk of items;
:func:`hypernodes.executor.run_payload` runs it, and the worker writes back every callback
event of it, then its answer (see :mod:`hypernodes.executors._events`).

A worker never outlives the caller: a thread waits for the caller's end of the start-up
pipe to close (``multiprocessing.parent_process()``; it closes when the caller dies, even
by SIGKILL) and ends the worker then, whatever it was doing.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
import time
from typing import TYPE_CHECKING

from hypernodes.executor import run_payload
from hypernodes.executors import _scope
from hypernodes.executors._events import ANSWER, EVENT, READY, WorkerLine

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from hypernodes.executors._pool import Task

__all__ = ["serve", "task"]

ORPHANED = 70  # the exit code of a worker whose caller died
# Core runs a sync node that has a timeout in a thread of this name, and abandons the thread
# when the call overruns (Python cannot stop a thread): a worker still running one is tainted.
_TIMEOUT_THREAD = "hypernodes-timeout-"
_FINISHING = 0.1  # seconds a timed call's thread may take to end after it delivered its result


def task(key: str, channel: int, wants_events: bool, shared: bytes, chunk: bytes | None, first: int) -> Task:
    """Return the messages of one task: a chunk of map items (or, with no chunk, one run).

    Work nested inside it for the executor keyed `key` runs in the worker, inline; `first`
    is the position of the chunk's first item. `shared` is sent as it is (never re-pickled).
    """
    header = pickle.dumps((key, channel, wants_events, first, chunk is not None), pickle.HIGHEST_PROTOCOL)
    return (header, shared, b"" if chunk is None else chunk)


def serve(connection: Connection) -> None:
    """Run tasks from `connection` until told to stop (or the caller is gone); the worker's main loop."""
    threading.Thread(target=_exit_with_parent, name="hypernodes-parent-watch", daemon=True).start()
    line = WorkerLine(connection)
    _send(line, READY)
    while True:
        try:
            header = connection.recv_bytes()
            if not header:  # told to stop: return, and resources are torn down as the process exits
                return
            shared, chunk = connection.recv_bytes(), connection.recv_bytes()
        except (EOFError, OSError):  # the caller is gone
            return
        key, channel, wants_events, _first, has_chunk = pickle.loads(header)

        def send(blob: bytes, channel: int = channel) -> None:
            _send(line, EVENT, channel, blob)

        with _scope.inside(key):
            answer = run_payload(shared, chunk if has_chunk else None, send if wants_events else None)
        tainted = _runs_abandoned_call()
        _send(line, ANSWER, int(tainted), answer)
        if tainted:  # take nothing else: the caller kills this process, the only way to stop that call
            threading.Event().wait()


def _send(line: WorkerLine, kind: int, number: int = 0, blob: bytes = b"") -> None:
    try:
        line.send(kind, number, blob)
    except OSError:  # the caller's end is closed: the caller died, nobody waits for this work
        os._exit(ORPHANED)


def _runs_abandoned_call() -> bool:
    """Whether a thread of a timed call still runs (one that just delivered its result may end first)."""
    deadline = time.monotonic() + _FINISHING
    for thread in threading.enumerate():
        if thread.name.startswith(_TIMEOUT_THREAD):
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                return True
    return False


def _exit_with_parent() -> None:
    parent = multiprocessing.parent_process()
    if parent is None:  # not started by multiprocessing: nothing to watch
        return
    parent.join()  # returns once the caller's end of the start-up pipe closed: the caller died
    os._exit(ORPHANED)
