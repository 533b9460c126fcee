"""Deliver hook calls to the callbacks of one run (machinery, *not* a public API).

The engine talks to a :class:`CallbackDispatcher` only: it never looks at callbacks itself.
The dispatcher finds once which callback implements which hook, so an event nobody listens
to costs one dict lookup, and a run without callbacks has no dispatcher at all.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from hypernodes.callbacks.base import HOOK_NAMES, PipelineCallback
from hypernodes.callbacks.context import CallbackContext

__all__ = ["CallbackDispatcher"]

logger = logging.getLogger(__name__)


class CallbackDispatcher:
    """Call each hook on the callbacks that implement it, isolating their failures.

    A callback that raises (an ``Exception``, or ``SystemExit``) is reported once per
    (callback, hook) as a ``RuntimeWarning``; later failures of the same hook are logged at
    debug level. The run is never affected. ``KeyboardInterrupt`` propagates (Ctrl-C).
    Thread safe.
    """

    __slots__ = ("_hooks", "_reported", "_reported_lock", "callbacks")

    def __init__(self, callbacks: Sequence[PipelineCallback]) -> None:
        self.callbacks = tuple(callbacks)
        hooks: dict[str, tuple[Callable[..., None], ...]] = {}
        for hook in HOOK_NAMES:
            base = getattr(PipelineCallback, hook)
            bound = tuple(getattr(cb, hook) for cb in self.callbacks if getattr(type(cb), hook, base) is not base)
            if bound:
                hooks[hook] = bound
        self._hooks = hooks
        self._reported: set[tuple[int, str]] = set()
        self._reported_lock = threading.Lock()  # guards _reported

    def wants(self, hook: str) -> bool:
        """Return whether any callback implements `hook`."""
        return hook in self._hooks

    def emit(self, hook: str, ctx: CallbackContext | None, *args: Any) -> None:
        """Call `hook` on every callback that implements it.

        `ctx` is typed optional for the engine's convenience; it is never None when a
        dispatcher exists.
        """
        methods = self._hooks.get(hook)
        if methods is None:
            return
        for method in methods:
            try:
                method(ctx, *args)
            # A callback must never break a run, not even by sys.exit(): under a process pool
            # it runs on the thread that relays every later event. KeyboardInterrupt passes:
            # in the main thread it is the user's Ctrl-C, which must stop the run.
            except (Exception, SystemExit) as exc:
                self._report(method, hook, exc)

    def _report(self, method: Callable[..., None], hook: str, exc: BaseException) -> None:
        owner = getattr(method, "__self__", method)
        key = (id(owner), hook)
        with self._reported_lock:
            first = key not in self._reported
            self._reported.add(key)
        if first:
            warnings.warn(
                f"callback {type(owner).__name__}.{hook} raised {type(exc).__name__}: {exc}; "
                "the run goes on without it (further failures of this hook are logged at debug level)",
                RuntimeWarning,
                stacklevel=3,
            )
        else:
            logger.debug("callback %s.%s raised again: %r", type(owner).__name__, hook, exc)
