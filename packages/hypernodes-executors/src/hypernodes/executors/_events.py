"""Replay, in the caller, the callback events that worker processes send (private).

Workers put ``(channel, event bytes)`` on one queue per pool; a pump thread in the caller
takes them off as they come and hands each to the core ``EventReceiver`` of the map (or run)
that opened the channel, which replays it into the callbacks of the level it came from, so
progress bars advance per item, live. A worker ends each chunk with
``(channel, None)``, so the caller can wait until every event of a map was replayed before
the map returns (and ``on_map_end`` fires after the last ``on_map_item_end``).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

    from hypernodes.executor import EventReceiver

__all__ = ["Channel", "EventPump"]

logger = logging.getLogger(__name__)

_POLL = 0.1  # seconds between checks for close() while the queue is idle


class Channel:
    """The events of one map or run: where they are replayed, and how many chunks ended."""

    __slots__ = ("_cond", "_ended", "id", "receiver")

    def __init__(self, channel_id: int, receiver: EventReceiver) -> None:
        self.id = channel_id
        self.receiver = receiver
        self._ended = 0
        self._cond = threading.Condition(threading.Lock())  # guards _ended

    @property
    def wanted(self) -> bool:
        """Whether workers send events on this channel (decided once the payload was encoded)."""
        return self.receiver.wants_events

    def replay(self, blob: bytes) -> None:
        """Dispatch one relayed event."""
        self.receiver.receive(blob)

    def chunk_ended(self) -> None:
        """Count a chunk whose events were all replayed."""
        with self._cond:
            self._ended += 1
            self._cond.notify_all()

    def wait_for_chunks(self, count: int, timeout: float) -> bool:
        """Wait until `count` chunks ended; False if `timeout` seconds passed first."""
        if not self.wanted:
            return True  # workers send nothing on this channel
        with self._cond:
            return self._cond.wait_for(lambda: self._ended >= count, timeout)


class EventPump:
    """A caller thread replaying the events a pool's workers put on `events`."""

    def __init__(self, events: Queue[tuple[int, bytes | None]], name: str) -> None:
        self._events = events
        self._channels: dict[int, Channel] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()  # guards _channels
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name=name, daemon=True)
        self._thread.start()

    def open(self, receiver: EventReceiver) -> Channel:
        """Open a channel replaying into `receiver`."""
        channel = Channel(next(self._ids), receiver)
        with self._lock:
            self._channels[channel.id] = channel
        return channel

    def close_channel(self, channel: Channel) -> None:
        """Stop replaying `channel` (late events are dropped)."""
        with self._lock:
            self._channels.pop(channel.id, None)

    def stop(self) -> None:
        """Stop the pump thread and wait for it. Safe to call several times."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _pump(self) -> None:
        events, stop = self._events, self._stop
        while not stop.is_set():
            try:
                channel_id, blob = events.get(timeout=_POLL)
            except queue.Empty:
                continue
            except (EOFError, OSError, ValueError):  # the queue was closed under us
                return
            with self._lock:
                channel = self._channels.get(channel_id)
            if channel is None:
                continue
            if blob is None:
                channel.chunk_ended()
            else:
                channel.replay(blob)
