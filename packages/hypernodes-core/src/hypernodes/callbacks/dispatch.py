"""Deliver hook calls to the callbacks of one run (machinery, *not* a public API).

The engine talks to a :class:`CallbackDispatcher` only: it never looks at callbacks itself.
The dispatcher finds once which callback implements which hook, so an event nobody listens
to costs one dict lookup, and a run without callbacks has no dispatcher at all.
"""

from __future__ import annotations

import inspect
import logging
import reprlib
import threading
import types
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from hypernodes.callbacks.base import HOOK_NAMES, PipelineCallback
from hypernodes.callbacks.context import CallbackContext
from hypernodes.errors import InvalidArgumentError

__all__ = ["CallbackDispatcher", "check_callback_setting"]

_FIX = (
    "pass a PipelineCallback instance (callbacks=[MyCallback()]), a PipelineCallback subclass "
    "(callbacks=[ProgressCallback]), or a zero-argument factory returning one (callbacks=[lambda: MyCallback(...)])"
)
_CHECKED: weakref.WeakSet[Callable[..., object]] = weakref.WeakSet()  # factories that passed the checks


def check_callback_setting(callback: object, index: int) -> None:
    """Reject an entry of ``RuntimeConfig(callbacks=...)`` that cannot be a callback or make one.

    Cheap checks only, when the config is made: a class that is no ``PipelineCallback``, a
    builtin (``callbacks=[print]``), a function that needs arguments or is annotated to
    return something else. What a factory returns is checked when a run makes its callbacks.

    Raises:
        InvalidArgumentError: The entry is not a callback, a callback class or a factory.
    """
    if isinstance(callback, PipelineCallback):
        return
    where = f"RuntimeConfig(callbacks=...)[{index}]"
    if not callable(callback):
        what = f"{type(callback).__name__} {reprlib.repr(callback)}"
        raise InvalidArgumentError(f"{where} is {what}, not a callback; {_FIX}")
    if isinstance(callback, type):
        if issubclass(callback, PipelineCallback):
            return
        raise InvalidArgumentError(f"{where} is class {callback.__qualname__}, which is not a PipelineCallback; {_FIX}")
    if isinstance(callback, types.BuiltinFunctionType | types.BuiltinMethodType):
        raise InvalidArgumentError(
            f"{where} is the builtin {callback.__name__}(), which would be called at every run and returns no "
            f"callback; {_FIX}"
        )
    if isinstance(callback, types.FunctionType) and callback not in _CHECKED:
        _check_factory_function(callback, where)
        _CHECKED.add(callback)


def _check_factory_function(factory: types.FunctionType, where: str) -> None:
    name = f"{factory.__qualname__}()"
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # no signature to read: judged by what it returns
        return
    required = [p.name for p in parameters if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if required:
        raise InvalidArgumentError(
            f"{where} is {name}, which needs argument(s) {', '.join(map(repr, required))}, but a callback factory "
            f"is called with none; {_FIX}"
        )
    if "return" not in factory.__annotations__:
        return
    returned = factory.__annotations__["return"]
    if returned is None or returned == "None" or (
        isinstance(returned, type) and not issubclass(returned, PipelineCallback)
    ):
        shown = returned if isinstance(returned, str) or returned is None else returned.__qualname__
        raise InvalidArgumentError(f"{where} is {name}, annotated to return {shown}, not a PipelineCallback; {_FIX}")

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
        for index, callback in enumerate(self.callbacks):
            if not isinstance(callback, PipelineCallback):  # what a factory made (instances were checked)
                raise InvalidArgumentError(
                    f"the callback factory at RuntimeConfig(callbacks=...)[{index}] returned "
                    f"{type(callback).__name__} {reprlib.repr(callback)}, not a PipelineCallback; {_FIX}"
                )
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
