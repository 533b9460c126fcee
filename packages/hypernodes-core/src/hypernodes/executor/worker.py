"""The worker side: a self-contained run payload, one call that runs it anywhere, and the event relay.

Every executor or backend that runs work in another process (a process pool, a Dask or Ray
task, a Spark task, a Modal container) goes through this one path::

    caller                                         worker (any process)
    ──────                                         ────────────────────
    payload = RunPayload.of_run(request)           answer = run_payload(shared, chunk, send)
    receiver = EventReceiver(request.ctx)              events: send(bytes) ──▶ your channel
    shared = payload.encode(receiver)  ── bytes ──▶    (pipe, Dask log_event, Ray generator,
    chunk = payload.encode_items(0, n) ── bytes ──▶     Modal queue ...)
    receiver.receive(event bytes)  ◀── your channel
    outputs = payload.decode(answer)   ◀── bytes ──  answer

* The payload holds the pipeline, the inputs, the context's location and a config whose
  callbacks are tokens (they stay in the caller) and whose cache is made where the run
  executes (use a ``CacheSpec``: a cache object is copied, not shared).
* :func:`run_payload` never raises: the answer carries the outputs or the error.
* :meth:`RunPayload.decode` returns the outputs, or raises the node's own exception (its
  type, its notes, the worker's traceback as ``__cause__``). A value that cannot be pickled
  on either side is a :class:`~hypernodes.SerializationError` naming the node, the input or
  output and the map item.
* :class:`EventReceiver` replays each event into the callbacks of the level it came from;
  an event that cannot be decoded is reported (one warning per run), not dropped silently.
"""

from __future__ import annotations

import logging
import pickle
import threading
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hypernodes.callbacks.base import HOOK_NAMES
from hypernodes.callbacks.relay import RelayedCallbacks, decode_event, encode_event, replay
from hypernodes.engine.context import RunContext, RunState
from hypernodes.errors import SerializationError
from hypernodes.executor import _transport
from hypernodes.executor.request import MapRequest, RunRequest

if TYPE_CHECKING:
    from hypernodes._types import Inputs, OutputNames, Outputs
    from hypernodes.callbacks.context import CallbackContext
    from hypernodes.config.runtime import RuntimeConfig
    from hypernodes.executor.request import RunPipeline
    from hypernodes.graph.pipeline import Pipeline

__all__ = ["EventReceiver", "RunPayload", "SendEvent", "dumps", "loads", "run_payload"]

logger = logging.getLogger(__name__)

SendEvent = Callable[[bytes], None]
"""Sends one encoded callback event from a worker to the caller's :class:`EventReceiver`."""

dumps = _transport.dumps
"""Pickle with cloudpickle (functions of ``__main__`` and of unimportable modules by value)."""
loads = pickle.loads
"""Load what :func:`dumps` made (cloudpickle output is plain pickle data)."""


