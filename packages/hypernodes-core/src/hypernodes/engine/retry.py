"""One node call under the run's retries and timeout, for sync and async functions."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from hypernodes._async import run_sync
from hypernodes.config.retry import RetryPolicy, as_retry_policy
from hypernodes.errors import NodeTimeoutError

if TYPE_CHECKING:
    from hypernodes.engine.context import RunContext

__all__ = ["call_node", "call_node_async"]

logger = logging.getLogger(__name__)


def _timeout_error(node_name: str, where: RunContext, timeout: float) -> NodeTimeoutError:
    # The location is formatted here, only when it is needed: it costs more than a node call.
    return NodeTimeoutError(
        f"node {node_name!r} ({where.location}) ran past timeout={timeout}s. Raise the timeout, "
        f"or give this node its own config with {node_name}.with_config(...).",
        node_name=node_name,
    )


def call_node(
    func: Callable[..., Any],
    kwargs: Mapping[str, Any],
    *,
    is_async: bool,
    retries: int | RetryPolicy,
    timeout: float | None,
    node_name: str,
    where: RunContext,
) -> Any:
    """Call `func`, trying again as `retries` says; each attempt may last at most `timeout` seconds.

    A sync function with a timeout runs in a daemon thread that is abandoned (not killed)
    when it overruns: Python cannot stop a thread, so its side effects may still happen.
    """
    policy = as_retry_policy(retries)
    attempt = 0
    while True:
        try:
            if is_async:
                return run_sync(_await_with_timeout(func, kwargs, timeout, node_name, where))
            if timeout is None:
                return func(**kwargs)
            return _call_in_thread(func, kwargs, timeout, node_name, where)
        except Exception as exc:
            wait = _next_wait(policy, attempt, exc, node_name, where)
            if wait is None:
                raise
            attempt += 1
            if wait:
                time.sleep(wait)


async def call_node_async(
    func: Callable[..., Any],
    kwargs: Mapping[str, Any],
    *,
    is_async: bool,
    retries: int | RetryPolicy,
    timeout: float | None,
    node_name: str,
    where: RunContext,
) -> Any:
    """Await `func` (or run a sync `func` in a thread) under `retries` and `timeout`."""
    if not is_async:
        return await asyncio.to_thread(
            call_node,
            func,
            kwargs,
            is_async=False,
            retries=retries,
            timeout=timeout,
            node_name=node_name,
            where=where,
        )
    policy = as_retry_policy(retries)
    attempt = 0
    while True:
        try:
            return await _await_with_timeout(func, kwargs, timeout, node_name, where)
        except Exception as exc:
            wait = _next_wait(policy, attempt, exc, node_name, where)
            if wait is None:
                raise
            attempt += 1
            if wait:
                await asyncio.sleep(wait)


def _next_wait(policy: RetryPolicy, attempt: int, error: Exception, node_name: str, where: RunContext) -> float | None:
    """Return how long to wait before retrying after `error`, or None to raise it."""
    if attempt >= policy.attempts or not policy.retries(error):
        return None
    wait = policy.wait(attempt)
    # INFO, not WARNING: with logging unconfigured, Python would print warnings to stderr.
    logger.info(
        "node %r (%s) raised %s: %s; retry %d of %d in %.3gs",
        node_name, where.location, type(error).__name__, error, attempt + 1, policy.attempts, wait,
    )  # fmt: skip
    return wait


async def _await_with_timeout(
    func: Callable[..., Any], kwargs: Mapping[str, Any], timeout: float | None, node_name: str, where: RunContext
) -> Any:
    if timeout is None:
        return await func(**kwargs)
    try:
        return await asyncio.wait_for(func(**kwargs), timeout)
    except TimeoutError as exc:
        if isinstance(exc, NodeTimeoutError):
            raise
        raise _timeout_error(node_name, where, timeout) from None


MAX_ABANDONED_THREADS = int(os.environ.get("HYPERNODES_MAX_ABANDONED_THREADS", "64"))
"""How many threads of sync calls that ran past their timeout may still be running at once.

Python cannot stop a thread: a sync node that overruns its timeout is abandoned, and its thread
runs on until the function returns. Past this many such threads, a new timed call is refused
with a ``NodeTimeoutError`` instead of starting yet another thread (set the environment
variable ``HYPERNODES_MAX_ABANDONED_THREADS`` to change it, before hypernodes is imported).
"""

_abandoned = 0  # threads of overrun calls still running
_abandoned_lock = threading.Lock()  # guards _abandoned


def abandoned_threads() -> int:
    """Return how many threads of calls that ran past their timeout are still running."""
    return _abandoned


def _call_in_thread(
    func: Callable[..., Any], kwargs: Mapping[str, Any], timeout: float, node_name: str, where: RunContext
) -> Any:
    global _abandoned
    if _abandoned >= MAX_ABANDONED_THREADS:
        raise NodeTimeoutError(
            f"node {node_name!r} ({where.location}) was not started: {_abandoned} earlier calls that ran past "
            f"their timeout are still running in abandoned threads (the cap is MAX_ABANDONED_THREADS="
            f"{MAX_ABANDONED_THREADS}). Python cannot stop a thread: make the node honour a deadline itself "
            "(e.g. pass a timeout to its client), write it as `async def` (cancelled on timeout), or run it "
            "under ProcessPoolExecutor, which replaces a worker whose call overran.",
            node_name=node_name,
        )
    box: list[tuple[bool, Any]] = []
    done = threading.Event()
    context = contextvars.copy_context()
    state = {"abandoned": False}  # set by the caller under _abandoned_lock when it gives up

    def target() -> None:
        global _abandoned
        try:
            box.append((True, context.run(func, **kwargs)))
        except BaseException as exc:  # handed to the caller below
            box.append((False, exc))
        finally:
            with _abandoned_lock:
                done.set()
                if state["abandoned"]:
                    _abandoned -= 1

    threading.Thread(target=target, name=f"hypernodes-timeout-{node_name}", daemon=True).start()
    if not done.wait(timeout):
        with _abandoned_lock:
            if not done.is_set():  # it may have finished just now
                state["abandoned"] = True
                _abandoned += 1
        if state["abandoned"]:
            raise _timeout_error(node_name, where, timeout)
    ok, value = box[0]
    if ok:
        return value
    raise value
