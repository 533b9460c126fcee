"""The executor-facing API: what an executor (Dask, Ray, Daft, your own) is written against.

An executor decides HOW the steps of a run and the items of a map are scheduled; the engine
decides WHAT running one step means. This package is everything an executor needs, and
nothing in the HyperNodes executors uses more:

* :class:`Executor`: one abstract method, ``run_pipeline(request)``; ``map_items(request)``
  is derived from it. :class:`RunRequest` and :class:`MapRequest` carry the arguments.
* :func:`run_step` runs one step and returns its outputs (cache, callbacks, retries and
  timeout inside); :func:`run_step_async` is its awaitable twin; :func:`run_in_order` runs a
  whole level in this thread; :func:`run_item` runs one map item with its hooks;
  :func:`run_root` / :func:`map_root` are what ``Pipeline.run`` / ``map`` do, optionally
  with the root level on a given executor.
* :class:`ReadySet`: the plan's dependency structure as ``get_ready()`` / ``done()``.
* :func:`run_batch` runs a map (or a chunk) through the batch forms of its nodes, for
  executors that vectorise; :func:`run_step_batch` runs one step for several items.
  :class:`ResourcePool` holds the built resources of an executor (``Executor.resource_pool``).
* :func:`run_sync` / :func:`run_in_thread`: the one bridge between sync code and coroutines
  (also inside a running event loop).
* The worker side: :class:`RunPayload`, :func:`run_payload` and :class:`EventReceiver` ship
  a run or a chunk of a map to any process and relay its callback events back.

See ``docs/advanced/writing-an-executor.md`` and ``examples/custom_executor.py``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hypernodes._async import run_in_thread, run_sync
    from hypernodes.engine.batch import run_batch, run_step_batch
    from hypernodes.engine.context import RunContext
    from hypernodes.engine.engine import ENGINE as _ENGINE
    from hypernodes.engine.engine import Offload
    from hypernodes.engine.plan import ConfiguredStep, ExecutionPlan, FunctionStep, NestedStep, Step
    from hypernodes.engine.values import Values
    from hypernodes.executor.base import Executor
    from hypernodes.executor.inline import InlineExecutor
    from hypernodes.executor.ready import ReadySet
    from hypernodes.executor.request import MapRequest, RunPipeline, RunRequest
    from hypernodes.executor.worker import (
        EventReceiver,
        RemoteTraceback,
        RunPayload,
        SendEvent,
        dumps,
        loads,
        run_payload,
    )
    from hypernodes.resources.pool import ResourcePool

    run_step = _ENGINE.run_step
    run_step_async = _ENGINE.run_step_async
    run_in_order = _ENGINE.run_in_order
    run_item = _ENGINE.run_item
    run_item_async = _ENGINE.run_item_async
    step_awaits = _ENGINE.awaits
    run_root = _ENGINE.run_root
    map_root = _ENGINE.map_root

__all__ = [
    "ConfiguredStep",
    "EventReceiver",
    "ExecutionPlan",
    "Executor",
    "FunctionStep",
    "InlineExecutor",
    "MapRequest",
    "NestedStep",
    "Offload",
    "ReadySet",
    "RemoteTraceback",
    "ResourcePool",
    "RunContext",
    "RunPayload",
    "RunPipeline",
    "RunRequest",
    "SendEvent",
    "Step",
    "Values",
    "dumps",
    "loads",
    "map_root",
    "run_batch",
    "run_in_order",
    "run_in_thread",
    "run_item",
    "run_item_async",
    "run_payload",
    "run_root",
    "run_step",
    "run_step_async",
    "run_step_batch",
    "run_sync",
    "step_awaits",
]

# Loaded on first use, as concurrent.futures loads its pools: the engine and the config import
# modules of this package, so importing the engine here would be circular.
_MODULES: dict[str, str] = {
    "RunContext": "hypernodes.engine.context",
    "Offload": "hypernodes.engine.engine",
    "ConfiguredStep": "hypernodes.engine.plan",
    "ExecutionPlan": "hypernodes.engine.plan",
    "FunctionStep": "hypernodes.engine.plan",
    "NestedStep": "hypernodes.engine.plan",
    "Step": "hypernodes.engine.plan",
    "Values": "hypernodes.engine.values",
    "Executor": "hypernodes.executor.base",
    "InlineExecutor": "hypernodes.executor.inline",
    "ReadySet": "hypernodes.executor.ready",
    "MapRequest": "hypernodes.executor.request",
    "RunPipeline": "hypernodes.executor.request",
    "RunRequest": "hypernodes.executor.request",
    "EventReceiver": "hypernodes.executor.worker",
    "RemoteTraceback": "hypernodes.executor.worker",
    "RunPayload": "hypernodes.executor.worker",
    "SendEvent": "hypernodes.executor.worker",
    "dumps": "hypernodes.executor.worker",
    "loads": "hypernodes.executor.worker",
    "run_payload": "hypernodes.executor.worker",
    "run_in_thread": "hypernodes._async",
    "run_batch": "hypernodes.engine.batch",
    "run_step_batch": "hypernodes.engine.batch",
    "ResourcePool": "hypernodes.resources.pool",
    "run_sync": "hypernodes._async",
}
# The engine's methods, offered as functions.
_ENGINE_FUNCTIONS: dict[str, str] = {
    "run_step": "run_step",
    "run_step_async": "run_step_async",
    "run_in_order": "run_in_order",
    "run_item": "run_item",
    "run_item_async": "run_item_async",
    "step_awaits": "awaits",
    "run_root": "run_root",
    "map_root": "map_root",
}


def __getattr__(name: str) -> Any:
    """Load a public name on first use."""
    if name in _ENGINE_FUNCTIONS:
        from hypernodes.engine.engine import ENGINE

        value = getattr(ENGINE, _ENGINE_FUNCTIONS[name])
    elif name in _MODULES:
        value = getattr(importlib.import_module(_MODULES[name]), name)
    else:
        raise AttributeError(f"module 'hypernodes.executor' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
