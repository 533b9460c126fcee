"""A Python process that plays a Modal container: it runs the Function's body on the bytes a container gets.

Run as a script: it reads ``(function, chunk, kwargs)`` pickled on stdin, where ``function`` is
the Function's body serialized by Modal's own serializer, exactly as Modal ships a
``serialized=True`` Function; it calls it and writes frames on its stdout: ``E`` + an event,
as the container's event queue would carry it, then ``A`` + the answer. Nodes that print go
to stderr, so they cannot corrupt the frames.

:class:`ProcessSession` is the caller's side: a ModalBackend session whose calls each run in
one such process, with the events fed into the session queue the backend drains.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import IO, Any

_FRAME = struct.Struct("<cQ")


def _write(out: IO[bytes], kind: bytes, blob: bytes, lock: threading.Lock) -> None:
    with lock:
        out.write(_FRAME.pack(kind, len(blob)) + blob)
        out.flush()


class _StdoutQueue:
    """The container end of the event queue: each event becomes an ``E`` frame."""

    def __init__(self, out: IO[bytes], lock: threading.Lock) -> None:
        self._out = out
        self._lock = lock

    def put_many(self, vs: list[Any], *, partition: str | None = None) -> None:
        for blob in vs:
            _write(self._out, b"E", blob, self._lock)


def main() -> None:
    frames = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # the node's prints go to stderr
    sys.stdout = sys.stderr
    serialized, chunk, kwargs = pickle.load(sys.stdin.buffer)
    body = pickle.loads(serialized)
    lock = threading.Lock()
    if kwargs.pop("wants_events"):
        kwargs["events"] = _StdoutQueue(frames, lock)
    answer = body(chunk, **kwargs)
    _write(frames, b"A", answer, lock)


class ProcessSession:
    """A ModalBackend session that runs each call's chunk in a new Python process (see the module docstring)."""

    def __init__(self) -> None:
        from hypernodes.modal._session import LocalQueue

        self.queue = LocalQueue()
        self.processes = 0

    def call(self, function: Any, chunks: list[bytes | None], kwargs: Mapping[str, Any]) -> Iterator[Any]:
        from modal._serialization import serialize
        from modal_objects import function_value

        body = serialize(function_value(function, "info").raw_f)  # what Modal uploads for serialized=True
        sent = {key: value for key, value in kwargs.items() if key != "events"}
        sent["wants_events"] = kwargs["events"] is not None
        for chunk in chunks:
            yield self._run(body, chunk, sent, kwargs["partition"])

    def _run(self, body: bytes, chunk: bytes | None, kwargs: dict[str, Any], partition: str) -> bytes:
        self.processes += 1
        process = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(pickle.dumps((body, chunk, kwargs)))
        process.stdin.close()
        answer = None
        while header := process.stdout.read(_FRAME.size):
            kind, size = _FRAME.unpack(header)
            blob = process.stdout.read(size)
            if kind == b"E":
                self.queue.put_many([blob], partition=partition)  # drained by the backend, as from Modal
            else:
                answer = blob
        assert process.wait(timeout=60) == 0, "the container process failed"
        assert answer is not None, "the container process sent no answer"
        return answer

    def close(self) -> None:
        pass


if __name__ == "__main__":
    main()
