from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import threading

import pytest

from hypernodes._async import run_in_thread, run_sync

DEADLINE = 60.0  # seconds a blocked wait lasts before the test fails (never reached when it passes)


async def _wait_until_cancelled(started: threading.Event, cancelled: threading.Event) -> None:
    started.set()
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        cancelled.set()
        raise


def test_an_interrupted_caller_goes_on_only_once_the_coroutine_was_cancelled() -> None:
    started, cancelled = threading.Event(), threading.Event()

    def interrupt() -> None:
        if started.wait(DEADLINE):  # often while the caller is still in call_soon_threadsafe
            os.kill(os.getpid(), signal.SIGINT)

    interrupter = threading.Thread(target=interrupt, daemon=True)
    interrupter.start()
    with pytest.raises(KeyboardInterrupt):
        run_sync(_wait_until_cancelled(started, cancelled))
    interrupter.join()
    assert cancelled.is_set()  # no wait: the cancellation is over when the interrupt goes on


def test_cancelling_run_in_thread_cancels_the_coroutines_its_thread_waits_for() -> None:
    started, cancelled = threading.Event(), threading.Event()

    def nested_level() -> None:  # what a nested pipeline does in a thread of an async run
        run_sync(_wait_until_cancelled(started, cancelled))

    async def main(threads: concurrent.futures.ThreadPoolExecutor) -> None:
        waiting = asyncio.ensure_future(run_in_thread(threads, nested_level))
        await asyncio.to_thread(started.wait, DEADLINE)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    threads = concurrent.futures.ThreadPoolExecutor(1)
    asyncio.run(main(threads))
    assert cancelled.wait(DEADLINE)
    done, _ = concurrent.futures.wait([threads.submit(int)], DEADLINE)  # queued behind nested_level
    assert done  # the thread returned: the cancelled wait did not block it forever
    threads.shutdown()
