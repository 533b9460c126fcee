"""What runs inside a Dask worker (private): core's run payload, or one step of a run.

Every task is a function of this module with bytes for arguments (cloudpickle made by
``hypernodes.executor``), so the user's code travels by value: a scheduler or a worker
started from the command line unpickles nothing but this module's functions, which it can
import because hypernodes-distributed is installed there.

Events: a task sends each callback event to the caller with ``Worker.log_event(topic,
bytes)`` and, last, an end marker (the task's id as a ``str``), so the caller knows when it
has every event of the task (see :mod:`hypernodes.distributed._dask_relay`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING

from hypernodes import SerializationError
from hypernodes.distributed import _scope
from hypernodes.distributed._step_call import StepCall
from hypernodes.executor import dumps, loads, run_payload

if TYPE_CHECKING:
    pass

__all__ = ["StepCall", "StepFailed", "run_chunk", "run_one_step", "take_step_call"]


def _sender(topic: str | None) -> Callable[[bytes], None] | None:
    """Return how this task sends an event to the caller (None: nobody listens)."""
    if topic is None:
        return None
    from distributed import get_worker

    worker = get_worker()  # read in the task's own thread: get_worker() fails in threads the task starts

    def send(blob: bytes) -> None:
        worker.log_event(topic, blob)  # thread safe: handed to the worker's event loop

    return send


def _end(topic: str | None, task_id: str) -> None:
    if topic is not None:
        from distributed import get_worker

        get_worker().log_event(topic, task_id)  # after every event of this task, on the same stream


def run_chunk(topic: str | None, task_id: str, shared: bytes, chunk: bytes | None) -> bytes:
    """Run a run payload, or one chunk of a map's items, here; return core's answer (never raises)."""
    try:
        with _scope.inside_task(_scope.Task("dask", topic)):
            return run_payload(shared, chunk, _sender(topic))
    finally:
        _end(topic, task_id)


class StepFailed(Exception):
    """A step task failed; `answer` is core's answer carrying the node's own error."""

    def __init__(self, answer: bytes, task_id: str) -> None:
        super().__init__(answer, task_id)
        self.answer = answer
        self.task_id = task_id

    def __str__(self) -> str:
        return f"step task {self.task_id} failed (the caller re-raises the node's own error)"


_step_call: ContextVar[StepCall | None] = ContextVar("hypernodes_dask_step_call", default=None)


def take_step_call(key: str) -> StepCall | None:
    """Return the step the executor keyed `key` must run now, once (nested runs get None)."""
    call = _step_call.get()
    if call is None or call.key != key:
        return None
    _step_call.set(None)  # the step's own nested levels run normally
    return call


def run_one_step(topic: str | None, task_id: str, shared: bytes, key: str, index: int, *upstream: bytes) -> bytes:
    """Run step `index` of the run in `shared`, fed by the outputs of its upstream steps.

    Core's :func:`~hypernodes.executor.run_payload` rebuilds the run's context here (the
    cache, the event relay) and calls the ``DaskExecutor`` keyed `key`, which finds this
    step in :func:`take_step_call` and runs only it. Returns the step's outputs, with their
    cache signatures, as bytes (the downstream steps' input); raises :class:`StepFailed`.
    """
    call = StepCall(key, index, tuple(loads(blob) for blob in upstream))
    token = _step_call.set(call)
    try:
        with _scope.inside_task(_scope.Task("dask", topic)):
            answer = run_payload(shared, None, _sender(topic))
    finally:
        _step_call.reset(token)
        _end(topic, task_id)
    if call.values is None:  # the step raised (or never ran): the answer carries the error
        raise StepFailed(answer, task_id)
    try:
        return dumps(call.values)
    except Exception as exc:
        names = ", ".join(repr(name) for name in call.values)
        raise SerializationError(
            f"output(s) {names} of node {call.name!r} cannot be pickled to send them to the nodes downstream "
            f"on the Dask cluster ({type(exc).__name__}: {exc}). Return picklable values from this node.",
            node_name=call.name,
        ) from None
