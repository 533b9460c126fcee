"""The public surface: pinned ``__all__``, lazy sibling names, and a light ``import hypernodes``."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import hypernodes

DESIGN_NAMES = {
    "node", "Node", "Pipeline", "PipelineNode", "RuntimeConfig", "set_default_config", "get_default_config",
    "CacheSpec", "Cache", "DiskCache", "MemoryCache", "PipelineCallback", "CallbackContext", "ProgressCallback",
    "TracingCallback", "Executor", "Backend", "LocalBackend", "PipelineExecutionEngine", "HyperNodesError",
    "CycleError", "DependencyError", "NodeTimeoutError", "RetryPolicy", "ItemFailure",
}  # fmt: skip

LAZY_NAMES = {
    "SequentialExecutor", "AsyncExecutor", "ThreadPoolExecutor", "ProcessPoolExecutor", "CompositeExecutor",
    "DaftExecutor", "DaskExecutor", "RayExecutor", "RemoteBackend", "ModalBackend",
}  # fmt: skip


def test_all_is_pinned() -> None:
    assert sorted(hypernodes.__all__) == hypernodes.__all__
    assert set(hypernodes.__all__) == DESIGN_NAMES | {
        "ConfigExplanation", "ConfigRow", "ExecutionPlan", "FsspecCache", "InlineExecutor", "InvalidArgumentError",
        "Resource", "RunContext", "SerializationError", "Step", "WorkerCrashedError", "resource",
    }  # fmt: skip


def test_every_name_in_all_exists() -> None:
    for name in hypernodes.__all__:
        assert getattr(hypernodes, name) is not None


def test_dir_lists_lazy_names_too() -> None:
    assert set(dir(hypernodes)) >= LAZY_NAMES


@pytest.mark.parametrize(
    "module",
    ["hypernodes.errors", "hypernodes.graph.node", "hypernodes.config.runtime", "hypernodes.engine.engine"],
)
def test_every_module_declares_all(module: str) -> None:
    assert isinstance(importlib.import_module(module).__all__, list)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="Nope"):
        hypernodes.Nope  # noqa: B018


def test_import_hypernodes_loads_nothing_heavy() -> None:
    heavy = [
        "numpy",
        "pandas",
        "daft",
        "dask",
        "ray",
        "modal",
        "tqdm",
        "opentelemetry",
        "pydantic",
        "cloudpickle",
    ]
    code = f"import sys, hypernodes; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_executor_api_all_is_pinned() -> None:
    import hypernodes.executor as api

    assert sorted(api.__all__) == api.__all__
    assert set(api.__all__) == {
        "ConfiguredStep", "EventReceiver", "ExecutionPlan", "Executor", "FunctionStep", "InlineExecutor",
        "Inputs", "OutputNames", "Outputs",
        "MapRequest", "NestedStep", "Offload", "ReadySet", "RemoteTraceback", "ResourcePool", "RunContext",
        "RunPayload", "RunPipeline", "RunRequest", "SendEvent", "Step", "Values", "dumps", "loads", "map_root",
        "run_batch", "run_in_order", "run_in_thread", "run_item", "run_item_async", "run_payload", "run_root",
        "run_step", "run_step_async", "run_step_batch", "run_sync", "step_awaits",
    }  # fmt: skip
    for name in api.__all__:
        assert getattr(api, name) is not None
    assert set(dir(api)) == set(api.__all__)
