"""What runs inside a Modal container: the body of the Modal Function a ``ModalBackend`` builds (private).

The Function is created with ``serialized=True`` from :func:`run_in_container`, which Modal
pickles by reference (this module is installed in the container's image). A call gets the
bytes of core's run payload and runs them with :func:`hypernodes.executor.run_payload`, the
one worker-side path every HyperNodes executor and backend uses::

    caller (ModalBackend)                         container (this module)
    payload.encode(receiver) ─ shared ─────────▶  run_in_container(chunk, shared=..., events=...)
    payload.encode_items(a, b) ─ chunk ────────▶      run_payload(shared, chunk, send)
    drain thread ◀─ events.get_many ─ Queue ◀───      send: EventSender.put_many (batched)
    payload.decode(answer) ◀─ answer bytes ─────      volume.commit() for every mounted Volume

The same function body also runs offline: ``Function.local(...)`` (the backend's
``mode="local"``) and a plain Python process fed the same bytes (the tests) call it with
any object that has Modal ``Queue``'s ``put_many(values, partition=...)``.

Seam for per-container resources (issue 12): a resource built once per container belongs in
``@modal.enter`` of an ``app.cls``. When resources land, the Function becomes a class whose
``@modal.enter`` method builds them and whose one ``@modal.method`` calls
:func:`run_in_container`; the payload, the events and the answer stay exactly as here.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

from hypernodes.executor import run_payload

__all__ = ["EventSender", "EventsQueue", "in_modal_container", "inside", "is_inside", "run_in_container"]

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 0.1
"""How often a container sends the events it buffered (one Queue call per batch, not per event)."""

_MAX_BATCH = 256  # events per put_many call

_inside: ContextVar[bool] = ContextVar("hypernodes_modal_inside", default=False)


class EventsQueue(Protocol):
    """The part of ``modal.Queue`` a container sends events through."""

    def put_many(self, vs: list[Any], *, partition: str | None = None) -> None:
        """Append `vs` to the queue's `partition`."""


def is_inside() -> bool:
    """Return whether this code runs inside the body of a ModalBackend call (a container, or ``.local()``).

    Modal sets ``MODAL_IS_REMOTE=1`` in its containers, and their child processes (a
    ``ProcessPoolExecutor`` there) inherit it, which ``modal.is_local()`` does not see.
    """
    return _inside.get() or in_modal_container()


def in_modal_container() -> bool:
    """Return whether this process runs in a Modal container (or a child process of one)."""
    return os.environ.get("MODAL_IS_REMOTE") == "1"


@contextmanager
def inside() -> Iterator[None]:
    """Mark the block as running in a ModalBackend container (nested ModalBackend levels run here)."""
    token = _inside.set(True)
    try:
        yield
    finally:
        _inside.reset(token)


class EventSender:
    """Buffer callback events and send them in batches from a background thread.

    A node that runs for minutes must not hold back the event of its own start, so a thread
    flushes every :data:`FLUSH_SECONDS`; :meth:`close` sends what is left, so every event
    is in the queue before the call returns its answer (the caller drains the queue after
    the answers arrive and misses nothing).

    Args:
        events: Where events go (a ``modal.Queue``, or an offline stand-in).
        partition: The queue partition of this run or map (one per backend call).
    """

    def __init__(self, events: EventsQueue, partition: str) -> None:
        self._events = events
        self._partition = partition
        self._buffer: list[bytes] = []
        self._lock = threading.Lock()  # guards _buffer
        self._sending = threading.Lock()  # one put_many at a time keeps the events in order
        self._stop = threading.Event()
        self._failed = False
        self._thread = threading.Thread(target=self._run, name="hypernodes-modal-events", daemon=True)
        self._thread.start()

    def __call__(self, blob: bytes) -> None:
        with self._lock:
            self._buffer.append(blob)

    def close(self) -> None:
        """Stop the flushing thread and send every buffered event."""
        self._stop.set()
        self._thread.join()
        self._flush()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self._flush()

    def _flush(self) -> None:
        with self._sending:
            while True:
                with self._lock:
                    batch, self._buffer = self._buffer[:_MAX_BATCH], self._buffer[_MAX_BATCH:]
                if not batch:
                    return
                try:
                    self._events.put_many(batch, partition=self._partition)
                except Exception:  # the run goes on; its progress bars stop moving
                    if not self._failed:
                        self._failed = True
                        logger.warning("callback events could not be sent to the caller", exc_info=True)


def run_in_container(
    chunk: bytes | None,
    *,
    shared: bytes,
    events: EventsQueue | None = None,
    partition: str = "",
    volumes: Sequence[Any] = (),
) -> bytes:
    """Run one HyperNodes payload (a run, or a chunk of a map's items); return the answer bytes.

    This is the body of the Modal Function that ``ModalBackend`` builds. It never raises for
    what the pipeline does: the answer carries the outputs or the node's error.

    Args:
        chunk: ``RunPayload.encode_items`` bytes, or None for a run.
        shared: ``RunPayload.encode`` bytes (what every chunk of a map shares).
        events: Where callback events go (None: no callback listens in the caller).
        partition: The partition of `events` that the caller drains for this call.
        volumes: The ``modal.Volume`` objects mounted in this container: reloaded before the
            run, so entries other containers committed are seen, and committed after it, so
            the cache entries written here are seen by the next run.
    """
    in_container = in_modal_container()
    if in_container:
        _sync_volumes(volumes, "reload")
    sender = None if events is None else EventSender(events, partition)
    try:
        with inside():
            return run_payload(shared, chunk, sender)
    finally:
        if sender is not None:
            sender.close()
        if in_container:
            _sync_volumes(volumes, "commit")


def _sync_volumes(volumes: Sequence[Any], action: str) -> None:
    for volume in volumes:
        try:
            getattr(volume, action)()
        except Exception:  # e.g. reload with files still open: the run goes on
            logger.warning("could not %s Modal volume %r", action, volume, exc_info=True)
