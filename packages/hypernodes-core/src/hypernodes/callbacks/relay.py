"""Relay callback events out of a worker and replay them in the caller (machinery, *not* a public API).

Hooks fire in the caller's process whatever the executor. A worker process (or a cluster
task, a container) therefore does not call callbacks itself. When a run payload is pickled,
the callbacks of every config in it are replaced by a :class:`RelayedCallbacks` token that
names them in the caller; in the worker, the dispatcher of such a config is a
:class:`RelayDispatcher` that hands every event, with its token, to a sink. The sink encodes
the event with :func:`encode_event` and sends it to the caller, which decodes it with
:func:`decode_event` and dispatches it to the callbacks the token names::

    worker:  engine ──emit──▶ RelayDispatcher ──▶ sink ──encode_event──▶ bytes ──▶ (queue, pipe, ...)
    caller:  bytes ──decode_event──▶ token's CallbackDispatcher ──▶ callbacks

So a nested level's events go to the callbacks of *that level's* config, wherever it ran.

A value in an event that cannot be pickled (a node input holding a lock, a socket, ...) is
replaced by an :class:`UnpicklableValue` that shows its type and ``repr``: observing a run
never breaks it.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from hypernodes.callbacks.base import PipelineCallback
from hypernodes.callbacks.context import CallbackContext
from hypernodes.callbacks.dispatch import CallbackDispatcher

if TYPE_CHECKING:
    from hypernodes.engine.context import EventSink

__all__ = ["RelayDispatcher", "RelayedCallbacks", "UnpicklableValue", "decode_event", "encode_event", "replay"]

logger = logging.getLogger(__name__)

_REPR_LIMIT = 200  # characters of an unpicklable value's repr kept in its placeholder

Dumps = Callable[[Any], bytes]
Loads = Callable[[bytes], Any]


class RelayedCallbacks(PipelineCallback):
    """Stands in, in a worker, for the callbacks of one config that stay in the caller.

    Attributes:
        token: Names those callbacks in the caller (see ``EventReceiver``).
        hooks: The hooks they implement: the only events worth sending.
    """

    def __init__(self, token: int, hooks: frozenset[str]) -> None:
        self.token = token
        self.hooks = hooks

    def __reduce__(self) -> tuple[Any, ...]:
        return (RelayedCallbacks, (self.token, self.hooks))

    def __repr__(self) -> str:
        return f"<callbacks #{self.token} (in the caller)>"


class RelayDispatcher(CallbackDispatcher):
    """Forward hook calls to a sink instead of calling callbacks (the worker side).

    The sink receives ``(token, hook, ctx, args)``; only the hooks the caller's callbacks
    implement are sent. A sink that raises is reported once as a ``RuntimeWarning`` (later
    failures are logged at debug level); the run goes on. Thread safe as long as the sink is.

    >>> events = []
    >>> relay = RelayDispatcher(lambda token, hook, ctx, args: events.append((token, hook, args)),
    ...                         RelayedCallbacks(7, frozenset({"on_map_item_start"})))
    >>> relay.emit("on_map_item_start", CallbackContext(run_id="r", pipeline="p", path=("p",)), 3)
    >>> relay.emit("on_node_start", CallbackContext(run_id="r", pipeline="p", path=("p",)), "n", {})
    >>> events
    [(7, 'on_map_item_start', (3,))]
    """

    __slots__ = ("_relayed", "_sink", "_sink_failed", "_sink_lock")

    def __init__(self, sink: EventSink, relayed: RelayedCallbacks) -> None:
        super().__init__(())
        self._sink = sink
        self._relayed = relayed
        self._sink_failed = False
        self._sink_lock = threading.Lock()  # guards _sink_failed

    def wants(self, hook: str) -> bool:
        """Return whether the caller's callbacks implement `hook`."""
        return hook in self._relayed.hooks

    def emit(self, hook: str, ctx: CallbackContext | None, *args: Any) -> None:
        """Hand the event to the sink."""
        if ctx is None or hook not in self._relayed.hooks:
            return
        try:
            self._sink(self._relayed.token, hook, ctx, args)
        except Exception as exc:  # relaying an event must never break a run
            with self._sink_lock:
                first, self._sink_failed = not self._sink_failed, True
            if first:
                warnings.warn(
                    f"a callback event ({hook}) could not be relayed to the caller ({type(exc).__name__}: {exc}); "
                    "the run goes on, but callbacks may miss events (further failures are logged at debug level)",
                    RuntimeWarning,
                    stacklevel=2,
                )
            else:
                logger.debug("relaying %s failed again: %r", hook, exc)


@dataclasses.dataclass(frozen=True, slots=True)
class UnpicklableValue:
    """Stand-in for an event value that could not be pickled: its type name and its ``repr``.

    >>> UnpicklableValue.of(threading.Lock()).type_name
    'lock'
    """

    type_name: str
    text: str

    @classmethod
    def of(cls, value: object) -> UnpicklableValue:
        """Return the placeholder of `value`."""
        try:
            text = repr(value)
        except Exception as exc:  # a broken __repr__ must not cost the event
            text = f"<repr failed: {type(exc).__name__}>"
        if len(text) > _REPR_LIMIT:
            text = text[: _REPR_LIMIT - 3] + "..."
        return cls(type(value).__name__, text)

    def __repr__(self) -> str:
        return f"<unpicklable {self.type_name}: {self.text}>"


def encode_event(
    token: int, hook: str, ctx: CallbackContext, args: tuple[Any, ...], dumps: Dumps = pickle.dumps
) -> bytes:
    """Serialise one event; values that `dumps` cannot handle become :class:`UnpicklableValue`.

    The context's ``state`` dict is not sent: the caller's own state is attached on replay.
    """
    portable_ctx = dataclasses.replace(ctx, state={})
    try:
        return dumps((token, hook, portable_ctx, args))
    except Exception:  # find the culprits; everything else is sent as is
        return dumps((token, hook, portable_ctx, tuple(_portable(arg, dumps) for arg in args)))


def decode_event(
    blob: bytes, loads: Loads = pickle.loads
) -> tuple[int, str, CallbackContext, tuple[Any, ...]]:
    """Return ``(token, hook, ctx, args)`` from bytes made by :func:`encode_event`."""
    token, hook, ctx, args = loads(blob)
    return token, hook, ctx, args


def replay(
    dispatcher: CallbackDispatcher,
    hook: str,
    ctx: CallbackContext,
    args: tuple[Any, ...],
    state: dict[str, Any],
) -> None:
    """Dispatch a relayed event in the caller, with the caller's run `state` on its context."""
    if dispatcher.wants(hook):
        dispatcher.emit(hook, dataclasses.replace(ctx, state=state), *args)


def _portable(value: Any, dumps: Dumps) -> Any:
    if isinstance(value, Mapping):  # inputs and outputs: keep the picklable values
        return {key: _portable_leaf(item, dumps) for key, item in value.items()}
    return _portable_leaf(value, dumps)


def _portable_leaf(value: Any, dumps: Dumps) -> Any:
    try:
        dumps(value)
    except Exception:
        return UnpicklableValue.of(value)
    return value
