"""``ProcessPoolExecutor``: map items in chunks on worker processes, for CPU-bound Python code."""

from __future__ import annotations

import concurrent.futures
import logging
import math
import multiprocessing
import os
import threading
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Literal

from typing_extensions import override

from hypernodes import InvalidArgumentError, WorkerCrashedError
from hypernodes.executor import EventReceiver, RunPayload, run_in_order, run_item
from hypernodes.executors import _scope
from hypernodes.executors._base import LocalExecutor, positive_int
from hypernodes.executors._events import Channel, EventPump
from hypernodes.executors._interrupt import wait_slice
from hypernodes.executors._process_worker import NO_EVENTS, initialize, run_chunk

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

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
    * Work nested inside a worker (a nested pipeline or map with this same executor) runs
      inline in that worker: workers never submit to their own pool.
    * A worker that dies (``os._exit``, killed by the OOM killer) raises
      ``WorkerCrashedError``; Ctrl-C stops the workers. The pool is then restarted on next use.

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
            runtime.shutdown(kill=False)

    @override
    def _arguments(self) -> dict[str, Any]:
        return {"max_workers": self.max_workers, "chunksize": self.chunksize, "start_method": self.start_method}

    # -- submitting and collecting ----------------------------------------------------------------

    def _submit_all(
        self, payload: RunPayload, ctx: RunContext, chunks: Sequence[tuple[int, int | None]]
    ) -> list[Outputs]:
        runtime = self._ensure_runtime()
        receiver = EventReceiver(ctx)
        channel = runtime.pump.open(receiver)
        try:
            shared = payload.encode(receiver)
            channel_id = channel.id if channel.wanted else NO_EVENTS
            futures: dict[concurrent.futures.Future[bytes], tuple[int, int | None]] = {}
            try:
                for start, stop in chunks:
                    blob = payload.encode_items(start, stop) if payload.is_map else None
                    futures[runtime.pool.submit(run_chunk, self._key, channel_id, shared, blob)] = (start, stop)
            except BaseException as exc:
                # Pickling many chunks takes a while, and the first ones already run meanwhile.
                if not isinstance(exc, Exception):  # Ctrl-C: stop them, as _collect would
                    self._discard(runtime)
                raise
            return self._collect(runtime, payload, futures, channel)
        finally:
            runtime.pump.close_channel(channel)

    def _collect(
        self,
        runtime: _Runtime,
        payload: RunPayload,
        futures: dict[concurrent.futures.Future[bytes], tuple[int, int | None]],
        channel: Channel,
    ) -> list[Outputs]:
        results: list[Any] = [None] * (len(payload.items) if payload.items is not None else 1)
        error: BaseException | None = None
        ended = 0
        try:
            for future in _as_completed(futures):
                if future.cancelled():
                    continue
                start, stop = futures[future]
                try:
                    answer = future.result()
                except BrokenProcessPool as exc:
                    raise self._crashed(runtime, payload, start, stop) from exc
                ended += 1
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
        if not channel.wait_for_chunks(ended, _EVENT_GRACE):
            logger.warning("some callback events of pipeline %r did not arrive from the workers", payload.pipeline.name)
        if error is not None:
            raise error
        return results

    def _crashed(self, runtime: _Runtime, payload: RunPayload, start: int, stop: int | None) -> WorkerCrashedError:
        self._discard(runtime)
        what = "a run" if stop is None else f"map items {start}-{stop - 1}"
        return WorkerCrashedError(
            f"a worker process of {self!r} died while running {what} of pipeline {payload.pipeline.name!r}: it was "
            "killed (out of memory? SIGKILL?) or exited (os._exit, a crash in native code). The pool is "
            "restarted on next use; lower max_workers or chunksize if memory is short.",
            item_index=None if stop is None else start,
        )

    # -- the pool's lifetime ----------------------------------------------------------------------

    def _ensure_runtime(self) -> _Runtime:
        runtime = self._runtime
        if runtime is None:
            with self._lock:
                runtime = self._runtime
                if runtime is None:
                    runtime = _Runtime(self.max_workers, self.start_method, f"hypernodes-events-{self._key[:8]}")
                    self._runtime = runtime
        return runtime

    def _discard(self, runtime: _Runtime) -> None:
        """Forget a broken or interrupted pool and kill its workers."""
        with self._lock:
            if self._runtime is runtime:
                self._runtime = None
        runtime.shutdown(kill=True)


class _Runtime:
    """A started pool: worker processes, the event queue they share, and the caller's pump."""

    __slots__ = ("events", "pool", "pump")

    def __init__(self, max_workers: int, start_method: StartMethod, pump_name: str) -> None:
        context = multiprocessing.get_context(start_method)
        self.events: Queue[tuple[int, bytes | None]] = context.Queue()
        self.pool = concurrent.futures.ProcessPoolExecutor(
            max_workers, mp_context=context, initializer=initialize, initargs=(self.events,)
        )
        self.pump = EventPump(self.events, pump_name)

    def shutdown(self, *, kill: bool) -> None:
        if kill:
            # concurrent.futures has no public way to stop running workers before Python 3.14
            # (terminate_workers()); its _processes mapping has been stable since 3.2.
            processes = list((getattr(self.pool, "_processes", None) or {}).values())
            for process in processes:
                process.kill()
            for process in processes:
                process.join()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pump.stop()
        self.events.close()
        self.events.join_thread()


def _as_completed(futures: Collection[concurrent.futures.Future[bytes]]) -> Iterator[concurrent.futures.Future[bytes]]:
    """Yield `futures` as they complete, waiting in slices so that Ctrl-C is noticed."""
    pending = set(futures)
    while pending:
        done, pending = concurrent.futures.wait(
            pending, timeout=wait_slice(), return_when=concurrent.futures.FIRST_COMPLETED
        )
        yield from done
