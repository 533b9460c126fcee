"""Sync calls that overrun their timeout leave threads behind; their number is capped."""

from __future__ import annotations

import threading
import time

import pytest

from hypernodes import InlineExecutor, ItemFailure, NodeTimeoutError, Pipeline, RuntimeConfig, node
from hypernodes.engine import retry

RELEASE = threading.Event()


@node(output_name="y")
def hangs(x: int) -> int:
    RELEASE.wait(30)  # "hangs" until the test lets it go
    return x


def _timeout_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("hypernodes-timeout-")]


def test_abandoned_threads_are_capped_and_the_refusal_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "MAX_ABANDONED_THREADS", 3)
    RELEASE.clear()
    config = RuntimeConfig(executor=InlineExecutor(), timeout=0.02, retries=1)
    try:
        out = Pipeline(nodes=[hangs], name="p").map(
            inputs={"x": list(range(10))}, map_over="x", config=config, on_error="continue"
        )
        failures = out["y"]
        assert all(isinstance(f, ItemFailure) and isinstance(f.exception, NodeTimeoutError) for f in failures)
        refused = [f for f in failures if "was not started" in str(f.exception)]
        assert refused and "MAX_ABANDONED_THREADS=3" in str(refused[0].exception)
        assert len(_timeout_threads()) <= 3  # not one per attempt (20 here)
        assert retry.abandoned_threads() == 3
    finally:
        RELEASE.set()
    deadline = time.monotonic() + 10
    while _timeout_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert retry.abandoned_threads() == 0  # finished threads are no longer counted
    RELEASE.clear()


def test_a_call_that_finishes_in_time_leaves_nothing_behind() -> None:
    RELEASE.set()
    config = RuntimeConfig(executor=InlineExecutor(), timeout=5.0)
    assert Pipeline(nodes=[hangs]).map(inputs={"x": [1, 2]}, map_over="x", config=config) == {"y": [1, 2]}
    assert retry.abandoned_threads() == 0
    RELEASE.clear()
