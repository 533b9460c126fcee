"""The caller's side of Modal calls: an app session, its event queue and the thread that drains it (private).

A :class:`Session` is opened once per ``ModalBackend`` (on first use) and serves every run
and map until the backend is closed: ``with app.run():`` and one ``modal.Queue.ephemeral()``
held open in an ``ExitStack``. Each call gets its own queue partition, drained into the
call's ``EventReceiver`` by an :class:`EventDrain` thread while the remote work runs.

Offline (``mode="local"``) the session runs the Function's body with ``Function.local`` and
its queue is a :class:`LocalQueue`, which has the two methods of ``modal.Queue`` used here.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

if TYPE_CHECKING:
    import modal
    from hypernodes.executor import EventReceiver

__all__ = ["EventDrain", "LocalQueue", "LocalSession", "RemoteSession", "Session", "WorkerFunction"]

logger = logging.getLogger(__name__)

Kwargs = Mapping[str, Any]
WorkerFunction: TypeAlias = "modal.Function[..., Any, Any]"
"""The Modal Function whose body is ``run_in_container``."""

_POLL_SECONDS = 0.5  # how long one drain request waits for events before checking whether to stop
_BATCH = 256


class _Queue(Protocol):
    def put_many(self, vs: list[Any], *, partition: str | None = None) -> None: ...

    def get_many(
        self, n_values: int, block: bool = True, timeout: float | None = None, *, partition: str | None = None
    ) -> list[Any]: ...


class Session(Protocol):
    """Calls the Function and owns what the calls share (the app session, the event queue)."""

    queue: _Queue

    def call(self, function: WorkerFunction, chunks: Sequence[bytes | None], kwargs: Kwargs) -> Iterator[Any]:
        """Yield each chunk's answer (bytes) or Modal's exception for it, in chunk order."""
        ...

    def close(self) -> None:
        """End the session (idempotent)."""
        ...


class RemoteSession:
    """``with app.run():`` and an ephemeral ``modal.Queue``, kept open until :meth:`close`."""

    def __init__(self, app: modal.App) -> None:
        import modal

        stack = contextlib.ExitStack()
        try:
            stack.enter_context(app.run())
            self.queue: _Queue = stack.enter_context(modal.Queue.ephemeral())
        except BaseException:
            stack.close()
            raise
        # Closed by close(), or when the backend is collected or the interpreter exits.
        self._finalizer = weakref.finalize(self, stack.close)

    def call(self, function: WorkerFunction, chunks: Sequence[bytes | None], kwargs: Kwargs) -> Iterator[Any]:
        """Yield each chunk's answer; one chunk is one ``.remote`` call, more fan out with ``.map``."""
        if len(chunks) == 1:
            try:
                yield function.remote(chunks[0], **kwargs)
            except Exception as exc:  # run_in_container never raises: this is Modal's own failure
                yield exc
            return
        yield from function.map(chunks, kwargs=dict(kwargs), order_outputs=True, return_exceptions=True)

    def close(self) -> None:
        """Stop the app (its containers scale down) and delete the event queue."""
        self._finalizer()


class LocalSession:
    """Run the Function's real body in this process with ``Function.local`` (no Modal account needed)."""

    def __init__(self) -> None:
        self.queue: _Queue = LocalQueue()

    def call(self, function: WorkerFunction, chunks: Sequence[bytes | None], kwargs: Kwargs) -> Iterator[Any]:
        """Yield each chunk's answer, running the chunks one after the other here."""
        for chunk in chunks:
            yield function.local(chunk, **kwargs)

    def close(self) -> None:
        """Nothing to stop."""


class LocalQueue:
    """A thread-safe stand-in for ``modal.Queue``'s ``put_many`` / ``get_many`` with partitions."""

    def __init__(self) -> None:
        self._partitions: dict[str | None, queue.SimpleQueue[Any]] = {}
        self._lock = threading.Lock()  # guards _partitions

    def _partition(self, partition: str | None) -> queue.SimpleQueue[Any]:
        with self._lock:
            return self._partitions.setdefault(partition, queue.SimpleQueue())

    def put_many(self, vs: list[Any], *, partition: str | None = None) -> None:
        """Append `vs` to `partition`."""
        target = self._partition(partition)
        for value in vs:
            target.put(value)

    def get_many(
        self, n_values: int, block: bool = True, timeout: float | None = None, *, partition: str | None = None
    ) -> list[Any]:
        """Remove up to `n_values` values; with `block`, wait up to `timeout` for one (else ``queue.Empty``)."""
        source = self._partition(partition)
        values: list[Any] = []
        if block:
            values.append(source.get(timeout=timeout))
        while len(values) < n_values:
            try:
                values.append(source.get_nowait())
            except queue.Empty:
                break
        return values


class EventDrain:
    """Replay the events of one call's queue partition into its receiver, on a thread, while the call runs.

    Args:
        events: The session's queue.
        partition: The call's partition.
        receiver: The call's event receiver (it dispatches to the caller's callbacks).
    """

    def __init__(self, events: _Queue, partition: str, receiver: EventReceiver) -> None:
        self._events = events
        self._partition = partition
        self._receiver = receiver
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hypernodes-modal-drain", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self._events.get_many(_BATCH, block=True, timeout=_POLL_SECONDS, partition=self._partition)
            except queue.Empty:
                continue
            except Exception:
                logger.warning("callback events could not be read from the Modal queue", exc_info=True)
                return
            self._replay(batch)

    def _replay(self, batch: list[Any]) -> None:
        for blob in batch:
            self._receiver.receive(blob)

    def finish(self) -> None:
        """Stop the thread and replay what is left (every chunk put its events before answering)."""
        self._stop.set()
        self._thread.join()
        try:
            while batch := self._events.get_many(_BATCH, block=False, partition=self._partition):
                self._replay(batch)
        except Exception:
            logger.warning("the last callback events could not be read from the Modal queue", exc_info=True)
