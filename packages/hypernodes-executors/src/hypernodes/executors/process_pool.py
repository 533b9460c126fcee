"""``ProcessPoolExecutor``: map items in chunks on worker processes, for CPU-bound Python code."""

from __future__ import annotations

import concurrent.futures
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import queue
import threading
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Literal

from typing_extensions import override

from hypernodes import InvalidArgumentError, WorkerCrashedError
from hypernodes.executor import EventReceiver, RunPayload, run_batch, run_in_order, run_item
from hypernodes.executors import _scope
from hypernodes.executors._base import LocalExecutor, positive_int
from hypernodes.executors._crash import Crash, describe
from hypernodes.executors._events import Channel, EventPump, open_line
from hypernodes.executors._interrupt import wait_slice
from hypernodes.executors._process_worker import initialize, run_chunk

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from hypernodes._types import Outputs
    from hypernodes.executor import MapRequest, RunContext, RunRequest

__all__ = ["ProcessPoolExecutor"]

logger = logging.getLogger(__name__)

StartMethod = Literal["spawn", "forkserver"]

_EVENT_GRACE = 30.0  # seconds to wait for the last events of finished chunks before giving up on them


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
    * A worker that dies (``os._exit``, killed by the OOM killer) raises
      ``WorkerCrashedError`` naming the items it held; Ctrl-C stops the workers. The pool is
      then restarted on next use.
    * A worker still running a sync call that overran its ``timeout`` is killed (with its
      pool) once the map ends: that is the only way to stop the call. Workers exit when the
      caller dies. An executor never closed is released when it is garbage-collected.

    Worker processes are started with `start_method` ``"spawn"`` (the default) or
    ``"forkserver"``, never ``"fork"``, which is unsafe once the parent runs threads. As with
    any spawned process, a script must guard its entry point with
    ``if __name__ == "__main__":``.

    Args:
        max_workers: Worker processes (default: ``os.cpu_count()``).
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
        self._lock = threading.Lock()  # guards _runtime and each runtime's users

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
        channel = runtime.pump.open(receiver)
        try:
            shared = payload.encode(receiver)
            wants_events = channel.wanted
            futures: dict[Future[bytes], tuple[int, int | None]] = {}
            completed: queue.SimpleQueue[Future[bytes]] = queue.SimpleQueue()  # futures as they end: linear
            try:
                for start, stop in chunks:
                    blob = payload.encode_items(start, stop) if payload.is_map else None
                    future = runtime.pool.submit(run_chunk, self._key, channel.id, wants_events, shared, blob, start)
                    futures[future] = (start, stop)
                    future.add_done_callback(completed.put)
            except BrokenProcessPool as exc:  # a worker died while the later chunks were being sent
                raise self._crashed(runtime, payload, channel, futures) from exc
            except BaseException as exc:
                # Pickling many chunks takes a while, and the first ones already run meanwhile.
                if not isinstance(exc, Exception):  # Ctrl-C: stop them, as _collect would
                    self._discard(runtime)
                raise
            return self._collect(runtime, payload, futures, completed, channel)
        finally:
            runtime.pump.close_channel(channel)
            self._release(runtime)

    def _collect(
        self,
        runtime: _Runtime,
        payload: RunPayload,
        futures: dict[Future[bytes], tuple[int, int | None]],
        completed: queue.SimpleQueue[Future[bytes]],
        channel: Channel,
    ) -> list[Outputs]:
        results: list[Any] = [None] * (len(payload.items) if payload.items is not None else 1)
        error: BaseException | None = None
        ran = 0  # chunks a worker ran (each ends with an END message)
        try:
            for _ in range(len(futures)):  # each future is put on `completed` exactly once
                future = _next_completed(completed)
                if future.cancelled():
                    continue
                start, _stop = futures[future]
                try:
                    answer = future.result()
                except BrokenProcessPool as exc:
                    raise self._crashed(runtime, payload, channel, futures) from exc
                ran += 1
                try:
                    outputs = payload.decode(answer, start)
                except Exception as exc:
                    if error is None:  # stop: cancel the chunks not started, let the others finish
                        error = exc
                        for other in futures:
                            other.cancel()
                    continue
                results[start : start + len(outputs)] = outputs
        except WorkerCrashedError:
            raise
        except BaseException:  # Ctrl-C (or any other interruption): stop the workers now
            self._discard(runtime)
            raise
        if not channel.wait_for_chunks(ran, _EVENT_GRACE) and channel.wanted:
            logger.warning("some callback events of pipeline %r did not arrive from the workers", payload.pipeline.name)
        if error is not None:
            raise error
        return results

    def _crashed(
        self,
        runtime: _Runtime,
        payload: RunPayload,
        channel: Channel,
        futures: Mapping[Future[bytes], tuple[int, int | None]],
    ) -> WorkerCrashedError:
        dead = runtime.dead_workers()  # before the survivors are killed, which would blur who died first
        answered = {start for future, (start, _) in futures.items() if _answered(future)}
        self._discard(runtime)  # every worker joined and the line read to its end: exit codes and holders are final
        crash = Crash(
            owner=repr(self),
            pipeline=payload.pipeline.name,
            channel=channel.id,
            chunks=dict(futures.values()),
            exit_codes={
                process.pid: process.exitcode for process in dead if process.pid and process.exitcode is not None
            },
            holders=dict(runtime.pump.holders),
            answered=answered,
        )
        return describe(crash)

    # -- the pool's lifetime ----------------------------------------------------------------------

    def _acquire_runtime(self) -> _Runtime:
        with self._lock:
            runtime = self._runtime
            if runtime is None:
                runtime = _Runtime(self.max_workers, self.start_method, f"hypernodes-events-{self._key[:8]}")
                # Released when this executor is garbage-collected, if it is never closed: the pump
                # thread and the pool hold nothing of the executor, so they cannot keep it alive.
                runtime.finalizer = weakref.finalize(self, runtime.shutdown)
                self._runtime = runtime
            runtime.users += 1
            return runtime

    def _release(self, runtime: _Runtime) -> None:
        """End one map's use of `runtime`; a tainted runtime is retired, and killed once unused."""
        with self._lock:
            runtime.users -= 1
            tainted = runtime.pump.tainted
            if tainted and self._runtime is runtime:
                self._runtime = None  # new work gets a fresh pool
            dispose = tainted and runtime.users == 0
        if dispose:
            # A worker still runs a sync call that overran its timeout: killing it is the only
            # way to stop that call (a thread cannot be stopped), so the pool is replaced.
            logger.info("replacing the worker processes of %r: a node call overran its timeout", self)
            runtime.shutdown(kill=True)

    def _discard(self, runtime: _Runtime) -> None:
        """Forget a broken or interrupted pool and kill its workers."""
        with self._lock:
            if self._runtime is runtime:
                self._runtime = None
        runtime.shutdown(kill=True)


