"""RayExecutor on a real local Ray: resources, per-node overrides, nesting, async nodes, live events, crashes."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest

from hypernodes import CacheSpec, InvalidArgumentError, Pipeline, PipelineCallback, RuntimeConfig, WorkerCrashedError
from hypernodes.distributed import RayExecutor
from hypernodes.testing.nodes import double, read_calls

T = TypeVar("T")


def _load(name: str) -> ModuleType:  # by path, as a user's script would be: workers cannot import it
    spec = importlib.util.spec_from_file_location(f"hn_ray_{name}", Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


nodes = _load("ray_nodes")


def finishes(function: Callable[[], T], seconds: float = 120.0) -> T:
    """Return `function()`; fail instead of hanging if it deadlocks."""
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(_outcome(function)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"deadlocked: still running after {seconds}s"
    ok, value = box[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


def _outcome(function: Callable[[], T]) -> tuple[bool, Any]:
    try:
        return True, function()
    except BaseException as exc:
        return False, exc


@pytest.fixture(name="executor")
def executor_fixture(local_ray: ModuleType) -> Iterator[RayExecutor]:
    with RayExecutor(chunksize=1) as executor:
        yield executor


def test_a_gpu_no_node_has_is_an_error_not_a_hang(local_ray: ModuleType) -> None:
    p = Pipeline(nodes=[double], name="p", config=RuntimeConfig(executor=RayExecutor(num_gpus=1)))
    expected = r"'double'.*GPU=1, but the Ray cluster has CPU=2, special=2.*drop num_gpus"
    with pytest.raises(InvalidArgumentError, match=expected):
        p.run(inputs={"x": 1})


def test_a_custom_resource_no_node_has_is_an_error(local_ray: ModuleType) -> None:
    p = Pipeline(nodes=[double], name="p", config=RuntimeConfig(executor=RayExecutor(resources={"TPU": 1})))
    with pytest.raises(InvalidArgumentError, match=r"TPU=1.*special=2"):
        p.map(inputs={"x": [1, 2]}, map_over="x")


def test_a_node_with_its_own_executor_gets_its_resources(executor: RayExecutor) -> None:
    special = nodes.task_resources.with_config(
        RuntimeConfig(executor=RayExecutor(num_cpus=0.5, resources={"special": 1}))
    )
    p = Pipeline(nodes=[special, double], name="p", config=RuntimeConfig(executor=executor))
    out = p.map(inputs={"x": [1, 2]}, map_over="x")
    assert out["doubled"] == [2, 4]
    assert all(where == {"CPU": 0.5, "special": 1.0} for where in out["where"]), out["where"]
    plain = Pipeline(nodes=[nodes.task_resources], config=RuntimeConfig(executor=executor)).run(inputs={"x": 1})
    assert plain["where"] == {"CPU": 1.0}


def test_nested_map_inside_a_map_on_two_cpus_never_deadlocks(executor: RayExecutor) -> None:
    inner = Pipeline(nodes=[double], name="inner").as_node(
        input_mapping={"xs": "x"}, output_mapping={"doubled": "ys"}, map_over="xs", name="per_x"
    )
    outer = Pipeline(nodes=[inner], name="outer", config=RuntimeConfig(executor=executor))
    xs = [[i, i + 1, i + 2] for i in range(6)]  # 6 outer tasks, each waiting on 3 nested ones, on 2 CPUs
    out = finishes(lambda: outer.map(inputs={"xs": xs}, map_over="xs"))
    assert out == {"ys": [[2 * v for v in item] for item in xs]}


def test_async_nodes_run_inside_ray_tasks(executor: RayExecutor) -> None:
    p = Pipeline(nodes=[nodes.async_in_task], config=RuntimeConfig(executor=executor))
    assert p.map(inputs={"x": [1, 2]}, map_over="x") == {"in_task": [(2, True), (3, True)]}
    assert p.run(inputs={"x": 5}) == {"in_task": (6, True)}


class _TouchOnFirstItem(PipelineCallback):
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def on_map_item_end(self, ctx: Any, index: int, duration: float) -> None:
        if index == 0:
            self.marker.touch()


def test_events_reach_the_caller_while_tasks_run(executor: RayExecutor, tmp_path: Path) -> None:
    marker = tmp_path / "item-0-ended"
    p = Pipeline(nodes=[nodes.wait_for_first_item], name="live")
    config = RuntimeConfig(executor=executor, callbacks=[_TouchOnFirstItem(marker)])
    # item 1 finishes only once the caller has seen item 0 end: events must arrive before the map ends
    out = finishes(lambda: p.map(inputs={"x": [0, 1], "marker": str(marker)}, map_over="x", config=config))
    assert out == {"seen": [0, 1]}


def test_resume_after_a_worker_crash_with_a_shared_disk_cache(local_ray: ModuleType, tmp_path: Path) -> None:
    log, marker = str(tmp_path / "calls.log"), tmp_path / "crash-marker"
    marker.touch()
    p = Pipeline(nodes=[nodes.crash_while_marked], name="p")
    cache = CacheSpec(kind="disk", path=tmp_path / "shared-cache")  # a directory every worker sees
    with RayExecutor(chunksize=1, max_retries=0) as executor:
        config = RuntimeConfig(executor=executor, cache=cache)
        inputs = {"x": [0, 1, 2, 3], "log": log, "marker": str(marker)}
        with pytest.raises(WorkerCrashedError, match="map items 3-3 of pipeline 'p'"):
            p.map(inputs=inputs, map_over="x", config=config)
        marker.unlink()  # the fix
        assert p.map(inputs=inputs, map_over="x", config=config) == {"checked": [0, 1, 2, 3]}
    assert Counter(read_calls(log)) == Counter({"checked-0": 1, "checked-1": 1, "checked-2": 1, "checked-3": 2})


def test_the_executor_pickles_as_its_arguments_and_shares_one_ray(executor: RayExecutor) -> None:
    import pickle

    gpu = RayExecutor(num_gpus=0.5, resources={"special": 1}, max_retries=2)
    clone = pickle.loads(pickle.dumps(gpu))
    assert repr(clone) == repr(gpu) == "RayExecutor(num_gpus=0.5, resources={'special': 1.0}, max_retries=2)"
    gpu.close()
    executor.close()  # neither started the session's Ray: it keeps running
    import ray

    assert ray.is_initialized()


def test_invalid_arguments_name_the_argument() -> None:
    with pytest.raises(InvalidArgumentError, match=r"num_gpus=\.\.\.\) must be a number >= 0, got -1"):
        RayExecutor(num_gpus=-1)
    with pytest.raises(InvalidArgumentError, match=r"chunksize"):
        RayExecutor(chunksize=0)


def test_importing_the_distribution_imports_no_engine() -> None:
    import subprocess

    code = "import sys, hypernodes.distributed as d; assert 'ray' not in sys.modules; print(d.__all__)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == (
        "['DaskExecutor', 'RayExecutor', 'RemoteBackend']"
    )
