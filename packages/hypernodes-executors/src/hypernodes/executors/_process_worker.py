"""What runs inside a worker process of ``ProcessPoolExecutor`` (private).

A task is a pair of byte strings: what every item shares (the pipeline, the shared inputs,
the run context's fields, ...), pickled once per map, and one chunk of items. The answer is
bytes too: ``("ok", results)`` or ``("error", exception, traceback text)``, so that the
caller, not ``concurrent.futures``, decides how errors look. Callback events go to the
caller as they happen through the process-wide event queue given to :func:`initialize`.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hypernodes import RunContext, SerializationError
from hypernodes.callbacks.relay import encode_event
from hypernodes.engine.context import RunState
from hypernodes.engine.engine import ENGINE
from hypernodes.executors import _scope
from hypernodes.executors._transport import diagnose_outputs, dumps, loads

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

    from hypernodes import CallbackContext

__all__ = ["EventSink", "initialize", "run_chunk"]

# The queue events go back to the caller through; set once per worker process.
_events: Queue[tuple[int, bytes | None]] | None = None


def initialize(events: Queue[tuple[int, bytes | None]]) -> None:
    """Keep the caller's event queue (the pool's initializer, run once per worker process)."""
    global _events
    _events = events


class EventSink:
    """Send the events the caller listens to on `channel` of the event queue."""

    __slots__ = ("channel", "hooks")

    def __init__(self, channel: int, hooks: frozenset[str]) -> None:
        self.channel = channel
        self.hooks = hooks

    def __call__(self, hook: str, ctx: CallbackContext, args: tuple[Any, ...]) -> None:
        if hook in self.hooks and _events is not None:
            _events.put((self.channel, encode_event(hook, ctx, args, dumps)))

    def end_chunk(self) -> None:
        """Tell the caller that this chunk sent all its events."""
        if self.hooks and _events is not None:
            _events.put((self.channel, None))


def run_chunk(shared: bytes, chunk: bytes) -> bytes:
    """Run one chunk of map items (or, with no items, one run); return the answer as bytes."""
    sink: EventSink | None = None
    try:
        try:
            pipeline, inputs, fields, output_name, run, key, channel, hooks = loads(shared)
            start, items = loads(chunk)
        except Exception as exc:
            raise SerializationError(
                f"the work sent to a worker process could not be unpickled there ({type(exc).__name__}: "
                f"{exc}). Classes and functions pickled by reference must be importable in the worker: "
                "define them in an importable module (or in __main__, which is pickled by value)"
            ) from None
        sink = EventSink(channel, hooks)
        run_id = fields.pop("run_id")
        ctx = RunContext(run=RunState(run_id, event_sink=sink), **fields)
        with _scope.inside(key):  # nested work for this executor runs here, inline
            if items is None:
                results = [ENGINE.run_pipeline(pipeline, inputs, ctx, output_name)]
            else:
                results = _run_items(pipeline, start, items, inputs, ctx, output_name, run)
        try:
            return dumps(("ok", results))
        except Exception as exc:
            raise diagnose_outputs(pipeline, start, results, exc) from None
    except (Exception, KeyboardInterrupt) as exc:
        return _error(exc)
    finally:
        if sink is not None:
            sink.end_chunk()


def _run_items(
    pipeline: Any,
    start: int,
    items: Sequence[Mapping[str, Any]],
    inputs: Mapping[str, Any],
    ctx: RunContext,
    output_name: Any,
    run: Any,
) -> list[dict[str, Any]]:
    run_item = ENGINE.run_item
    return [
        run_item(pipeline, start + offset, item, inputs, ctx, output_name, run) for offset, item in enumerate(items)
    ]


def _error(exc: BaseException) -> bytes:
    text = "".join(traceback.format_exception(exc))
    try:
        return dumps(("error", exc, text))
    except Exception as failure:  # the exception itself cannot travel: describe it
        error = SerializationError(
            f"a node raised {type(exc).__name__}: {exc}, which cannot be pickled to return it from the "
            f"worker process ({type(failure).__name__}: {failure}). Its traceback in the worker:\n{text}"
        )
        return dumps(("error", error, text))
