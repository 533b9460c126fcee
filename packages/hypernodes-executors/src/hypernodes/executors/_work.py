"""Tasks that a waiting thread and pool helpers run together (private, used by the thread pool).

A ``SharedWork`` holds the tasks of one run (its steps, released as their dependencies
finish) or of one map (its items). Pool threads join in through *helper* submissions; a
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
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future

from hypernodes.executors._interrupt import wait_slice

__all__ = ["SharedWork", "Submit"]

Submit = Callable[["SharedWork"], "Future[None] | None"]
"""Submits ``work.help`` to a pool (with the worker mark set); None when the pool is closed."""


class SharedWork:
    """The tasks of one run or one map, shared by the waiting thread and pool helpers.

    Args:
        execute: Runs task `i` (a step or an item); it may raise.
        submit: Submits a helper to the pool.
        ready: The tasks that can start now.
        total: How many tasks there are in all.
        dependents: For each task, the tasks that wait for it (None: independent tasks).
        waiting: For each task, how many tasks it still waits for (with `dependents`).
    """

    __slots__ = (
        "_cond",
        "_dependents",
        "_done",
        "_error",
        "_execute",
        "_helpers",
        "_ready",
        "_running",
        "_submit",
        "_total",
        "_waiting",
    )

    def __init__(
        self,
        execute: Callable[[int], object],
        submit: Submit,
        ready: Iterable[int],
        total: int,
        dependents: Sequence[Sequence[int]] | None = None,
        waiting: list[int] | None = None,
    ) -> None:
        self._execute = execute
        self._submit = submit
        self._ready = deque(ready)
        self._total = total
        self._dependents = dependents
        self._waiting = waiting
        self._running = 0
        self._done = 0
        self._helpers = 0
        self._error: BaseException | None = None
        self._cond = threading.Condition(threading.Lock())  # guards every attribute above

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
        while True:
            with cond:
                if self._error is not None or not self._ready:
                    return
                index = self._ready.popleft()
                self._running += 1
            try:
                self._execute(index)
            except BaseException as exc:
                with cond:
                    self._running -= 1
                    if self._error is None:
                        self._error = exc
                    cond.notify_all()
                return
            released = 0
            with cond:
                self._running -= 1
                self._done += 1
                if self._dependents is not None:
                    waiting = self._waiting
                    assert waiting is not None
                    for dependent in self._dependents[index]:
                        waiting[dependent] -= 1
                        if waiting[dependent] == 0:
                            self._ready.append(dependent)
                            released += 1
                extra = min(released, len(self._ready)) - 1  # this thread goes on with one of them
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
                        elif self._done == self._total:
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
