"""What runs inside a worker process of ``ProcessPoolExecutor`` (private).

A task is core's run payload (what every item shares, pickled once per map) and one chunk
of items; :func:`hypernodes.executor.run_payload` runs it and answers in bytes. Callback
events go to the caller as they happen through the process-wide event queue given to
:func:`initialize`, each tagged with the channel of the map (or run) it belongs to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hypernodes.executor import run_payload
from hypernodes.executors import _scope

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

__all__ = ["NO_EVENTS", "initialize", "run_chunk"]

NO_EVENTS = -1
"""The channel of a task whose caller listens to no event."""

# The queue events go back to the caller through; set once per worker process.
_events: Queue[tuple[int, bytes | None]] | None = None


def initialize(events: Queue[tuple[int, bytes | None]]) -> None:
    """Keep the caller's event queue (the pool's initializer, run once per worker process)."""
    global _events
    _events = events


def run_chunk(key: str, channel: int, shared: bytes, chunk: bytes | None) -> bytes:
    """Run one chunk of map items (or, with no chunk, one run); return the answer as bytes.

    Work nested inside for the executor keyed `key` runs here, inline. The caller learns
    that a chunk sent all its events by ``(channel, None)`` on the queue.
    """
    events = _events if channel != NO_EVENTS else None

    def send(blob: bytes) -> None:
        if events is not None:
            events.put((channel, blob))

    try:
        with _scope.inside(key):
            return run_payload(shared, chunk, send if events is not None else None)
    finally:
        if events is not None:
            events.put((channel, None))
