"""Whether the current code runs inside one of this package's cluster tasks (private).

A Dask task, a Spark task or a Ray task of this package runs core's run payload; the work
nested in it (a nested pipeline, a nested map, a node with its own config) must not be sent
to the cluster again as if from the caller: a ``DaskExecutor`` there runs it inline (or,
when it needs resources the worker lacks, through ``worker_client``), and a
``RemoteBackend`` runs it where it already is. The mark is a context variable, so it follows
the work into the threads an executor starts with ``copy_context().run``; it carries the
event topic of the task, so that work sent on from the task relays its events to the caller
through the same channel.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["Task", "current_task", "inside_task"]


@dataclass(frozen=True, slots=True)
class Task:
    """The cluster task the code runs in.

    Attributes:
        engine: ``"dask"``, ``"spark"`` or ``"ray"``.
        topic: Where the task sends callback events (a Dask topic), or None.
    """

    engine: str
    topic: str | None = None


_current: ContextVar[Task | None] = ContextVar("hypernodes_distributed_task", default=None)


def current_task() -> Task | None:
    """Return the cluster task this code runs in, or None in the caller."""
    return _current.get()


@contextmanager
def inside_task(task: Task) -> Iterator[None]:
    """Mark the block as running inside `task`."""
    token = _current.set(task)
    try:
        yield
    finally:
        _current.reset(token)
