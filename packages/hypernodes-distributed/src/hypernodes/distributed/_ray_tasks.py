"""The Ray tasks that run core's run payloads, and the channel their callback events take back (private).

One task runs one chunk of a map (or one run) with :func:`hypernodes.executor.run_payload`
(:func:`run_chunk`), or one step of a run (:func:`run_step_task`, for
:mod:`~hypernodes.distributed._ray_graph`), in the worker's main thread: Ray lends a task's
CPU to other tasks only while that thread waits in ``ray.get``/``ray.wait`` (a wait in
another thread keeps it, and nested tasks deadlock), so a streaming generator, which would
need the payload in a helper thread, is not used. Callback events go instead to a small
actor (:class:`_EventBox`, no CPU) as fire-and-forget calls; a sync actor runs the calls of
one submitter in submission order, so a task's events arrive in order and its end marker
after them. The caller polls the box from one thread per process (:class:`_Relay`) while
work that listens to events is running.

Work submitted from inside a task (a nested map) carries the callback tokens of the root
caller (core relays tokens unchanged), so its tasks send their events straight to the box
and channel of the task they were submitted from; each first makes sure (a blocking
``flush``) that what came before has reached the box, so the events stay in order across
processes.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal

from hypernodes import WorkerCrashedError
from hypernodes.distributed._step_call import StepCall
from hypernodes.executor import dumps, loads, run_payload

if TYPE_CHECKING:
    from hypernodes.executor import EventReceiver, SendEvent

__all__ = [
    "WAIT_SLICE", "EventRoute", "StepCall", "StepStatus", "claim_task_work", "crashed", "is_inside", "remote",
    "run_chunks", "run_step_task", "take_step_call",
]  # fmt: skip

logger = logging.getLogger(__name__)

_EVENT_GRACE = 30.0  # seconds to wait for the last events of finished chunks before giving up on them
WAIT_SLICE = 0.2  # seconds per ray.wait, so that Ctrl-C is noticed
_POLL_MIN, _POLL_MAX = 0.005, 0.05  # seconds between two polls of the event box (backs off while idle)

# The keys of the RayExecutors whose task the current code runs in.
_inside: ContextVar[tuple[str, ...]] = ContextVar("hypernodes_ray_tasks", default=())
# Set in a task until its executor takes the work the task was sent (the run, or the chunk).
_unclaimed: ContextVar[bool] = ContextVar("hypernodes_ray_task_work", default=False)
# In a task whose events someone listens to: the box and channel they go to.
_events_to: ContextVar[tuple[Any, str] | None] = ContextVar("hypernodes_ray_events_to", default=None)


def is_inside(key: str) -> bool:
    """Return whether this code runs in a task of the RayExecutor keyed `key`."""
    return key in _inside.get()


def claim_task_work() -> bool:
    """Return True once per task: for the call that runs the work the task was sent.

    The executor's ``map_items`` (or ``run_pipeline``) called by ``run_payload`` in a task
    must run that chunk there; a later call in the same task is nested work (a nested map
    inside an item), which may become further tasks.
    """
    if not _unclaimed.get():
        return False
    _unclaimed.set(False)  # in the task's own context: every nested call sees False
    return True


def run_chunk(
    key: str | None, shared: bytes, chunk: bytes | None, box: Any, channel: str | None, forwarded: bool
) -> bytes:
    """Run one chunk (or one run) in a Ray worker; the body of the Ray task. Never raises.

    Args:
        key: The RayExecutor this task belongs to (nested work of it knows so), or None.
        shared: ``RunPayload.encode()`` (Ray resolves the object reference it was sent as).
        chunk: ``RunPayload.encode_items(...)``, or None for a run.
        box: The caller's event box (None: nobody listens to events).
        channel: The submission's channel in the box.
        forwarded: The events go to the channel of an enclosing task (nested work): end with
            a flush instead of the end marker the channel counts.
    """
    with _in_task(key, box, channel, forwarded) as send:
        return run_payload(shared, chunk, send)


# In a step task until its executor takes the step (see take_step_call).
_step_call: ContextVar[StepCall | None] = ContextVar("hypernodes_ray_step_call", default=None)


def take_step_call(key: str) -> StepCall | None:
    """Return the step the RayExecutor keyed `key` must run now, once (nested runs get None)."""
    call = _step_call.get()
    if call is None or call.key != key:
        return None
    _step_call.set(None)  # in the task's own context: the step's nested levels run normally
    return call


StepStatus = tuple[Literal["ok"]] | tuple[Literal["failed"], bytes] | tuple[Literal["unpicklable"], str, str]
"""How a step task ended: ok, failed (core's answer carrying the node's error) or with outputs that do not pickle."""


def run_step_task(
    key: str, shared: bytes, index: int, box: Any, channel: str | None, forwarded: bool, *upstream: bytes
) -> tuple[StepStatus, bytes | None]:
    """Run step `index` of the run in `shared`, fed by its upstream steps' outputs; the body of a step task.

    Core's :func:`~hypernodes.executor.run_payload` rebuilds the run's context here (the
    cache, the event relay) and calls the ``RayExecutor`` keyed `key`, which finds this step
    with :func:`take_step_call` and runs only it. Never raises.

    Returns:
        The status (small, the only part the caller fetches) and the step's outputs as
        ``dumps(Values)`` (with their cache signatures: the downstream steps' input), or None.
    """
    call = StepCall(key, index, tuple(loads(blob) for blob in upstream))
    token = _step_call.set(call)
    try:
        with _in_task(key, box, channel, forwarded) as send:
            answer = run_payload(shared, None, send)
    finally:
        _step_call.reset(token)
    if call.values is None:  # the step raised (or never ran): the answer carries the error
        return ("failed", answer), None
    try:
        return ("ok",), dumps(call.values)
    except Exception as exc:
        names = ", ".join(repr(name) for name in call.values)
        message = (
            f"output(s) {names} of node {call.name!r} cannot be pickled to send them to the nodes downstream "
            f"on the Ray cluster ({type(exc).__name__}: {exc}). Return picklable values from this node."
        )
        return ("unpicklable", call.name, message), None


@contextmanager
def _in_task(key: str | None, box: Any, channel: str | None, forwarded: bool) -> Iterator[SendEvent | None]:
    """Mark the block as a task of the RayExecutor keyed `key`; yield how it sends events (None: nobody listens)."""
    send: SendEvent | None = None
    if box is not None:
        put = box.put.remote

        def send(blob: bytes) -> None:
            put(channel, blob)  # fire and forget: the box keeps one submitter's calls in order

    token = _inside.set((*_inside.get(), key)) if key is not None else None
    fresh = _unclaimed.set(key is not None)
    route = _events_to.set(None if box is None or channel is None else (box, channel))
    try:
        yield send
    finally:
        _events_to.reset(route)
        _unclaimed.reset(fresh)
        if token is not None:
            _inside.reset(token)
        if box is not None:
            if forwarded:
                import ray

                ray.get(box.flush.remote())  # our events are in the box before our answer is
            else:
                box.put.remote(channel, None)  # this task sent all its events


class _EventBox:
    """An actor holding the callback events workers sent until the caller takes them."""

    def __init__(self) -> None:
        self._events: list[tuple[str, bytes | None]] = []

    def put(self, channel: str, blob: bytes | None) -> None:
        self._events.append((channel, blob))

    def flush(self) -> None:
        """Return once every earlier call of the caller has run (the actor runs them in order)."""

    def take(self) -> list[tuple[str, bytes | None]]:
        events, self._events = self._events, []
        return events


class _Channel:
    """The events of one submission: where they go, and how many chunks sent all theirs."""

    __slots__ = ("ended", "id", "receiver")

    def __init__(self, receiver: EventReceiver) -> None:
        self.id = uuid.uuid4().hex
        self.receiver = receiver
        self.ended = 0


class _Relay:
    """This process's event box and the thread that polls it while a channel is open."""

    def __init__(self) -> None:
        self._lock = threading.Condition()  # guards every attribute below; notified when a chunk ends
        self._channels: dict[str, _Channel] = {}
        self._box: Any = None
        self._job: str | None = None  # the Ray job the box belongs to (a new ray.init makes a new one)
        self._thread: threading.Thread | None = None

    def open(self, receiver: EventReceiver) -> tuple[Any, _Channel]:
        """Return the box workers send to and a new channel whose events go to `receiver`."""
        import ray

        channel = _Channel(receiver)
        with self._lock:
            job = ray.get_runtime_context().get_job_id()
            if self._box is None or self._job != job:
                make_actor = ray.remote(num_cpus=0, max_concurrency=1)  # type: ignore[call-overload,unused-ignore]
                box_class = make_actor(_EventBox)
                self._box, self._job = box_class.remote(), job
            self._channels[channel.id] = channel
            if self._thread is None:
                self._thread = threading.Thread(target=self._poll, name="hypernodes-ray-events", daemon=True)
                self._thread.start()
            return self._box, channel

    def close(self, channel: _Channel, chunks: int) -> None:
        """Wait (boundedly) until `chunks` chunks of `channel` sent their events, then forget it."""
        deadline = time.monotonic() + _EVENT_GRACE
        with self._lock:
            while channel.ended < chunks and self._thread is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    logger.warning("some callback events did not arrive from the Ray workers")
                    break
                self._lock.wait(left)
            self._channels.pop(channel.id, None)

    def discard(self, channel: _Channel) -> None:
        """Forget `channel` at once (its work failed or was interrupted)."""
        with self._lock:
            self._channels.pop(channel.id, None)

    def _poll(self) -> None:
        import ray

        pause = _POLL_MIN
        while True:
            with self._lock:
                if not self._channels:
                    self._thread = None
                    return
                box = self._box
            try:
                events = ray.get(box.take.remote())
            except Exception as exc:  # Ray shut down under us, say
                logger.warning("callback events from Ray workers stopped arriving: %r", exc)
                with self._lock:
                    self._thread = None
                    self._lock.notify_all()
                return
            for channel_id, blob in events:
                with self._lock:
                    channel = self._channels.get(channel_id)
                if channel is None:
                    continue  # a late event of a submission that already failed
                if blob is None:
                    with self._lock:
                        channel.ended += 1
                        self._lock.notify_all()
                else:
                    channel.receiver.receive(blob)
            pause = _POLL_MIN if events else min(_POLL_MAX, pause * 2)
            time.sleep(pause)


_relay = _Relay()
_remote: dict[str, Any] = {}  # task bodies as Ray remote functions, made on first use
_remote_lock = threading.Lock()  # guards _remote


def remote(body: Callable[..., Any]) -> Any:
    """Return `body` (:func:`run_chunk` or :func:`run_step_task`) as a Ray remote function."""
    with _remote_lock:
        function = _remote.get(body.__name__)
        if function is None:
            import ray

            function = _remote[body.__name__] = ray.remote(body)
        return function


class EventRoute:
    """Where the tasks of one submission send their callback events, and the wait for the last ones.

    In the caller, events go to a new channel of this process's box. In a task (work sent on
    from it), the caller's receiver has no callbacks of its own (core relays tokens
    unchanged): the events go where the task's go, after what the task sent so far.

    Args:
        receiver: The submission's receiver.
    """

    def __init__(self, receiver: EventReceiver) -> None:
        import ray

        self.box: Any = None
        self.channel: str | None = None
        self._own: _Channel | None = None
        route = None
        if receiver.wants_events:
            self.box, self._own = _relay.open(receiver)
            self.channel = self._own.id
        else:
            route = _events_to.get()
        self.forwarded = route is not None
        if route is not None:  # nested work of a task: its events go where the task's go
            self.box, self.channel = route
            ray.get(self.box.flush.remote())  # what the task sent so far arrives first

    def close(self, answered: int, interrupted: bool) -> None:
        """Wait (boundedly) for the events of the `answered` tasks, or drop them if `interrupted`."""
        if self._own is not None:
            if interrupted:
                _relay.discard(self._own)
            else:
                _relay.close(self._own, answered)


def crashed(exc: Exception, what: str) -> WorkerCrashedError:
    """Return the error for a Ray task lost (`exc`) while it ran `what`."""
    return WorkerCrashedError(
        f"a Ray worker failed while running {what}: {type(exc).__name__}: {exc}. "
        "It was killed (out of memory?), exited, or its node left the cluster; run again, "
        "or give the executor max_retries=N to let Ray retry such tasks.",
    )


def run_chunks(
    key: str | None,
    shared: bytes,
    chunks: Sequence[bytes | None],
    receiver: EventReceiver,
    options: Mapping[str, Any],
    on_answer: Callable[[int, bytes], None],
    describe: Callable[[int], str],
) -> None:
    """Run each chunk as one Ray task; hand each answer to `on_answer` as it arrives.

    When `on_answer` raises, the error propagates once the events of the chunks that
    answered are delivered; the other chunks finish unobserved. Ctrl-C cancels them.
    Events are relayed into `receiver` while the tasks run, and all of a
    chunk's events are delivered before this returns.

    Args:
        key: The RayExecutor the tasks belong to (None: none, e.g. a remote backend's run).
        shared: What every chunk shares (``RunPayload.encode``); stored once in Ray's object store.
        chunks: One ``encode_items`` blob per task (None for a run).
        receiver: Where the tasks' callback events go.
        options: Ray task options (``num_cpus``, ``num_gpus``, ``resources``, ``runtime_env``...).
        on_answer: Called with (chunk position, answer) for each finished chunk.
        describe: Names the work of a chunk position, for crash reports ("map items 0-9").

    Raises:
        WorkerCrashedError: A worker died (or Ray lost the task) while running a chunk.
    """
    import ray

    events = EventRoute(receiver)
    refs: dict[Any, int] = {}
    pending: list[Any] = []
    answered = 0
    error: Exception | None = None
    interrupted = True
    try:
        shared_ref = ray.put(shared)
        task = remote(run_chunk).options(**options) if options else remote(run_chunk)
        for position, chunk in enumerate(chunks):
            refs[task.remote(key, shared_ref, chunk, events.box, events.channel, events.forwarded)] = position
        pending = list(refs)
        while pending and error is None:
            done, pending = ray.wait(pending, num_returns=len(pending), timeout=WAIT_SLICE)
            for ref in done:
                answered += 1
                try:
                    answer = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    raise crashed(exc, describe(refs[ref])) from exc
                try:
                    on_answer(refs[ref], answer)
                except Exception as exc:  # the node's own error: stop the rest, keep this chunk's events
                    error = error or exc
        interrupted = False
    finally:
        if interrupted:  # Ctrl-C: stop what is still pending
            for ref in pending:
                ray.cancel(ref)  # queued ones never start; running ones get KeyboardInterrupt
        # After a node's error the other chunks are left to finish unobserved: cancelling a
        # task that is completing can crash the driver (Ray 2.59, "Tried to complete task that
        # was not pending").
        events.close(answered, interrupted)
    if error is not None:
        raise error