class _Runtime:
    """A started pool: worker processes, the line they write back on, and the caller's pump."""

    __slots__ = ("_closed", "_lock", "_writer", "finalizer", "pool", "pump", "users")

    def __init__(self, max_workers: int, start_method: StartMethod, pump_name: str) -> None:
        context = multiprocessing.get_context(start_method)
        reader, self._writer = open_line(context)
        self.pool = concurrent.futures.ProcessPoolExecutor(
            max_workers, mp_context=context, initializer=initialize, initargs=(self._writer,)
        )
        self.pump = EventPump(reader, pump_name)
        self.users = 0  # maps (and runs) using this runtime; guarded by the executor's lock
        self.finalizer: weakref.finalize[Any, Any] | None = None
        self._closed = False
        self._lock = threading.Lock()  # guards _closed

    def dead_workers(self) -> list[BaseProcess]:
        """Return the worker processes that have ended (the pool broke when the first did)."""
        processes = self._processes()
        ready = set(multiprocessing.connection.wait([process.sentinel for process in processes], timeout=0))
        return [process for process in processes if process.sentinel in ready]

    def shutdown(self, *, kill: bool = False) -> None:
        """Stop the workers (`kill`: now; else once idle), then the pump. Safe to call several times."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self.finalizer is not None:
            self.finalizer.detach()
        if kill:
            processes = self._processes()
            for process in processes:
                process.kill()
            for process in processes:
                process.join()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self._writer.close()  # with every worker gone, the pump reads the line to its end and stops
        self.pump.stop()

    def _processes(self) -> list[BaseProcess]:
        # concurrent.futures has no public way to list or stop its workers before Python 3.14
        # (terminate_workers()); its _processes mapping has been stable since 3.2.
        return list((getattr(self.pool, "_processes", None) or {}).values())


def _answered(future: Future[bytes]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None


def _next_completed(completed: queue.SimpleQueue[Future[bytes]]) -> Future[bytes]:
    """Return the next future to complete, waiting in slices so that Ctrl-C is noticed."""
    while True:
        try:
            return completed.get(timeout=wait_slice())
        except queue.Empty:
            continue
