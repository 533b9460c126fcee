"""RayExecutor runs the nodes of one run as Ray tasks fed by their upstream tasks (``_ray_graph``)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from hypernodes import CacheSpec, Pipeline, RuntimeConfig
from hypernodes.distributed import RayExecutor
from hypernodes.testing.nodes import double, explode, logged_shift, logged_square, read_calls, square
from hypernodes.testing.recording import RecordingCallback


def _load(name: str) -> ModuleType:  # by path, as a user's script would be: workers cannot import it
    spec = importlib.util.spec_from_file_location(f"hn_ray_{name}", Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


nodes = _load("ray_nodes")


@pytest.fixture(name="executor", scope="module")
def executor_fixture(local_ray: ModuleType) -> Iterator[RayExecutor]:
    with RayExecutor() as executor:
        yield executor


@pytest.fixture(name="diamond")
def diamond_fixture(executor: RayExecutor) -> Pipeline:
    """base -> (left, right) -> join; left and right each wait until the other runs."""
    steps = [nodes.base, nodes.left, nodes.right, nodes.join]
    return Pipeline(nodes=steps, name="diamond", config=RuntimeConfig(executor=executor))


def test_independent_branches_run_at_once_in_two_ray_tasks(diamond: Pipeline, tmp_path: Path) -> None:
    # Each branch fails (TimeoutError after 60s) unless the other runs at the same time.
    out = diamond.run(inputs={"x": 1, "rendezvous": str(tmp_path)})
    assert (out["left"], out["right"], out["joined"]) == (4, 6, 10)
    assert out["left_task"] != out["right_task"]
    assert "None" not in (out["left_task"], out["right_task"])  # both ran in a task, not in the caller


def test_cache_signatures_chain_from_task_to_task(executor: RayExecutor, tmp_path: Path) -> None:
    log = str(tmp_path / "calls.log")
    p = Pipeline(nodes=[logged_square, logged_shift, nodes.logged_cube, nodes.logged_combine], name="p")
    config = RuntimeConfig(executor=executor, cache=CacheSpec(kind="disk", path=tmp_path / "cache"))
    assert p.run(inputs={"x": 2, "y": 1, "log": log}, config=config) == {
        "squared": 4, "shifted": 5, "cubed": 1, "combined": 6,
    }  # fmt: skip
    p.run(inputs={"x": 2, "y": 1, "log": log}, config=config)  # every node hits
    assert sorted(read_calls(log)) == ["combine-5-1", "cube-1", "shift-4", "square-2"]
    p.run(inputs={"x": -2, "y": 1, "log": log}, config=config)
    # shift and combine get the same values but from another upstream call: they miss; cube hits
    assert sorted(read_calls(log)[4:]) == ["combine-5-1", "shift-4", "square--2"]


def test_callbacks_fire_in_the_caller_for_step_tasks(diamond: Pipeline, tmp_path: Path) -> None:
    recorder = RecordingCallback()
    config = RuntimeConfig(executor=diamond.config.executor, callbacks=[recorder])
    diamond.run(inputs={"x": 1, "rendezvous": str(tmp_path)}, config=config)
    assert sorted(e.subject for e in recorder.hooks("on_node_end")) == ["base", "join", "left", "right"]
    assert sorted(e.subject for e in recorder.hooks("on_node_start")) == ["base", "join", "left", "right"]


def test_a_node_error_comes_back_as_its_own_type_with_its_notes(executor: RayExecutor) -> None:
    p = Pipeline(nodes=[double, square, explode], name="fails", config=RuntimeConfig(executor=executor))
    with pytest.raises(ValueError, match="cannot handle x=2") as info:
        p.run(inputs={"x": 2})
    assert any("'explode'" in note and "fails" in note for note in info.value.__notes__), info.value.__notes__


def test_a_node_with_its_own_executor_runs_from_the_caller_with_its_resources(executor: RayExecutor) -> None:
    special = nodes.task_resources.with_config(
        RuntimeConfig(executor=RayExecutor(num_cpus=0.5, resources={"special": 1}))
    )
    p = Pipeline(nodes=[special, double], name="p", config=RuntimeConfig(executor=executor))
    assert p.run(inputs={"x": 1}) == {"where": {"CPU": 0.5, "special": 1.0}, "doubled": 2}
