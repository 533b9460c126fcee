"""What a pool worker tells the caller on its pipe, and the relay of callback events (private).

Each worker of ``ProcessPoolExecutor`` has a duplex pipe of its own (see
:mod:`hypernodes.executors._pool`): the caller sends tasks on it, and the worker writes back

* ``READY``: it started and waits for tasks. A worker that dies before it is ready died while
  starting (a script without ``if __name__ == "__main__":``, see ``_crash``).
* ``EVENT`` (channel, bytes): a callback event of the map (or run) `channel`, handed to that
  channel's core ``EventReceiver`` as it arrives, so progress bars advance per item, live.
* ``ANSWER`` (tainted, bytes): the answer of its task. *Tainted* says the worker still runs a
  call that overran its timeout, so the caller kills it.

The caller reads each worker's messages in the order they were written, so every event of a
task is replayed before its answer is read: ``on_map_end`` fires after the last
``on_map_item_end`` with no extra wait. Writes are synchronous (no feeder thread), so what a
worker wrote before it died is read. No lock is shared between workers: a worker killed in the
middle of a message garbles only its own pipe, which the caller discards with it. A callback
that raises, even ``SystemExit``, is reported and the relay goes on.
"""

from __future__ import annotations

import itertools
import struct
import threading
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from hypernodes.executor import EventReceiver

__all__ = ["ANSWER", "EVENT", "READY", "Relay", "WorkerLine", "parse"]

READY, EVENT, ANSWER = 0, 1, 2
_HEADER = struct.Struct("!Bq")  # kind, number (EVENT: the channel; ANSWER: tainted)


class WorkerLine:
    """A worker's end of its pipe; several threads of the worker may send at once."""

    __slots__ = ("_connection", "_lock")

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._lock = threading.Lock()  # keeps each message whole when several threads send events

    def send(self, kind: int, number: int = 0, blob: bytes = b"") -> None:
        """Write one message; it is in the pipe when this returns.

        Raises:
            OSError: The caller's end is closed (the caller died).
        """
        message = _HEADER.pack(kind, number) + blob
        with self._lock:
            self._connection.send_bytes(message)


def parse(message: bytes) -> tuple[int, int, bytes]:
    """Return the kind, the number and the body of a message a worker sent."""
    kind, number = _HEADER.unpack_from(message)
    return kind, number, message[_HEADER.size :]


class Relay:
    """The caller's table of open channels: which ``EventReceiver`` replays the events of each.

    It holds nothing of the executor (the receivers of finished maps are dropped), so an
    executor that is never closed can still be garbage-collected.
    """

    __slots__ = ("_ids", "_lock", "_receivers")

    def __init__(self) -> None:
        self._receivers: dict[int, EventReceiver] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()  # guards _receivers

    def open(self, receiver: EventReceiver) -> int:
        """Open a channel replaying into `receiver`; return its id."""
        channel = next(self._ids)
        with self._lock:
            self._receivers[channel] = receiver
        return channel

    def close(self, channel: int) -> None:
        """Stop replaying `channel` (late events are dropped)."""
        with self._lock:
            self._receivers.pop(channel, None)

    def deliver(self, channel: int, blob: bytes) -> None:
        """Replay one event of `channel` into its callbacks; never raises."""
        with self._lock:
            receiver = self._receivers.get(channel)
        if receiver is None:
            return
        try:
            receiver.receive(blob)
        except BaseException as exc:
            # Core's dispatcher already isolates Exception and SystemExit; what is left (a
            # KeyboardInterrupt raised by a callback itself: signals never reach this thread)
            # must not end the relay of every later map.
            warnings.warn(
                f"replaying a callback event raised {type(exc).__name__}: {exc}; the map goes on without it",
                RuntimeWarning,
                stacklevel=2,
            )
