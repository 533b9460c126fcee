"""Tasks that a waiting thread and pool helpers run together (private, used by the thread pool).

A ``SharedWork`` holds the tasks of one run (its steps, released by core's ``ReadySet`` as
their dependencies finish) or of one map (its items). Pool threads join in through *helper* submissions; a
helper runs ready tasks until none is left and returns at once when it finds none. The
thread that waits for the work may help too, and does whenever it is itself a worker of the
pool: it then never waits on work queued behind it, only on tasks another thread is already
running. A task runs only tasks it submitted itself, deeper in the call tree, so waiting can
never form a cycle: nesting cannot deadlock, even with a single worker.

On the first failure no new task starts; the tasks already running finish, then the waiter
raises the failure. A waiter interrupted (``KeyboardInterrupt``) stops the work the same way.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from time import perf_counter
from typing import Any, Generic, Protocol, TypeVar

from hypernodes.executors._interrupt import wait_slice

__all__ = ["AllReady", "SharedWork", "Submit", "Tasks"]

T = TypeVar("T")

_TRIVIAL = 50e-6  # seconds: tasks quicker than this are taken in batches (lock rounds cost ~µs)
T_co = TypeVar("T_co", covariant=True)

Submit = Callable[["SharedWork[Any]"], "Future[None] | None"]
"""Submits ``work.help`` to a pool (with the worker mark set); None when the pool is closed."""


class Tasks(Protocol[T]):
    """Where tasks come from, graphlib-style (core's ``ReadySet`` for steps, :class:`AllReady` for items)."""

    def get_ready(self) -> Sequence[T]:
        """Return the tasks that became ready since the last call."""

    def done(self, task: T, result: Any) -> None:
        """Record that `task` finished with `result`."""

    def is_active(self) -> bool:
        """Return whether some task has not finished."""


class AllReady(Generic[T]):
    """Independent tasks: all ready at once (the items of a map)."""

    __slots__ = ("_left", "_tasks")

    def __init__(self, tasks: Sequence[T]) -> None:
        self._tasks: Sequence[T] | None = tasks
        self._left = len(tasks)

    def get_ready(self) -> Sequence[T]:
        tasks, self._tasks = self._tasks, None
        return () if tasks is None else tasks

    def done(self, task: T, result: Any) -> None:
        self._left -= 1

    def is_active(self) -> bool:
        return self._left > 0


class SharedWork(Generic[T]):
    """The tasks of one run or one map, shared by the waiting thread and pool helpers.

    Args:
        execute: Runs a task (a step or an item) and returns its result; it may raise.
        submit: Submits a helper to the pool.
        tasks: Where the tasks come from; called with this work's lock held.
        guided: With ``k > 0``, a helper whose tasks turn out trivial (under
            ``_TRIVIAL`` seconds each) takes them in growing batches, up to ``len(ready) // k``
            (OpenMP's guided schedule), so trivial items cost one lock round per batch. A
            task that takes longer puts the helper back to one task at a time, so slow items
            start as soon as a worker is free and spread evenly. 0: always one at a time.
    """

    __slots__ = ("_cond", "_error", "_execute", "_guided", "_helpers", "_ready", "_running", "_submit", "_tasks")

    def __init__(self, execute: Callable[[T], Any], submit: Submit, tasks: Tasks[T], guided: int = 0) -> None:
        self._execute = execute
        self._submit = submit
        self._tasks = tasks
        self._guided = guided
        self._ready: deque[T] = deque(tasks.get_ready())
        self._running = 0
        self._helpers = 0
        self._error: BaseException | None = None
        self._cond = threading.Condition(threading.Lock())  # guards every attribute above and `tasks`

    @property
    def ready_count(self) -> int:
        """How many tasks can start now."""
        return len(self._ready)

    def add_helpers(self, count: int) -> None:
        """Submit up to `count` helpers (fewer if the pool is closed)."""
        for _ in range(count):
            future = self._submit(self)
            if future is None:
                return
            with self._cond:
                self._helpers += 1
            future.add_done_callback(self._helper_gone)  # also called if the helper is cancelled

    def help(self) -> None:
        """Run ready tasks until none is left or one failed (what a helper does)."""
        cond = self._cond
        ready = self._ready
        size = 1  # tasks taken at once; grows while they are trivial (see `guided`)
        while True:
            with cond:
                if self._error is not None or not ready:
                    return
                count = min(size, max(1, len(ready) // self._guided)) if size > 1 else 1
                batch = [ready.popleft() for _ in range(count)]
                self._running += 1
            results = []
            started = perf_counter()
            try:
                for task in batch:
                    results.append(self._execute(task))
            except BaseException as exc:
                with cond:
                    self._running -= 1
                    if self._error is None:
                        self._error = exc
                    cond.notify_all()
                return
            if self._guided:
                size = size * 2 if perf_counter() - started < _TRIVIAL * len(batch) else 1
            with cond:
                self._running -= 1
                for task, result in zip(batch, results):
                    self._tasks.done(task, result)
                released = self._tasks.get_ready()
                self._ready.extend(released)
                extra = min(len(released), len(self._ready)) - 1  # this thread goes on with one of them
                cond.notify_all()
            if extra > 0:
                self.add_helpers(extra)

    def run(self, helpers: int, *, helping: bool) -> None:
        """Submit `helpers`, then wait until every task ran, helping if `helping`; raise the first failure.

        A waiter that does not help still takes over when no helper is left (the pool was
        closed meanwhile), so it never waits forever.
        """
        cond = self._cond
        try:
            self.add_helpers(helpers)
            while True:
                if helping:
                    self.help()
                with cond:
                    while True:
                        if self._error is not None:
                            if self._running == 0:
                                raise self._error
                        elif not self._tasks.is_active():
                            return
                        elif self._ready and (helping or self._helpers == 0):
                            helping = True
                            break
                        cond.wait(wait_slice())
        except BaseException as exc:
            with cond:  # stop starting tasks (an interrupt, or the failure being raised)
                if self._error is None:
                    self._error = exc
            raise

    def _helper_gone(self, _: Future[None]) -> None:
        with self._cond:
            self._helpers -= 1
            self._cond.notify_all()
