"""``ThreadPoolExecutor``: independent nodes and map items in parallel threads."""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
from contextvars import copy_context
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from hypernodes.executor import ReadySet, run_in_order, run_item, run_step
from hypernodes.executors import _scope
from hypernodes.executors._base import LocalExecutor, positive_int
from hypernodes.executors._work import AllReady, SharedWork

if TYPE_CHECKING:
    from hypernodes._types import Outputs
    from hypernodes.executor import MapRequest, RunRequest, Step

__all__ = ["ThreadPoolExecutor"]

logger = logging.getLogger(__name__)


class ThreadPoolExecutor(LocalExecutor):
    """Run independent nodes of a run, and the items of a map, on a thread pool this executor owns.

    Choose it for I/O-bound nodes (HTTP calls, files, databases) and for libraries that
    release the GIL (numpy, torch, most compression and image codecs). It is the library
    default, with 4 workers.

    * In a run, the calling thread runs a ready step itself and hands the other ready steps
      to the pool, so a linear chain runs entirely in the caller, with no thread hand-off.
    * In a map, at most `max_workers` items run at once; results keep the item order.
    * Nesting never deadlocks: a worker of this pool that waits for nested work (a nested
      pipeline's steps, a nested map's items) runs that work itself instead of waiting for
      it in the pool's queue. See ``docs/advanced/executors.md``.

    The pool starts on first use and is reused by every run until :meth:`close` (called by
    ``__exit__``); a closed executor may be used again and starts a new pool. Thread safe:
    one executor may serve several runs from several threads at once.

    Args:
        max_workers: The pool's threads (default ``min(32, os.cpu_count() + 4)``).

    Example:
        >>> from hypernodes import Pipeline, RuntimeConfig, node
        >>> @node(output_name="doubled")
        ... def double(x: int) -> int:
        ...     return 2 * x
        >>> with ThreadPoolExecutor(max_workers=2) as executor:
        ...     Pipeline(nodes=[double]).map(inputs={"x": [1, 2, 3]}, map_over="x",
        ...                                  config=RuntimeConfig(executor=executor))
        {'doubled': [2, 4, 6]}
    """

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__()
        if max_workers is None:
            max_workers = min(32, (os.cpu_count() or 1) + 4)
        self.max_workers = positive_int(max_workers, "max_workers", "ThreadPoolExecutor")
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()  # guards _pool

    @property
    def thread_name_prefix(self) -> str:
        """The name every thread of this executor's pool starts with."""
        return f"hypernodes-threads-{self._key[:8]}"

    @override
    def run_pipeline(self, request: RunRequest) -> Outputs:
        if request.plan.is_chain:  # one ready step at a time: run them here, in order
            return run_in_order(request)
        ready = ReadySet(request)
        ctx = request.ctx

        def execute(step: Step) -> Any:
            return run_step(step, inputs[step.index], ctx)

        # What each step reads is taken under the work's lock (in ReadySet.done), where the
        # values it depends on are complete: see _StepTasks.
        inputs: dict[int, Any] = {}
        work = SharedWork(execute, self._submit_helper, _StepTasks(ready, inputs))
        work.run(work.ready_count - 1, helping=True)  # the calling thread takes one root itself
        return ready.outputs()

    @override
    def map_items(self, request: MapRequest) -> list[Outputs]:
        run = request.runner or self.run_pipeline
        count = len(request.items)
        if count <= 1:  # nothing to overlap: no hand-off
            return [run_item(request, position, run) for position in range(count)]
        results: list[Any] = [None] * count

        def execute(position: int) -> None:
            results[position] = run_item(request, position, run)

        # Guided batches: trivial items cost one lock round per batch, slow ones still spread out.
        work = SharedWork(execute, self._submit_helper, AllReady(range(count)), guided=2 * self.max_workers)
        # A worker of this pool that maps runs items itself: it counts as one of the workers.
        helping = _scope.is_inside(self._key)
        work.run(min(count, self.max_workers) - helping, helping=helping)
        return results

    @override
    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:  # so a second close() is a no-op
            # A worker closing its own pool cannot join itself; its siblings still stop.
            pool.shutdown(wait=not _scope.is_inside(self._key), cancel_futures=True)
        self.close_resources()  # after the pool: no node call uses them any more

    @override
    def _arguments(self) -> dict[str, Any]:
        return {"max_workers": self.max_workers}

    def _submit_helper(self, work: SharedWork[Any]) -> concurrent.futures.Future[None] | None:
        try:
            # One Context copy per submission: two threads cannot enter one Context.
            return self._ensure_pool().submit(copy_context().run, self._help, work)
        except RuntimeError:  # closed meanwhile: the waiting thread does the work itself
            logger.debug("%r was closed while scheduling; the caller runs the rest", self)
            return None

    def _help(self, work: SharedWork[Any]) -> None:
        with _scope.inside(self._key):
            work.help()

    def _ensure_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        pool = self._pool
        if pool is None:
            with self._lock:
                pool = self._pool
                if pool is None:
                    pool = concurrent.futures.ThreadPoolExecutor(
                        self.max_workers, thread_name_prefix=self.thread_name_prefix
                    )
                    self._pool = pool
        return pool


class _StepTasks:
    """The steps of one run for :class:`SharedWork`: a ``ReadySet`` that also notes each ready step's inputs."""

    __slots__ = ("_inputs", "_ready")

    def __init__(self, ready: ReadySet, inputs: dict[int, Any]) -> None:
        self._ready = ready
        self._inputs = inputs

    def get_ready(self) -> tuple[Step, ...]:
        steps = self._ready.get_ready()
        for step in steps:
            self._inputs[step.index] = self._ready.inputs_for(step)
        return steps

    def done(self, task: Step, result: Any) -> None:
        self._ready.done(task, result)
        self._inputs.pop(task.index, None)

    def is_active(self) -> bool:
        return self._ready.is_active()
