"""The caller's side of Dask tasks (private): submit payload tasks, relay their events, collect answers.

A task logs each callback event under a topic made for one ``run`` or ``map`` and, last, its
own id (a ``str``) as an end marker. :class:`TopicRelay` subscribes to that topic, replays
each event into the caller's :class:`~hypernodes.executor.EventReceiver` and counts the end
markers, so that a ``run`` or ``map`` returns only once every event of every task that ran
has been dispatched. Used by ``DaskExecutor`` and by ``RemoteBackend(kind="dask")``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Collection, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hypernodes.distributed._dask_tasks import run_chunk

if TYPE_CHECKING:
    from distributed import Client, Future
    from hypernodes.executor import EventReceiver

__all__ = ["EVENT_GRACE", "TopicRelay", "cancel", "run_payload_tasks", "share", "untyped"]

logger = logging.getLogger(__name__)

EVENT_GRACE = 30.0  # seconds to wait for the last events of finished tasks before giving up on them
_EMBED_LIMIT = 64 * 1024  # bytes of shared payload sent inside each task rather than scattered once


class TopicRelay:
    """Replay the events logged under a fresh topic into `receiver`; count the tasks' end markers.

    Events are dispatched on the client's event-loop thread, in the order the scheduler
    received them. Thread safe.
    """

    def __init__(self, client: Client, receiver: EventReceiver) -> None:
        self.topic = f"hypernodes-events-{uuid.uuid4().hex}"
        self._client = client
        self._receiver = receiver
        self._ended: set[str] = set()
        self._changed = threading.Condition()  # guards _ended
        # Sent on the same stream as the tasks, so the scheduler knows the topic before any task logs.
        untyped(client).subscribe_topic(self.topic, self._handle)

    def _handle(self, event: tuple[float, Any]) -> None:
        message = event[1]
        if isinstance(message, str):  # a task's end marker
            with self._changed:
                self._ended.add(message)
                self._changed.notify_all()
        else:
            self._receiver.receive(message)

    def wait_for(self, task_ids: Collection[str], timeout: float = EVENT_GRACE) -> bool:
        """Wait until the tasks `task_ids` sent all their events; False if `timeout` ran out first."""
        wanted = set(task_ids)
        with self._changed:
            return self._changed.wait_for(lambda: wanted <= self._ended, timeout)

    def close(self) -> None:
        """Stop listening (events that arrive later are dropped by the scheduler)."""
        try:
            untyped(self._client).unsubscribe_topic(self.topic)
        except Exception as exc:  # a closed client: nothing listens any more anyway
            logger.debug("could not unsubscribe from %s: %r", self.topic, exc)


def run_payload_tasks(
    client: Client,
    shared: bytes,
    chunks: Sequence[bytes | None],
    receiver: EventReceiver,
    *,
    resources: Mapping[str, float] | None = None,
    topic: str | None = None,
) -> Generator[tuple[int, bytes], None, None]:
    """Run core's payload once per chunk as Dask tasks; yield ``(position, answer)`` as they complete.

    `shared` is sent as :func:`share` says. When the generator is closed
    (also early, on an error or Ctrl-C) the tasks not finished are cancelled, and it waits
    for the events of those that finished. A `topic` given (work sent on from inside a task)
    makes the tasks log their events there, for the caller that listens to it.
    """
    from distributed import as_completed

    relay = TopicRelay(client, receiver) if topic is None and receiver.wants_events else None
    if relay is not None:
        topic = relay.topic
    prefix = uuid.uuid4().hex[:12]  # task ids unique across the runs that share a topic
    futures: dict[Future[bytes], int] = {}
    finished: list[str] = []
    try:
        shared_arg = share(client, shared, len(chunks))
        for position, chunk in enumerate(chunks):
            future = client.submit(
                run_chunk, topic, f"{prefix}-{position}", shared_arg, chunk,
                pure=False, resources=dict(resources) if resources else None,
            )  # fmt: skip
            futures[future] = position
        # with_results: each answer comes with its completion, no round trip per task
        for future, answer in untyped(as_completed)(futures, loop=client.loop, with_results=True):
            position = futures[future]  # run_chunk never raises; a lost worker does (KilledWorker)
            finished.append(f"{prefix}-{position}")
            yield position, answer
    finally:
        cancel(client, [f for f in futures if not untyped(f).done()])
        if relay is not None:
            if not relay.wait_for(finished):
                logger.warning("some callback events did not arrive from the Dask workers within %ss", EVENT_GRACE)
            relay.close()


def share(client: Client, shared: bytes, tasks: int) -> Any:
    """Return what to pass as `shared` to `tasks` tasks: the bytes themselves, or a future of them.

    A small payload travels inside each task (no round trip). A large one is scattered once
    to every worker: scattered to one worker only, it would draw every task to that worker.
    """
    if tasks <= 1 or len(shared) <= _EMBED_LIMIT:
        return shared
    return untyped(client).scatter(shared, hash=False, broadcast=True)


def untyped(value: Any) -> Any:
    """Return `value` as Any: for the parts of Dask's API that have no annotations."""
    return value


def cancel(client: Client, futures: Sequence[Future[Any]]) -> None:
    """Cancel `futures` (tasks not finished), ignoring a client that is already closed."""
    if futures:
        try:
            untyped(client).cancel(list(futures))
        except Exception as exc:
            logger.debug("could not cancel %d Dask tasks: %r", len(futures), exc)