@dataclass(frozen=True, kw_only=True)
class RunPayload:
    """Everything a worker needs to run one pipeline level, or a map's items, on its own.

    Build one with :meth:`of_run` or :meth:`of_map`; send :meth:`encode` (once) and, for a
    map, :meth:`encode_items` per chunk; read the answer of :func:`run_payload` with
    :meth:`decode`.

    Attributes:
        pipeline: The pipeline.
        inputs: The run's inputs, or the inputs every item of a map shares.
        context: The fields the worker rebuilds the ``RunContext`` from.
        run_id: The root run's id (callback contexts carry it).
        output_name: The requested outputs.
        items: The map's items (None: a single run).
        runner: Runs each item's pipeline instead of the config's executor (None: that one).
    """

    pipeline: Pipeline
    inputs: Inputs
    context: Mapping[str, Any]
    run_id: str
    output_name: OutputNames | None
    items: Sequence[Inputs] | None = None
    runner: RunPipeline | None = None
    _first_index: int = field(default=0, repr=False)

    @classmethod
    def of_run(cls, request: RunRequest, *, config: RuntimeConfig | None = None) -> RunPayload:
        """Return the payload of one run; `config` replaces the context's (e.g. a local backend)."""
        return cls(
            pipeline=request.pipeline, inputs=dict(request.inputs), context=_fields(request.ctx, config),
            run_id=request.ctx.run.run_id, output_name=request.output_name,
        )  # fmt: skip

    @classmethod
    def of_map(cls, request: MapRequest, *, config: RuntimeConfig | None = None) -> RunPayload:
        """Return the payload of a map (send its items in chunks with :meth:`encode_items`)."""
        return cls(
            pipeline=request.pipeline, inputs=dict(request.inputs), context=_fields(request.ctx, config),
            run_id=request.ctx.run.run_id, output_name=request.output_name, items=request.items,
            runner=request.runner, _first_index=request.first_index,
        )  # fmt: skip

    @property
    def is_map(self) -> bool:
        """Whether this payload maps items (else it is one run)."""
        return self.items is not None

    def encode(self, receiver: EventReceiver | None = None) -> bytes:
        """Pickle what every chunk shares (not the items); callbacks become `receiver` tokens.

        Raises:
            SerializationError: Something cannot be pickled; it names the input or node.
        """
        shared = (self.pipeline, self.inputs, self.context, self.run_id, self.output_name, self.runner)
        try:
            return dumps(shared, None if receiver is None else receiver.register)
        except Exception as exc:
            extra = {"the item runner (CompositeExecutor's node_executor)": self.runner}
            config = self.context["config"]
            raise _transport.diagnose_shared(self.pipeline, self.inputs, config, extra, exc) from None

    def encode_items(self, start: int = 0, stop: int | None = None) -> bytes:
        """Pickle ``items[start:stop]`` (all by default) for one task; a run has no items.

        Raises:
            SerializationError: An item cannot be pickled; it names the input and the item.
        """
        if self.items is None:
            return dumps(None)
        chunk = list(self.items[start:stop])
        first = self._first_index + start
        try:
            return dumps((first, chunk))
        except Exception as exc:
            raise _transport.diagnose_items(self.pipeline, first, chunk, exc) from None

    def decode(self, answer: bytes, start: int = 0) -> list[Outputs]:
        """Return the outputs in `answer` (one per item; one for a run), or raise its error.

        Args:
            answer: What :func:`run_payload` returned.
            start: The position in ``items`` of the chunk's first item.

        Raises:
            Exception: The node's own exception, with its notes and the worker's traceback.
            SerializationError: An output (or the error) cannot be unpickled here.
        """
        try:
            kind, *rest = loads(answer)
        except Exception as exc:
            raise SerializationError(
                f"the answer of a worker running pipeline {self.pipeline.name!r} could not be unpickled "
                f"({type(exc).__name__}: {exc})"
            ) from None
        if kind == "error":
            blob, text = rest
            try:
                error = loads(blob)
            except Exception as exc:  # its class is not importable here, say
                raise SerializationError(
                    f"a worker running pipeline {self.pipeline.name!r} failed, and its error cannot be unpickled "
                    f"here ({type(exc).__name__}: {exc}). Its traceback in the worker:\n{text}"
                ) from None
            raise _with_remote_traceback(error, text)
        first = self._first_index + start
        is_map = self.items is not None
        return [self._load_outputs(encoded, first + i if is_map else None) for i, encoded in enumerate(rest[0])]

    def _load_outputs(self, encoded: Sequence[tuple[str, bytes]], item_index: int | None) -> Outputs:
        outputs: Outputs = {}
        for name, blob in encoded:
            try:
                outputs[name] = loads(blob)
            except Exception as exc:
                producers = self.pipeline.producers
                node_name = producers[name].name if name in producers else name
                item = "" if item_index is None else f", map item {item_index}"
                raise SerializationError(
                    f"output {name!r} of node {node_name!r} (pipeline {self.pipeline.name!r}{item}) was computed "
                    f"in a worker but cannot be unpickled here ({type(exc).__name__}: {exc}). Its type must be "
                    "importable in the caller and unpickle without the worker's state: return plain data from "
                    "this node, or select other outputs with output_name=...",
                    node_name=node_name,
                    item_index=item_index,
                ) from None
        return outputs


def _fields(ctx: RunContext, config: RuntimeConfig | None) -> dict[str, Any]:
    fields = ctx.worker_fields()
    if config is not None:
        fields["config"] = config
    return fields


def run_payload(shared: bytes, chunk: bytes | None = None, send: SendEvent | None = None) -> bytes:
    """Run a payload where this is called (any process); return the answer as bytes. Never raises.

    A run goes through the config's executor (``run_pipeline``), a chunk of items through
    its ``map_items`` (an executor in a worker that knows it is there runs them inline).

    Args:
        shared: :meth:`RunPayload.encode`.
        chunk: :meth:`RunPayload.encode_items` (None: the payload is a run).
        send: Where callback events go (None: they are dropped).
    """
    pipeline: Pipeline | None = None
    first: int | None = None
    try:
        try:
            pipeline, inputs, fields, run_id, output_name, runner = loads(shared)
            items = None if chunk is None else loads(chunk)
        except Exception as exc:
            raise SerializationError(
                f"the work sent to this worker could not be unpickled here ({type(exc).__name__}: {exc}). "
                "Classes and functions pickled by reference must be importable in the worker: define them "
                "in an importable module installed there (or in __main__, which is pickled by value)"
            ) from None
        sink = None if send is None else _Sink(send)
        ctx = RunContext(run=RunState(run_id, event_sink=sink), **fields)
        executor = ctx.config.executor
        if items is None:
            results = [executor.run_pipeline(RunRequest.of(pipeline, inputs, ctx, output_name))]
        else:
            first, chunk_items = items
            request = MapRequest.of(pipeline, chunk_items, inputs, ctx, output_name)
            results = executor.map_items(request.replace(first_index=first, runner=runner))
        return dumps(("ok", [_encode_outputs(pipeline, outputs, first, i) for i, outputs in enumerate(results)]))
    except (Exception, KeyboardInterrupt) as exc:
        return _encode_error(exc)


