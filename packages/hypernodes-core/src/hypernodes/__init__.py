"""HyperNodes: hierarchical, modular pipelines of plain Python functions.

Write functions that handle one item, wire them into a DAG by name, and run the same DAG
once or over many items (cached, observed, on threads, processes, asyncio, Daft, Dask, Ray
or Modal) by changing one :class:`RuntimeConfig`, never the functions.

Every public name of every HyperNodes distribution can be imported from here; names of the
other distributions are loaded on first use, and one whose distribution is missing raises an
``ImportError`` naming the distribution to install.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

# Sibling distributions (hypernodes-executors, ...) ship only their subpackage; in an editable
# workspace each lives in its own src/ directory, so extend the package path to find them.
__path__ = pkgutil.extend_path(__path__, __name__)

from hypernodes import _siblings
from hypernodes.backend.base import Backend
from hypernodes.backend.local import LocalBackend
from hypernodes.cache.base import Cache
from hypernodes.cache.disk import DiskCache
from hypernodes.cache.memory import MemoryCache
from hypernodes.cache.remote import FsspecCache
from hypernodes.cache.spec import CacheSpec
from hypernodes.callbacks.base import PipelineCallback
from hypernodes.callbacks.context import CallbackContext
from hypernodes.callbacks.progress import ProgressCallback
from hypernodes.callbacks.tracing import TracingCallback
from hypernodes.config.resolution import ConfigExplanation, ConfigRow
from hypernodes.config.retry import RetryPolicy
from hypernodes.config.runtime import RuntimeConfig, get_default_config, set_default_config
from hypernodes.engine.context import RunContext
from hypernodes.engine.engine import PipelineExecutionEngine
from hypernodes.engine.failures import ItemFailure
from hypernodes.engine.plan import ExecutionPlan, Step
from hypernodes.errors import (
    CycleError,
    DependencyError,
    HyperNodesError,
    InvalidArgumentError,
    NodeTimeoutError,
    SerializationError,
    WorkerCrashedError,
)
from hypernodes.executor.base import Executor
from hypernodes.executor.inline import InlineExecutor
from hypernodes.graph.node import Node, node
from hypernodes.graph.pipeline import Pipeline
from hypernodes.graph.pipeline_node import PipelineNode
from hypernodes.resources.resource import Resource, resource

__version__ = "0.1.0"

# Public names of the sibling distributions: name -> (module, distribution).
_LAZY: dict[str, tuple[str, str]] = {
    "AsyncExecutor": ("hypernodes.executors", "hypernodes-executors"),
    "CompositeExecutor": ("hypernodes.executors", "hypernodes-executors"),
    "ProcessPoolExecutor": ("hypernodes.executors", "hypernodes-executors"),
    "SequentialExecutor": ("hypernodes.executors", "hypernodes-executors"),
    "ThreadPoolExecutor": ("hypernodes.executors", "hypernodes-executors"),
    "DaftExecutor": ("hypernodes.daft", "hypernodes-daft"),
    "ModalBackend": ("hypernodes.modal", "hypernodes-modal"),
    "DaskExecutor": ("hypernodes.distributed", "hypernodes-distributed"),
    "RayExecutor": ("hypernodes.distributed", "hypernodes-distributed"),
    "RemoteBackend": ("hypernodes.distributed", "hypernodes-distributed"),
}

# Without a sibling distribution, importing its subpackage says what to install.
_siblings.install_finder({module: distribution for module, distribution in _LAZY.values()})

__all__ = [
    "Backend",
    "Cache",
    "CacheSpec",
    "CallbackContext",
    "ConfigExplanation",
    "ConfigRow",
    "CycleError",
    "DependencyError",
    "DiskCache",
    "ExecutionPlan",
    "Executor",
    "FsspecCache",
    "HyperNodesError",
    "InlineExecutor",
    "InvalidArgumentError",
    "ItemFailure",
    "LocalBackend",
    "MemoryCache",
    "Node",
    "NodeTimeoutError",
    "Pipeline",
    "PipelineCallback",
    "PipelineExecutionEngine",
    "PipelineNode",
    "ProgressCallback",
    "Resource",
    "RetryPolicy",
    "RunContext",
    "RuntimeConfig",
    "SerializationError",
    "Step",
    "TracingCallback",
    "WorkerCrashedError",
    "get_default_config",
    "node",
    "resource",
    "set_default_config",
]


def __getattr__(name: str) -> Any:
    """Load a public name of a sibling distribution on first use."""
    try:
        module_name, distribution = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'hypernodes' has no attribute {name!r}") from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name not in (module_name, "hypernodes"):
            raise  # the distribution is there but one of its own dependencies is missing
        raise ImportError(
            f"{name} is provided by the {distribution} distribution, which is not installed; "
            f"install it with: pip install {distribution}",
            name=module_name,
        ) from exc
    try:
        value = getattr(module, name)
    except AttributeError:
        raise ImportError(
            f"{name} is provided by {distribution}, but the installed {distribution} does not define it; "
            f"upgrade it with: pip install -U {distribution}",
            name=module_name,
        ) from None
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *_LAZY})
