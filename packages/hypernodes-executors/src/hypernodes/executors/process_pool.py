"""``ProcessPoolExecutor``: map items in chunks on worker processes, for CPU-bound Python code."""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import queue
import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Literal

from typing_extensions import override

from hypernodes import InvalidArgumentError, WorkerCrashedError
from hypernodes.executor import EventReceiver, RunPayload, run_batch, run_in_order, run_item
from hypernodes.executors import _scope
from hypernodes.executors._base import LocalExecutor, positive_int
from hypernodes.executors._crash import Crash, describe
from hypernodes.executors._events import Relay
from hypernodes.executors._interrupt import wait_slice
from hypernodes.executors._pool import WorkerDied, WorkerPool
from hypernodes.executors._process_worker import serve, task

if TYPE_CHECKING:
    from hypernodes.executor import MapRequest, Outputs, RunContext, RunRequest

__all__ = ["ProcessPoolExecutor"]

logger = logging.getLogger(__name__)

StartMethod = Literal["spawn", "forkserver"]


class ProcessPoolExecutor(LocalExecutor):
    """Run map items in chunks on worker processes this executor owns.

    Choose it for CPU-bound pure-Python nodes, which threads cannot speed up (the GIL).
    Everything crossing the process boundary is pickled with cloudpickle, so functions,
    lambdas and closures defined in ``__main__``, a notebook or a test module work; inputs
    and outputs must be picklable (else a ``SerializationError`` names the node or input
    and the value's type).

    * ``map``: the items are sent in chunks of `chunksize`; results keep the item order.
    * ``run``: the whole run goes to one worker process (nodes in dependency order there).
      Give one CPU-heavy node ``node.with_config(RuntimeConfig(executor=ProcessPoolExecutor()))``
      to run just that node in a worker.
    * The cache is made in each worker from the config's ``CacheSpec``: use a disk cache to
      share it; a ``MemoryCache`` *instance* cannot be shared, each worker starts an empty one.
    * Callback events come back to the caller as they happen and fire there.
    * Resources (``hypernodes.resource``) are built once per worker process and torn down
      when the workers exit (:meth:`close`); nodes with a batch form (``@node(batch=...)``)
      run once per chunk through it, each item still cached on its own.
    * Work nested inside a worker (a nested pipeline or map with this same executor) runs
      inline in that worker: workers never submit to their own pool.
    * A worker that dies (``os._exit``, a segfault, the OOM killer) fails the chunk it held:
      ``WorkerCrashedError`` names those items, its pid and exit code. As after a node's
      error, the map stops: chunks not started are cancelled, chunks running on other
      workers finish (and are cached, with a cache), then the error is raised. A new worker
      replaces the dead one; other maps on the executor go on. Ctrl-C kills the workers, and
      the pool is restarted on next use.
    * A worker still running a sync call that overran its ``timeout`` is killed as soon as
      its chunk's answer is read, and replaced: that is the only way to stop the call. The
      other workers, and the other chunks of the map, go on. Workers exit when the caller
      dies. An executor never closed is released when it is garbage-collected.

    Worker processes are started with `start_method` ``"spawn"`` (the default) or
    ``"forkserver"``, never ``"fork"``, which is unsafe once the parent runs threads. As with
    any spawned process, a script must guard its entry point with
    ``if __name__ == "__main__":``.

    Args:
        max_workers: Worker processes at most (default: ``os.cpu_count()``); they start as work needs them.
        chunksize: Items per task (default: about four chunks per worker).
        start_method: ``"spawn"`` or ``"forkserver"``.
    """

    def __init__(
        self, max_workers: int | None = None, chunksize: int | None = None, start_method: StartMethod = "spawn"
    ) -> None:
        super().__init__()
        owner = "ProcessPoolExecutor"
        self.max_workers = positive_int(max_workers or os.cpu_count() or 1, "max_workers", owner)
        self.chunksize = None if chunksize is None else positive_int(chunksize, "chunksize", owner)
        method: str = start_method
        if method not in ("spawn", "forkserver"):
            raise InvalidArgumentError(
                f"ProcessPoolExecutor(start_method=...) must be 'spawn' or 'forkserver', got {method!r}"
                + ("; 'fork' is unsafe when the parent process runs threads" if method == "fork" else "")
            )
        self.start_method: StartMethod = start_method
        self._runtime: _Runtime | None = None
        self._lock = threading.Lock()  # guards _runtime

    @override
    def run_pipeline(self, request: RunRequest) -> Outputs:
        if _scope.is_inside(self._key):  # already in one of our workers: run here
            return run_in_order(request)
        return self._submit_all(RunPayload.of_run(request), request.ctx, [(0, None)])[0]

    @override
    def map_items(self, request: MapRequest) -> list[Outputs]:
        count = len(request.items)
        if not count:
            return []
        if _scope.is_inside(self._key):  # already in one of our workers: run here
            batched = run_batch(request)  # a chunk through the nodes' batch forms, if they have some
            if batched is not None:
                return batched
            run = request.runner or run_in_order
            return [run_item(request, position, run) for position in range(count)]
        size = self.chunksize or max(1, math.ceil(count / (4 * self.max_workers)))
        chunks = [(start, min(start + size, count)) for start in range(0, count, size)]
        return self._submit_all(RunPayload.of_map(request), request.ctx, chunks)

    @override
    def close(self) -> None:
        with self._lock:
            runtime, self._runtime = self._runtime, None
        if runtime is not None:  # so a second close() is a no-op
            runtime.shutdown(kill=False)  # its workers tear their resources down as they exit
        self.close_resources()  # what runs in this process (nested levels run inline in workers)

    @override
    def _arguments(self) -> dict[str, Any]:
        return {"max_workers": self.max_workers, "chunksize": self.chunksize, "start_method": self.start_method}

    # -- submitting and collecting ----------------------------------------------------------------

    def _submit_all(
        self, payload: RunPayload, ctx: RunContext, chunks: Sequence[tuple[int, int | None]]
    ) -> list[Outputs]:
        runtime = self._acquire_runtime()
        receiver = EventReceiver(ctx)
        channel = runtime.relay.open(receiver)
        try:
            shared = payload.encode(receiver)
            wants_events = receiver.wants_events
            futures: dict[Future[bytes], tuple[int, int | None]] = {}
            completed: queue.SimpleQueue[Future[bytes]] = queue.SimpleQueue()  # futures as they end: linear
            try:
                for start, stop in chunks:
                    blob = payload.encode_items(start, stop) if payload.is_map else None
                    future = runtime.pool.submit(task(self._key, channel, wants_events, shared, blob, start))
                    futures[future] = (start, stop)
                    future.add_done_callback(completed.put)
            except BaseException as exc:
                # Pickling many chunks takes a while, and the first ones already run meanwhile.
                for future in futures:
                    future.cancel()
                if not isinstance(exc, Exception):  # Ctrl-C: stop them, as _collect would
                    self._discard(runtime)
                raise
            return self._collect(runtime, payload, futures, completed)
        finally:
            runtime.relay.close(channel)

    def _collect(
        self,
        runtime: _Runtime,
        payload: RunPayload,
        futures: dict[Future[bytes], tuple[int, int | None]],
        completed: queue.SimpleQueue[Future[bytes]],
    ) -> list[Outputs]:
        results: list[Any] = [None] * (len(payload.items) if payload.items is not None else 1)
        error: BaseException | None = None
        try:
            for _ in range(len(futures)):  # each future is put on `completed` exactly once
                future = _next_completed(completed)
                if future.cancelled():
                    continue
                start, stop = futures[future]
                try:
                    outputs = payload.decode(future.result(), start)
                except Exception as exc:
                    failure = self._crashed(runtime, payload, exc, start, stop) if isinstance(exc, WorkerDied) else exc
                    if error is None:  # stop: cancel the chunks not started, let the others finish
                        error = failure
                        for other in futures:
                            other.cancel()
                    continue
                results[start : start + len(outputs)] = outputs
        except BaseException:  # Ctrl-C (or any other interruption): stop the workers now
            self._discard(runtime)
            raise
        if error is not None:
            raise error
        return results

    def _crashed(
        self, runtime: _Runtime, payload: RunPayload, died: WorkerDied, start: int, stop: int | None
    ) -> WorkerCrashedError:
        if not died.started:  # the workers cannot start: a new pool on next use (maybe fixed by then)
            self._discard(runtime)
        crash = Crash(
            owner=repr(self),
            pipeline=payload.pipeline.name,
            start=start,
            stop=stop,
            pid=died.pid,
            exit_code=died.exit_code,
            started=died.started,
            stopped=died.stopped,
        )
        return describe(crash)

    # -- the pool's lifetime ----------------------------------------------------------------------

    def _acquire_runtime(self) -> _Runtime:
        with self._lock:
            runtime = self._runtime
            if runtime is None:
                name = f"hypernodes-events-{self._key[:8]}"
                runtime = _Runtime(self.max_workers, self.start_method, name, repr(self))
                # Released when this executor is garbage-collected, if it is never closed: the
                # manager thread and the pool hold nothing of the executor, so cannot keep it alive.
                runtime.finalizer = weakref.finalize(self, runtime.shutdown)
                self._runtime = runtime
            return runtime

    def _discard(self, runtime: _Runtime) -> None:
        """Forget a broken or interrupted pool and kill its workers."""
        with self._lock:
            if self._runtime is runtime:
                self._runtime = None
        runtime.shutdown(kill=True)


class _Runtime:
    """A started pool: its worker processes, and the relay of their callback events."""

    __slots__ = ("finalizer", "pool", "relay")

    def __init__(self, max_workers: int, start_method: StartMethod, name: str, owner: str) -> None:
        self.relay = Relay()
        context = (
            multiprocessing.get_context("spawn")
            if start_method == "spawn"
            else multiprocessing.get_context("forkserver")
        )
        self.pool = WorkerPool(max_workers, context, serve, self.relay.deliver, name=name, owner=owner)
        self.finalizer: weakref.finalize[Any, Any] | None = None

    def shutdown(self, *, kill: bool = False) -> None:
        """Stop the workers (`kill`: now; else once idle) and wait. Safe to call several times."""
        if self.finalizer is not None:
            self.finalizer.detach()
        self.pool.shutdown(kill=kill)


def _next_completed(completed: queue.SimpleQueue[Future[bytes]]) -> Future[bytes]:
    """Return the next future to complete, waiting in slices so that Ctrl-C is noticed."""
    while True:
        try:
            return completed.get(timeout=wait_slice())
        except queue.Empty:
            continue
