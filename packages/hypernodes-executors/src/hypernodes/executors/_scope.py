"""Which executors' workers the current code runs in (private).

Every executor of this package marks the work it runs for itself: a thread-pool helper, a
process-pool worker, a coroutine (and the threads it offloads to) of an async executor. The
mark lives in a context variable, so it follows the work into every thread submitted with
``copy_context().run`` and every asyncio task, and it names executors by a key that survives
pickling, so it is found again in a worker process. An executor asked to schedule work from
inside one of its own workers must not wait on work queued behind that worker: this is how it
finds out. The marks accumulate (a thread pool's worker running an async executor's nested
run carries both), which also rules out cycles between two executors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Final

__all__ = ["ABSENT", "enclosing", "inside", "is_inside"]

ABSENT: Final = object()
"""Returned by :func:`enclosing` when the code does not run in a worker of that executor."""

_enclosing: ContextVar[tuple[tuple[str, object], ...]] = ContextVar("hypernodes_enclosing_executors", default=())


def enclosing(key: str) -> object:
    """Return what the executor keyed `key` recorded for the work this code belongs to, or ABSENT."""
    for marked, payload in reversed(_enclosing.get()):
        if marked == key:
            return payload
    return ABSENT


def is_inside(key: str) -> bool:
    """Return whether this code runs in (or was submitted from) a worker of the executor keyed `key`."""
    return any(marked == key for marked, _ in _enclosing.get())


@contextmanager
def inside(key: str, payload: object = None) -> Iterator[None]:
    """Mark the block as work of the executor keyed `key` (with `payload`, e.g. its event loop)."""
    marks = _enclosing.get()
    if marks and marks[-1] == (key, payload):  # already marked: nested levels of one run
        yield
        return
    token = _enclosing.set((*marks, (key, payload)))
    try:
        yield
    finally:
        # ValueError: closed from another Context, as when the garbage collector finalises a
        # coroutine (GeneratorExit) wherever it happens to run. The Context we marked is that
        # coroutine's and dies with it; setting `marks` here instead would write them into an
        # unrelated Context, so there is nothing to undo.
        with suppress(ValueError):
            _enclosing.reset(token)
