"""``AsyncExecutor``: ``async def`` nodes and map items awaited concurrently on one event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from typing_extensions import override

from hypernodes.executor import (
    ReadySet,
    Values,
    map_root,
    run_in_order,
    run_in_thread,
    run_item,
    run_item_async,
    run_root,
    run_step_async,
    run_sync,
)
from hypernodes.executors import _scope
from hypernodes.executors._base import LocalExecutor, positive_int

if TYPE_CHECKING:
    from hypernodes import Pipeline, RuntimeConfig
    from hypernodes.executor import Inputs, MapRequest, OutputNames, Outputs, RunRequest, Step
    from hypernodes.graph.pipeline_node import MapMode

    ErrorPolicy = Literal["raise", "continue"]

__all__ = ["AsyncExecutor"]

T = TypeVar("T")

# Threads for sync work are made on demand and reused; the pool never makes a caller wait
# for a free thread, because a thread running a nested pipeline waits for work that itself
# needs threads. Concurrency is bounded by max_concurrency and the DAG's width instead.
_MAX_THREADS = 4096


class AsyncExecutor(LocalExecutor):
    """Await ``async def`` nodes concurrently: the independent nodes of a run, and map items.

    Choose it for many concurrent I/O calls written with asyncio (LLM and HTTP clients,
    async database drivers): a thousand awaiting items cost one thread. Sync nodes run in
    threads this executor owns, off the event loop, so they never block it.

    * A run whose steps are sync and form a chain has nothing to await or overlap: it runs in
      the calling thread, as under ``SequentialExecutor`` (a map's items still overlap).
    * Sync entry points (``pipeline.run``/``map`` with this executor) work from any code,
      including code that already runs an event loop (Jupyter, an async web handler): the
      run goes to HyperNodes' background loop.
    * From a coroutine, ``await executor.run_async(...)`` / ``await executor.map_async(...)``
      run on *your* event loop and do not block it.
    * At most `max_concurrency` items of one map are in flight at a time (each nested map
      counts its own items); independent nodes of one run all start as soon as they are ready.
    * Ctrl-C (``KeyboardInterrupt``) in a sync caller cancels the run's coroutines, nested
      levels included, and goes on once they are cancelled.

    Args:
        max_concurrency: Items of one map awaited at once.

    Example:
        >>> import asyncio
        >>> from hypernodes import Pipeline, RuntimeConfig, node
        >>> @node(output_name="reply")
        ... async def ask(prompt: str) -> str:
        ...     await asyncio.sleep(0)
        ...     return prompt.upper()
        >>> executor = AsyncExecutor(max_concurrency=10)
        >>> Pipeline(nodes=[ask]).map(inputs={"prompt": ["a", "b"]}, map_over="prompt",
        ...                           config=RuntimeConfig(executor=executor))
        {'reply': ['A', 'B']}
        >>> asyncio.run(executor.run_async(Pipeline(nodes=[ask]), inputs={"prompt": "c"}))
        {'reply': 'C'}
        >>> executor.close()
    """

    def __init__(self, max_concurrency: int = 64) -> None:
        super().__init__()
        self.max_concurrency = positive_int(max_concurrency, "max_concurrency", "AsyncExecutor")
        self._threads: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()  # guards _threads

    # -- awaitable entry points -------------------------------------------------------------------

    async def run_async(
        self,
        pipeline: Pipeline,
        inputs: Inputs | None = None,
        output_name: OutputNames | None = None,
        config: RuntimeConfig | None = None,
    ) -> Outputs:
        """Run `pipeline` like ``pipeline.run(...)``, on the running event loop, without blocking it.

        The root level runs on this executor; nested pipelines follow their own config as
        usual. Arguments and errors are those of ``Pipeline.run``.
        """
        pipeline.refresh_code_hashes()  # as Pipeline.run does: notice edited helpers and globals
        try:
            given = {} if inputs is None else inputs
            return await self._await_root(run_root, pipeline, given, output_name, config, self)
        finally:
            pipeline.settle_code_hashes()

    async def map_async(
        self,
        pipeline: Pipeline,
        inputs: Inputs,
        map_over: str | Sequence[str],
        map_mode: MapMode = "zip",
        output_name: OutputNames | None = None,
        config: RuntimeConfig | None = None,
        on_error: ErrorPolicy = "raise",
    ) -> dict[str, list[Any]]:
        """Map `pipeline` like ``pipeline.map(...)``, on the running event loop, without blocking it.

        The items are scheduled by this executor; arguments and errors are those of
        ``Pipeline.map``.
        """
        pipeline.refresh_code_hashes()
        try:
            return await self._await_root(
                map_root, pipeline, inputs, map_over, map_mode, output_name, config, self, on_error
            )
        finally:
            pipeline.settle_code_hashes()

    # -- the Executor contract (sync) -----------------------------------------------------------

    @override
    def run_pipeline(self, request: RunRequest) -> Outputs:
        if request.plan.is_chain and not request.plan.has_async:
            # Nothing to await and nothing to overlap: the caller waits for the result anyway,
            # and a trip to the event loop and back costs ~100x the run (see docs/advanced/executors.md).
            return run_in_order(request)
        return self._call(self._run_level, request)

    @override
    def map_items(self, request: MapRequest) -> list[Outputs]:
        if not request.items:
            return []
        return self._call(self._map_level, request)

    @override
    def close(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, None
        if threads is not None:  # so a second close() is a no-op
            threads.shutdown(wait=not _scope.is_inside(self._key), cancel_futures=True)
        self.close_resources()

    @override
    def _arguments(self) -> dict[str, Any]:
        return {"max_concurrency": self.max_concurrency}

    # -- bridging --------------------------------------------------------------------------------

    def _call(self, function: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Await ``function(*args)`` from sync code, on the enclosing run's loop if there is one.

        run_sync cancels the coroutine (and waits for that) if this caller is interrupted,
        or if this is a nested level and the step that waits for it in a thread is cancelled.
        """
        loop = _scope.enclosing(self._key)
        if isinstance(loop, asyncio.AbstractEventLoop) and loop.is_running() and not _runs_on(loop):
            # A nested level, called from one of our threads: its loop is free, so join it
            # there (awaiting alongside the enclosing run) instead of starting another loop.
            return run_sync(self._entered(function, *args), loop)
        return run_sync(self._entered(function, *args))

    async def _entered(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        # The coroutine is made here, not by the caller: if the task is cancelled before it
        # starts, there is then no coroutine left that was never awaited.
        with _scope.inside(self._key, asyncio.get_running_loop()):
            return await function(*args)

    async def _await_root(self, function: Callable[..., T], *args: Any) -> T:
        return await self._offload(self._marked, asyncio.get_running_loop(), function, *args)

    def _marked(self, loop: asyncio.AbstractEventLoop, function: Callable[..., T], *args: Any) -> T:
        with _scope.inside(self._key, loop):  # levels of this run join `loop` (see _call)
            return function(*args)

    # -- scheduling on the loop -------------------------------------------------------------------

    async def _run_level(self, request: RunRequest) -> Outputs:
        plan = request.plan
        ctx = request.ctx
        if plan.is_chain and not plan.has_async:  # sync steps one after another: one thread hand-off
            return await self._offload(run_in_order, request)
        if plan.is_chain:  # one ready step at a time: no task needed
            values = Values.merge(request.inputs)
            for step in plan.steps:
                values.add(await run_step_async(step, values, ctx, self._offload))
            return request.select(values)
        ready = ReadySet(request)
        loop = asyncio.get_running_loop()

        def start(steps: Sequence[Step]) -> None:
            for step in steps:
                task = loop.create_task(run_step_async(step, ready.inputs_for(step), ctx, self._offload))
                running[task] = step

        running: dict[asyncio.Task[Values], Step] = {}
        start(ready.get_ready())
        error: BaseException | None = None
        try:
            while running:
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    step = running.pop(task)
                    failure = asyncio.CancelledError() if task.cancelled() else task.exception()
                    if failure is not None:
                        error = error or failure  # start nothing new; let the running steps finish
                    elif error is None:
                        ready.done(step, task.result())
                        start(ready.get_ready())
        except GeneratorExit:
            _cancel_all(running)  # closed, not cancelled: awaiting is no longer allowed
            raise
        except BaseException:  # cancelled: stop the running steps, and return once they stopped
            await _cancel_and_wait(running)
            raise
        if error is not None:
            raise error
        return ready.outputs()

    async def _map_level(self, request: MapRequest) -> list[Outputs]:
        count = len(request.items)
        results: list[Any] = [None] * count
        pending = iter(range(count))  # shared by the item loops below
        failures: list[BaseException] = []
        runner = request.runner

        async def run_one(position: int) -> Outputs:
            if runner is None:
                return await run_item_async(request, position, self._run_level)
            # Another executor runs each item's pipeline (CompositeExecutor): a sync call.
            return await self._offload(run_item, request, position, runner)

        async def item_loop() -> None:
            for position in pending:
                if failures:
                    return
                try:
                    results[position] = await run_one(position)
                except Exception as exc:  # stop starting items; the running ones finish
                    failures.append(exc)
                    return

        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(item_loop()) for _ in range(min(count, self.max_concurrency))]
        await _wait_all(tasks)  # if this level is cancelled or closed, so are the item loops
        if failures:
            raise failures[0]
        return results

    async def _offload(self, function: Callable[..., T], *args: Any) -> T:
        """Run sync `function` in one of our threads, in a copy of this task's context.

        Cancelling this coroutine cancels the nested levels the thread waits for (run_in_thread).
        """
        return await run_in_thread(self._ensure_threads(), function, *args)

    def _ensure_threads(self) -> concurrent.futures.ThreadPoolExecutor:
        threads = self._threads
        if threads is None:
            with self._lock:
                threads = self._threads
                if threads is None:
                    threads = concurrent.futures.ThreadPoolExecutor(
                        _MAX_THREADS, thread_name_prefix=f"hypernodes-async-{self._key[:8]}"
                    )
                    self._threads = threads
        return threads


async def _cancel_and_wait(tasks: Collection[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and wait until each has finished; their errors are theirs, not ours."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


def _cancel_all(tasks: Collection[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` from any thread (a finaliser may run anywhere), without waiting."""
    for task in tasks:
        loop = task.get_loop()
        if _runs_on(loop):
            task.cancel()
        else:
            with contextlib.suppress(RuntimeError):  # a closed loop never runs the task again anyway
                loop.call_soon_threadsafe(task.cancel)


def _runs_on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


async def _wait_all(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for every task; if this coroutine is cancelled, cancel them and wait for them too.

    If it is closed instead (``coroutine.close()``, e.g. by the garbage collector finalising
    an abandoned run), it only cancels them: a closed coroutine must not await.
    """
    try:
        await asyncio.wait(tasks)
    except GeneratorExit:
        _cancel_all(tasks)
        raise
    except BaseException:
        await _cancel_and_wait(tasks)
        raise
    for task in tasks:
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error  # a BaseException other than Exception, e.g. a cancellation inside
