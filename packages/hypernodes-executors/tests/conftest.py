"""Fixtures shared by the executor tests: every executor of this package, each owning its lifetime.

``HYPERNODES_EXECUTOR`` (one of the ids below) restricts the ``executor`` fixture to one
executor; noxfile.py's ``behaviour`` sessions run the behaviour suite once per executor so.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from hypernodes import Executor
from hypernodes.executors import (
    AsyncExecutor,
    CompositeExecutor,
    ProcessPoolExecutor,
    SequentialExecutor,
    ThreadPoolExecutor,
)

EXECUTORS: dict[str, Callable[[], Executor]] = {
    "sequential": SequentialExecutor,
    "asynchronous": lambda: AsyncExecutor(max_concurrency=8),
    "thread_pool": lambda: ThreadPoolExecutor(max_workers=4),
    "process_pool": lambda: ProcessPoolExecutor(max_workers=2),
    "composite": lambda: CompositeExecutor(map_executor=ThreadPoolExecutor(4), node_executor=AsyncExecutor()),
}

T = TypeVar("T")

DEADLINE = 60.0  # seconds before a blocked test is declared deadlocked (never reached when it passes)


def finishes(function: Callable[[], T], seconds: float = DEADLINE) -> T:
    """Return `function()`, run in a daemon thread; fail (instead of hanging) if it deadlocks."""
    box: list[tuple[bool, object]] = []

    def target() -> None:
        try:
            box.append((True, function()))
        except BaseException as exc:
            box.append((False, exc))

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise AssertionError(f"deadlocked: still running after {seconds}s")
    ok, value = box[0]
    if not ok:
        raise value  # type: ignore[misc]
    return value  # type: ignore[return-value]


def interrupt_when(event: threading.Event) -> threading.Thread:
    """Send SIGINT to this process (the main thread gets KeyboardInterrupt) once `event` is set."""

    def target() -> None:
        if event.wait(DEADLINE):
            os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def threads_named(prefix: str) -> list[threading.Thread]:
    """Return the live threads whose name starts with `prefix`."""
    return [thread for thread in threading.enumerate() if thread.name.startswith(prefix)]


@pytest.fixture(name="finishes")
def finishes_fixture() -> Callable[..., object]:
    """Run a function and fail, instead of hanging, if it deadlocks."""
    return finishes


@pytest.fixture(name="interrupt_when")
def interrupt_when_fixture() -> Callable[[threading.Event], threading.Thread]:
    """Send SIGINT to this process once an event is set."""
    return interrupt_when


_selected = os.environ.get("HYPERNODES_EXECUTOR")
if _selected is not None and _selected not in EXECUTORS:
    raise pytest.UsageError(f"HYPERNODES_EXECUTOR={_selected!r} is not one of {sorted(EXECUTORS)}")
SELECTED = [_selected] if _selected else list(EXECUTORS)


@pytest.fixture(name="executor_factory", params=SELECTED, scope="module")
def executor_factory_fixture(request: pytest.FixtureRequest) -> Callable[[], Executor]:
    """Make fresh executors of the selected kind (for tests that close what they make)."""
    return EXECUTORS[request.param]


@pytest.fixture(name="executor", scope="module")
def executor_fixture(executor_factory: Callable[[], Executor]) -> Iterator[Executor]:
    with executor_factory() as executor:  # the fixture owns the executor's lifetime
        yield executor
