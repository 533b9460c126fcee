"""``ThreadPoolExecutor``: independent nodes and map items in parallel threads."""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
from collections.abc import Sequence
from contextvars import copy_context
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from hypernodes.engine.engine import ENGINE
from hypernodes.executors import _scope
from hypernodes.executors._base import LocalExecutor, RunPipeline, is_chain, positive_int
from hypernodes.executors._work import SharedWork

if TYPE_CHECKING:
    from hypernodes import Pipeline, RunContext, RunFrame
    from hypernodes._types import Inputs, OutputNames, Outputs

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
    def run_pipeline(
        self, pipeline: Pipeline, inputs: Inputs, ctx: RunContext, output_name: OutputNames | None
    ) -> Outputs:
        # A chain has one ready step at a time: the engine's own loop runs it here, in order.
        schedule = None if is_chain(pipeline.plan(output_name)) else self._schedule
        return ENGINE.run_pipeline(pipeline, inputs, ctx, output_name, schedule)

    @override
    def map_items_with(
        self,
        pipeline: Pipeline,
        items: Sequence[Inputs],
        inputs: Inputs,
        ctx: RunContext,
        output_name: OutputNames | None,
        run: RunPipeline | None,
    ) -> list[Outputs]:
        runner = self.run_pipeline if run is None else run
        run_item = ENGINE.run_item
        if len(items) <= 1:  # nothing to overlap: no hand-off
            return [run_item(pipeline, 0, item, inputs, ctx, output_name, runner) for item in items]
        results: list[Any] = [None] * len(items)

        def execute(index: int) -> None:
            results[index] = run_item(pipeline, index, items[index], inputs, ctx, output_name, runner)

        work = SharedWork(execute, self._submit_helper, range(len(items)), len(items))
        # A worker of this pool that maps runs items itself: it counts as one of the workers.
        helping = _scope.is_inside(self._key)
        work.run(min(len(items), self.max_workers) - helping, helping=helping)
        return results

    @override
    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:  # so a second close() is a no-op
            # A worker closing its own pool cannot join itself; its siblings still stop.
            pool.shutdown(wait=not _scope.is_inside(self._key), cancel_futures=True)

    @override
    def _arguments(self) -> dict[str, Any]:
        return {"max_workers": self.max_workers}

    def _schedule(self, frame: RunFrame) -> None:
        plan = frame.plan
        steps = plan.steps
        execute_step = ENGINE.execute_step
        waiting = [len(step.dependencies) for step in steps]
        roots = [step.index for step in steps if not step.dependencies]
        work = SharedWork(
            lambda index: execute_step(steps[index], frame),
            self._submit_helper,
            roots,
            len(steps),
            plan.dependents,
            waiting,
        )
        work.run(len(roots) - 1, helping=True)  # the calling thread takes one root itself

    def _submit_helper(self, work: SharedWork) -> concurrent.futures.Future[None] | None:
        try:
            # One Context copy per submission: two threads cannot enter one Context.
            return self._ensure_pool().submit(copy_context().run, self._help, work)
        except RuntimeError:  # closed meanwhile: the waiting thread does the work itself
            logger.debug("%r was closed while scheduling; the caller runs the rest", self)
            return None

    def _help(self, work: SharedWork) -> None:
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

