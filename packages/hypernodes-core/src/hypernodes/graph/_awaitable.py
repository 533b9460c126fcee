"""``Pipeline.run_async`` / ``map_async``: a run awaited from a coroutine, under any config (private)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hypernodes.config.resolution import resolve_root
from hypernodes.engine.engine import ENGINE

if TYPE_CHECKING:
    from hypernodes._types import Inputs, OutputNames, Outputs
    from hypernodes.config.runtime import RuntimeConfig
    from hypernodes.engine.failures import ErrorPolicy
    from hypernodes.graph.pipeline import Pipeline
    from hypernodes.graph.pipeline_node import MapMode

__all__ = ["awaitable_map", "awaitable_run"]


async def awaitable_run(
    pipeline: Pipeline, inputs: Inputs, output_name: OutputNames | None, config: RuntimeConfig | None
) -> Outputs:
    """Await a run: on this loop under an executor with ``run_async``, else in a worker thread."""
    executor = resolve_root(pipeline, config)[0].executor
    run_async = getattr(executor, "run_async", None)
    if callable(run_async):
        outputs: Outputs = await run_async(pipeline, inputs, output_name, config)
        return outputs
    result: Outputs = await _in_thread(ENGINE.run_root, pipeline, inputs, output_name, config)
    return result


async def awaitable_map(
    pipeline: Pipeline,
    inputs: Inputs,
    map_over: str | Sequence[str],
    map_mode: MapMode,
    output_name: OutputNames | None,
    config: RuntimeConfig | None,
    on_error: ErrorPolicy,
) -> dict[str, list[Any]]:
    """Await a map, like :func:`awaitable_run`."""
    executor = resolve_root(pipeline, config)[0].executor
    map_async = getattr(executor, "map_async", None)
    if callable(map_async):
        results: dict[str, list[Any]] = await map_async(
            pipeline, inputs, map_over, map_mode, output_name, config, on_error=on_error
        )
        return results
    mapped: dict[str, list[Any]] = await _in_thread(
        ENGINE.map_root, pipeline, inputs, map_over, map_mode, output_name, config, None, on_error
    )
    return mapped


async def _in_thread(function: Any, *args: Any) -> Any:
    # A thread of its own (not the loop's default executor, whose few threads a long run could
    # exhaust), in a copy of this task's context: RuntimeConfig.use() blocks apply.
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def target() -> None:
        try:
            result = context.run(function, *args)
        except BaseException as exc:  # handed to the awaiting coroutine
            loop.call_soon_threadsafe(_set_exception, future, exc)
        else:
            loop.call_soon_threadsafe(_set_result, future, result)

    threading.Thread(target=target, name="hypernodes-run-async", daemon=True).start()
    return await future


def _set_result(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
