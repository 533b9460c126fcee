"""The line from a pool's worker processes back to the caller, and the pump that reads it (private).

Workers write messages on one pipe per pool, each tagged with the channel of the map (or
run) it belongs to; a pump thread in the caller reads them as they come:

* ``START`` (pid, first item): a worker took a chunk. When a worker dies, the caller knows
  which items it held.
* ``EVENT`` (bytes): a callback event, handed to the core ``EventReceiver`` of the channel,
  which replays it into the callbacks of the level it came from, so progress bars advance per
  item, live.
* ``END`` (tainted): a chunk sent all its events, so the caller can wait until every event
  of a map was replayed before the map returns (``on_map_end`` fires after the last
  ``on_map_item_end``). *Tainted* says the worker still runs a call that overran its timeout.

Writes are synchronous (no feeder thread, unlike ``multiprocessing.Queue``), so a message is
in the pipe before the worker goes on: a worker that dies right after announcing a chunk has
announced it. A lock shared by the workers keeps messages whole. The pump reads until every
writer is gone (end of file) or it is stopped; a callback that raises, even ``SystemExit``,
is reported and the pump goes on.
"""

from __future__ import annotations

import itertools
import logging
import os
import struct
import threading
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import BaseContext

    from hypernodes.executor import EventReceiver

__all__ = ["EVENT", "START", "Channel", "EventPump", "EventWriter", "open_line"]

logger = logging.getLogger(__name__)

START, EVENT, END = 0, 1, 2
_HEADER = struct.Struct("!qBqq")  # channel, kind, pid, number (START: first item; END: tainted)
_POLL = 0.1  # seconds between checks for stop() while the line is idle


class EventWriter:
    """The workers' end of the line (pickled into each worker when it starts)."""

    __slots__ = ("_connection", "_lock")

    def __init__(self, connection: Connection, lock: Any) -> None:
        self._connection = connection
        self._lock = lock  # a multiprocessing Lock: guards the pipe across processes and threads

    def send(self, channel: int, kind: int, number: int = 0, blob: bytes = b"") -> None:
        """Write one message; it is in the pipe when this returns.

        Raises:
            OSError: The caller's end is closed (the caller died).
        """
        message = _HEADER.pack(channel, kind, os.getpid(), number) + blob
        with self._lock:
            self._connection.send_bytes(message)

    def close(self) -> None:
        """Close this process's copy of the writing end."""
        self._connection.close()

    def __getstate__(self) -> tuple[Connection, Any]:
        return self._connection, self._lock

    def __setstate__(self, state: tuple[Connection, Any]) -> None:
        self._connection, self._lock = state


def open_line(context: BaseContext) -> tuple[Connection, EventWriter]:
    """Return a new line's reading end (for an :class:`EventPump`) and writing end."""
    reader, writer = context.Pipe(duplex=False)
    return reader, EventWriter(writer, context.Lock())


class Channel:
    """The messages of one map or run: where events are replayed, which chunks started and ended."""

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

    def chunk_ended(self) -> None:
        """Count a chunk whose messages were all read."""
        with self._cond:
            self._ended += 1
            self._cond.notify_all()

    def wait_for_chunks(self, count: int, timeout: float) -> bool:
        """Wait until `count` chunks ended; False if `timeout` seconds passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._ended >= count, timeout)


class EventPump:
    """A caller thread reading the line of a pool's workers.

    It holds nothing of the executor, so an executor that is never closed can still be
    garbage-collected (and its pool released, see ``ProcessPoolExecutor``).

    Attributes:
        holders: For each worker pid, the ``(channel, first item)`` of the last chunk it took.
        tainted: Whether some worker reported a call that overran its timeout and still runs.
    """

    def __init__(self, reader: Connection, name: str) -> None:
        self.holders: dict[int, tuple[int, int]] = {}
        self.tainted = False
        self._reader = reader
        self._channels: dict[int, Channel] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()  # guards _channels and holders
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
        """Read what is left in the line, then stop the thread and wait for it. Safe to call several times.

        Close every writing end first (the workers gone, the caller's copy closed), so the
        last messages are read and nothing blocks on a message a killed worker left half written.
        """
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _pump(self) -> None:
        reader = self._reader
        try:
            while True:
                if not reader.poll(0 if self._stop.is_set() else _POLL):
                    if self._stop.is_set():
                        return  # stopped, and nothing is left to read
                    continue
                self._handle(reader.recv_bytes())
        except (EOFError, OSError):  # every writer is gone, or the line was closed under us
            return
        finally:
            reader.close()

    def _handle(self, message: bytes) -> None:
        channel_id, kind, pid, number = _HEADER.unpack_from(message)
        with self._lock:
            if kind == START:
                self.holders[pid] = (channel_id, number)
            channel = self._channels.get(channel_id)
        if kind == END:
            if number:
                self.tainted = True
            if channel is not None:
                channel.chunk_ended()
        elif kind == EVENT and channel is not None:
            try:
                channel.receiver.receive(message[_HEADER.size :])
            except BaseException as exc:
                # Core's dispatcher already isolates Exception and SystemExit; what is left (a
                # KeyboardInterrupt raised by a callback itself: signals never reach this thread)
                # must not end the relay of every later map.
                _report(exc)


def _report(exc: BaseException) -> None:
    warnings.warn(
        f"replaying a callback event raised {type(exc).__name__}: {exc}; the map goes on without it",
        RuntimeWarning,
        stacklevel=2,
    )