class _Sink:
    """Encode each relayed event and hand the bytes to `send`."""

    __slots__ = ("_send",)

    def __init__(self, send: SendEvent) -> None:
        self._send = send

    def __call__(self, token: int, hook: str, ctx: CallbackContext, args: tuple[Any, ...]) -> None:
        self._send(encode_event(token, hook, ctx, args, _dumps_fast))


def _dumps_fast(value: Any) -> bytes:
    try:
        return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    except Exception:  # lambdas, local classes: by value
        return dumps(value)


def _encode_outputs(pipeline: Pipeline, outputs: Outputs, first: int | None, offset: int) -> list[tuple[str, bytes]]:
    encoded = []
    for name, value in outputs.items():
        try:
            encoded.append((name, _dumps_fast(value)))
        except Exception as exc:
            item_index = None if first is None else first + offset
            raise _transport.diagnose_outputs(pipeline, item_index, [{name: value}], exc) from None
    return encoded


def _encode_error(exc: BaseException) -> bytes:
    text = "".join(traceback.format_exception(exc))
    try:
        return dumps(("error", dumps(exc), text))
    except Exception as failure:  # the exception itself cannot travel: describe it
        error = SerializationError(
            f"a node raised {type(exc).__name__}: {exc}, which cannot be pickled to return it from the "
            f"worker ({type(failure).__name__}: {failure}). Its traceback in the worker:\n{text}"
        )
        return dumps(("error", dumps(error), text))


def _with_remote_traceback(error: BaseException, text: str) -> BaseException:
    if error.__cause__ is None:  # as concurrent.futures does: show where it failed in the worker
        error.__cause__ = RemoteTraceback(text)
    return error


class RemoteTraceback(Exception):
    """The traceback of an error raised in a worker, attached as the error's ``__cause__``."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


class EventReceiver:
    """The caller's end of an event relay: replays worker events into the callbacks they belong to.

    Pass it to :meth:`RunPayload.encode`: the callbacks of every config in the payload are
    registered here and sent as tokens. Then hand every event the worker sends to
    :meth:`receive`, from any thread. Thread safe.

    Args:
        ctx: The context of the level that sends the work (its run state is used).
    """

    __slots__ = ("_lock", "_reported", "_run", "_table")

    def __init__(self, ctx: RunContext) -> None:
        self._run = ctx.run
        self._table: dict[int, Sequence[Any]] = {}
        self._reported = False
        self._lock = threading.Lock()  # guards _table and _reported

    @property
    def wants_events(self) -> bool:
        """Whether some registered callback listens to an event (else workers send none)."""
        return bool(self._table)

    def register(self, callbacks: Sequence[Any]) -> RelayedCallbacks | None:
        """Return the stand-in the worker gets for `callbacks` (None: nobody listens)."""
        dispatcher = self._run.dispatcher_for(callbacks)
        if dispatcher is None:
            return None
        hooks = frozenset(hook for hook in HOOK_NAMES if dispatcher.wants(hook))
        if not hooks:
            return None
        with self._lock:
            self._table[id(callbacks)] = callbacks  # also keeps `callbacks` alive, so its id stays unique
        return RelayedCallbacks(id(callbacks), hooks)

    def receive(self, blob: bytes) -> None:
        """Dispatch one event sent by a worker (an undecodable one is reported once per run)."""
        try:
            token, hook, ctx, args = decode_event(blob, loads)
            callbacks = self._table[token]
        except Exception as exc:  # e.g. a value whose class the caller cannot import
            self._report(exc)
            return
        dispatcher = self._run.dispatcher_for(callbacks)
        if dispatcher is not None:
            replay(dispatcher, hook, ctx, args, self._run.state)

    def _report(self, exc: Exception) -> None:
        with self._lock:
            first, self._reported = not self._reported, True
        if first:
            warnings.warn(
                f"a callback event from a worker could not be decoded here ({type(exc).__name__}: {exc}); "
                "callbacks miss that event (further failures of this run are logged at debug level). "
                "Make the values your nodes take and return importable in the caller.",
                RuntimeWarning,
                stacklevel=2,
            )
        else:
            logger.debug("another callback event could not be decoded: %r", exc)
