"""Callback events over TCP, for engines with no channel of their own (Spark) (private).

The caller runs an :class:`EventServer` on a free port; each task opens one connection with
an :class:`EventSender`, sends its events as frames and, last, a frame with its task id. A
frame is a 4-byte big-endian length and a body whose first byte says what it is: ``E`` an
event (the rest is core's event bytes), ``D`` the end of a task (the rest is its id).
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections.abc import Collection

from hypernodes.executor import EventReceiver

__all__ = ["EventSender", "EventServer"]

logger = logging.getLogger(__name__)

_LENGTH = struct.Struct(">I")


class EventServer:
    """Receive the events of tasks on ``host:port`` and replay them into `receiver`; thread safe.

    Args:
        receiver: Where the events go.
        host: The address to listen on, as the tasks reach it.
    """

    def __init__(self, receiver: EventReceiver, host: str = "127.0.0.1") -> None:
        self._receiver = receiver
        self._socket = socket.create_server((host, 0))
        self.address = f"{host}:{self._socket.getsockname()[1]}"
        self._ended: set[str] = set()
        self._changed = threading.Condition()  # guards _ended
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="hypernodes-event-server", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:  # closed
                return
            reader = threading.Thread(target=self._serve, args=(connection,), name="hypernodes-events", daemon=True)
            reader.start()

    def _serve(self, connection: socket.socket) -> None:
        with connection, connection.makefile("rb") as stream:
            while True:
                header = stream.read(_LENGTH.size)
                if len(header) < _LENGTH.size:
                    return
                body = stream.read(_LENGTH.unpack(header)[0])
                if body[:1] == b"E":
                    self._receiver.receive(body[1:])
                elif body[:1] == b"D":
                    with self._changed:
                        self._ended.add(body[1:].decode())
                        self._changed.notify_all()

    def wait_for(self, task_ids: Collection[str], timeout: float) -> bool:
        """Wait until the tasks `task_ids` sent all their events; False if `timeout` ran out first."""
        wanted = set(task_ids)
        with self._changed:
            return self._changed.wait_for(lambda: wanted <= self._ended, timeout)

    def close(self) -> None:
        """Stop accepting connections."""
        self._socket.close()


class EventSender:
    """A task's end of the connection: :meth:`send` events, then :meth:`end`. Thread safe."""

    def __init__(self, address: str, task_id: str) -> None:
        host, _, port = address.rpartition(":")
        self._task_id = task_id
        self._socket: socket.socket | None = None
        self._address = (host, int(port))
        self._lock = threading.Lock()  # guards _socket and the frames written to it

    def send(self, blob: bytes) -> None:
        """Send one event."""
        self._write(b"E" + blob)

    def end(self) -> None:
        """Say that this task sent all its events, and close the connection."""
        self._write(b"D" + self._task_id.encode())
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None

    def _write(self, body: bytes) -> None:
        with self._lock:
            if self._socket is None:
                self._socket = socket.create_connection(self._address, timeout=30)
            self._socket.sendall(_LENGTH.pack(len(body)) + body)
