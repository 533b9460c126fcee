"""What runs in a Spark Python worker (private): core's payload for one chunk, events over TCP."""

from __future__ import annotations

import contextlib

from hypernodes.distributed import _scope
from hypernodes.distributed._event_server import EventSender
from hypernodes.executor import run_payload

__all__ = ["run_spark_chunk"]


def run_spark_chunk(shared: bytes, events: str | None, task_id: str, chunk: bytes | None) -> bytes:
    """Run a run payload, or one chunk of a map's items, here; return core's answer (never raises).

    `events` is the caller's :class:`~hypernodes.distributed._event_server.EventServer`
    address (None: nobody listens).
    """
    sender = None if events is None else EventSender(events, task_id)
    try:
        with _scope.inside_task(_scope.Task("spark")):
            send = None if sender is None else sender.send
            return run_payload(bytes(shared), None if chunk is None else bytes(chunk), send)
    finally:
        if sender is not None:
            with contextlib.suppress(OSError):  # the caller stopped listening: nothing to tell it
                sender.end()
