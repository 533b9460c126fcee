"""The one bridge between synchronous code and coroutines (private).

``run_sync`` runs a coroutine to completion from synchronous code, also when the calling
thread already runs an event loop (Jupyter, an async web handler): the coroutine runs on
a background loop thread owned by this module (or on a given loop of another thread), and
the caller's context variables go with it. ``run_in_thread`` is the other direction: a
coroutine awaits sync code run in a thread. Nothing else in HyperNodes calls ``asyncio.run``.

Cancellation crosses both: a sync caller interrupted by Ctrl-C cancels the coroutine it
waits for, and a cancelled ``run_in_thread`` cancels the coroutines that its thread runs
through ``run_sync`` (a nested level of an async run), so that thread can return too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["run_in_thread", "run_sync"]

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()  # guards _loop creation

_SLICE = 0.1  # seconds a waiting main thread sleeps at a time; how late Ctrl-C may be noticed


class _Offloaded:
    """The coroutines that ``run_sync`` started for one ``run_in_thread`` call, to cancel with it."""

    __slots__ = ("_cancelled", "_lock", "_tasks")

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cancelled = False
        self._lock = threading.Lock()  # guards _tasks and _cancelled

    def add(self, task: asyncio.Task[Any]) -> None:
        """Track `task` (called on its loop); cancel it at once if the work was cancelled already."""
        with self._lock:
            if not self._cancelled:
                self._tasks.add(task)
                task.add_done_callback(self._discard)
                return
        task.cancel()

    def cancel(self) -> None:
        """Cancel every tracked task and those added later (called from any thread)."""
        with self._lock:
            self._cancelled = True
            tasks, self._tasks = self._tasks, set()
        for task in tasks:
            _cancel_soon(task)

    def _discard(self, task: asyncio.Task[Any]) -> None:
        with self._lock:
            self._tasks.discard(task)


_offloaded: contextvars.ContextVar[_Offloaded | None] = contextvars.ContextVar("hypernodes_offloaded", default=None)


def _bridge_loop() -> asyncio.AbstractEventLoop:
    global _loop
    loop = _loop
    if loop is not None:
        return loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="hypernodes-async-bridge", daemon=True)
            thread.start()
            _loop = loop
        return _loop


def run_sync(coro: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop | None = None) -> T:
    """Run `coro` to completion and return its result, from any synchronous caller.

    The coroutine runs in a copy of the caller's context. A caller interrupted while it
    waits (Ctrl-C) cancels the coroutine and waits until the cancellation is over before
    the ``KeyboardInterrupt`` goes on; a second Ctrl-C stops that wait.

    Args:
        coro: The coroutine; it is always either run or closed.
        loop: A running event loop to run `coro` on (default: a shared background loop).
            Called from a coroutine running on that loop itself, `coro` runs on a fresh loop
            in a helper thread instead, so a nested call can never deadlock.
    """
    target = _bridge_loop() if loop is None else loop
    context = contextvars.copy_context()
    if _runs_on(target):
        return _run_in_fresh_thread(coro, context)
    future: concurrent.futures.Future[T] = concurrent.futures.Future()
    task: asyncio.Task[T] | None = None  # set and read on `target` only

    def copy_result(done: asyncio.Task[T]) -> None:
        if done.cancelled():
            _cancel(future)
        elif (error := done.exception()) is not None:
            future.set_exception(error)
        else:
            future.set_result(done.result())

    def start() -> None:  # runs on `target`, inside `context`
        nonlocal task
        task = target.create_task(coro)
        task.add_done_callback(copy_result)
        offloaded = _offloaded.get()
        if offloaded is not None:  # called from run_in_thread: cancelled with it
            offloaded.add(task)

    def cancel() -> None:  # runs on `target` after `start`, if `start` was scheduled at all (FIFO)
        if task is not None:
            task.cancel()
        else:  # interrupted before `start` was scheduled: the coroutine never ran
            coro.close()
            _cancel(future)

    # The main thread waits in slices: Python raises KeyboardInterrupt only in the main thread,
    # and only when it runs, while the kernel may deliver SIGINT to any thread.
    slice_ = _SLICE if threading.current_thread() is threading.main_thread() else None
    try:
        # Inside the try: Ctrl-C often lands in call_soon_threadsafe itself, the moment the
        # loop thread takes the GIL to start the coroutine.
        target.call_soon_threadsafe(start, context=context)
        _wait(future, slice_)
        return future.result()
    except BaseException:
        if not future.done():  # the caller was interrupted (Ctrl-C): stop the coroutine too
            try:
                target.call_soon_threadsafe(cancel)
            except RuntimeError:  # `target` was closed: nothing will ever run the coroutine again
                coro.close()
            else:
                _wait(future, slice_)  # so its cleanup has run when the interrupt goes on
        raise


async def run_in_thread(threads: concurrent.futures.Executor, function: Callable[..., T], *args: Any) -> T:
    """Await ``function(*args)``, run on `threads` in a copy of the current context.

    If the awaiting coroutine is cancelled, so are the coroutines that `function` runs
    through :func:`run_sync` meanwhile, and their cancellation ends the waits that block
    the thread. The thread itself cannot be stopped: it runs on until `function` returns.
    """
    offloaded = _Offloaded()
    context = contextvars.copy_context()  # one copy per call: two threads cannot enter one Context
    context.run(_offloaded.set, offloaded)
    try:
        return await asyncio.get_running_loop().run_in_executor(threads, context.run, function, *args)
    except BaseException:  # cancelled (or closed): stop what the thread waits for
        offloaded.cancel()
        raise


def _cancel(future: concurrent.futures.Future[Any]) -> None:
    # cancel() alone does not wake concurrent.futures.wait(); an executor's
    # set_running_or_notify_cancel() does (asyncio.run_coroutine_threadsafe does the same).
    future.cancel()
    future.set_running_or_notify_cancel()


def _wait(future: concurrent.futures.Future[Any], slice_: float | None) -> None:
    while not future.done():
        concurrent.futures.wait([future], timeout=slice_)


def _runs_on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _cancel_soon(task: asyncio.Task[Any]) -> None:
    loop = task.get_loop()
    if _runs_on(loop):
        task.cancel()
    else:
        with contextlib.suppress(RuntimeError):  # a closed loop never runs the task again anyway
            loop.call_soon_threadsafe(task.cancel)


def _run_in_fresh_thread(coro: Coroutine[Any, Any, T], context: contextvars.Context) -> T:
    box: list[Any] = []

    def target() -> None:
        try:
            box.append((True, context.run(asyncio.run, coro)))
        except BaseException as exc:  # handed to the caller below
            box.append((False, exc))

    thread = threading.Thread(target=target, name="hypernodes-async-nested", daemon=True)
    thread.start()
    thread.join()
    ok, value = box[0]
    if ok:
        return value  # type: ignore[no-any-return]
    raise value
