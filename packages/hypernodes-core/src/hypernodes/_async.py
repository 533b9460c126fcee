"""The one bridge from synchronous code to coroutines (private).

``run_sync`` runs a coroutine to completion from synchronous code, also when the calling
thread already runs an event loop (Jupyter, an async web handler): the coroutine runs on
a background loop thread owned by this module, and the caller's context variables go
with it. Nothing else in HyperNodes calls ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_loop_thread: threading.Thread | None = None
_loop_lock = threading.Lock()  # guards _loop and _loop_thread creation


def _bridge_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_thread
    loop = _loop
    if loop is not None:
        return loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="hypernodes-async-bridge", daemon=True)
            thread.start()
            _loop, _loop_thread = loop, thread
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion and return its result, from any synchronous caller.

    The coroutine runs on a shared background event loop, in a copy of the caller's context.
    Called from a coroutine running on that loop itself, it runs `coro` on a fresh loop in a
    helper thread instead, so a nested call can never deadlock.
    """
    loop = _bridge_loop()
    context = contextvars.copy_context()
    if threading.current_thread() is _loop_thread:
        return _run_in_fresh_thread(coro, context)
    future: concurrent.futures.Future[T] = concurrent.futures.Future()
    started: list[asyncio.Task[T]] = []

    def start() -> None:  # runs on the bridge loop, inside `context`
        task = loop.create_task(coro)
        started.append(task)

        def copy_result(done: asyncio.Task[T]) -> None:
            if done.cancelled():
                future.cancel()
            elif (error := done.exception()) is not None:
                future.set_exception(error)
            else:
                future.set_result(done.result())

        task.add_done_callback(copy_result)

    loop.call_soon_threadsafe(start, context=context)
    # The main thread waits in slices: Python raises KeyboardInterrupt only in the main thread,
    # and only when it runs, while the kernel may deliver SIGINT to any thread.
    slice_ = 0.1 if threading.current_thread() is threading.main_thread() else None
    try:
        while not future.done():
            concurrent.futures.wait([future], timeout=slice_)
        return future.result()
    except BaseException:
        if not future.done():  # the caller was interrupted (Ctrl-C): stop the coroutine too
            loop.call_soon_threadsafe(lambda: [task.cancel() for task in started])
        raise


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
