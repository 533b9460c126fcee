"""Resources and batch forms under any executor (part of the behaviour suite).

Resources are built once per worker: once per executor in-process, once per worker process
(per thread when declared not thread-safe), reused across items, runs, nested pipelines and
maps; they are not part of cache keys but by name and version. A node's batch form and its
per-item function give the same results, whichever one an executor uses, and per-item
caching holds either way. Builds are counted through files, tagged with process and thread.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from hypernodes.cache.spec import CacheSpec
from hypernodes.errors import InvalidArgumentError
from hypernodes.executor.base import Executor
from hypernodes.graph.pipeline import Pipeline
from hypernodes.testing._base import SuiteBase
from hypernodes.testing.nodes import increment
from hypernodes.testing.resource_nodes import (
    builds,
    computed,
    counting_resource,
    failing_resource,
    scaling_node,
    short_batch,
    split,
    teardowns,
    triple,
)

__all__ = ["BatchBehaviour", "ResourceBehaviour"]


def _once_per_process(where: list[str]) -> bool:
    """Return whether something happened at least once, and at most once in each process."""
    processes = Counter(place.split(":")[0] for place in where)
    return bool(processes) and all(n == 1 for n in processes.values())


class ResourceBehaviour(SuiteBase):
    """Resources are built lazily, once per worker, shared, torn down, and kept out of cache keys."""

    def test_a_resource_parameter_is_filled_in_and_is_not_an_input(self, executor: Executor, tmp_path: Path) -> None:
        scale = scaling_node(counting_resource(str(tmp_path / "log")))
        p = Pipeline(nodes=[scale], config=self.config(executor))
        assert p.root_args == ("x", "offset")
        assert p.run(inputs={"x": 4}) == {"scaled": 8}
        assert p.map(inputs={"x": [1, 2, 3], "offset": 1}, map_over="x") == {"scaled": [3, 5, 7]}

    def test_a_resource_is_built_once_per_worker_across_items_and_runs(
        self, executor: Executor, tmp_path: Path
    ) -> None:
        log = str(tmp_path / "log")
        p = Pipeline(nodes=[scaling_node(counting_resource(log))], config=self.config(executor))
        for _ in range(2):
            assert p.map(inputs={"x": list(range(12))}, map_over="x") == {"scaled": [2 * x for x in range(12)]}
        assert p.run(inputs={"x": 5}) == {"scaled": 10}
        assert _once_per_process(builds(log)), builds(log)

    def test_a_thread_unsafe_resource_is_built_once_per_thread(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "log")
        scale = scaling_node(counting_resource(log, thread_safe=False))
        p = Pipeline(nodes=[scale], config=self.config(executor))
        for _ in range(2):
            assert p.map(inputs={"x": list(range(12))}, map_over="x") == {"scaled": [2 * x for x in range(12)]}
        places = Counter(builds(log))
        assert places and all(n == 1 for n in places.values()), places

    def test_resources_are_shared_by_nested_pipelines_and_maps(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "log")
        model = counting_resource(log)
        inner = Pipeline(nodes=[scaling_node(model)], name="inner").as_node(
            input_mapping={"xs": "x"}, output_mapping={"scaled": "ys"}, map_over="xs", name="per_x"
        )
        top = scaling_node(model).with_name("scale_top")  # the same resource at the outer level too
        outer = Pipeline(nodes=[inner, top], name="outer", config=self.config(executor))
        out = outer.map(inputs={"xs": [[1, 2], [], [3, 4, 5]], "x": [7, 8, 9]}, map_over=["xs", "x"])
        assert out == {"ys": [[2, 4], [], [6, 8, 10]], "scaled": [14, 16, 18]}
        assert _once_per_process(builds(log)), builds(log)

    def test_a_fully_cached_rerun_builds_no_resource(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "log")
        p = Pipeline(
            nodes=[scaling_node(counting_resource(log))],
            config=self.config(executor, cache=CacheSpec(kind="disk", path=tmp_path / "cache")),
        )
        first = p.map(inputs={"x": [1, 2, 3]}, map_over="x")
        built = len(builds(log))
        assert p.map(inputs={"x": [1, 2, 3]}, map_over="x") == first
        assert len(builds(log)) == built  # every call was a hit: nothing needed the model

    def test_cache_keys_hold_a_resource_by_name_and_version_only(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "log")
        config = self.config(executor, cache=CacheSpec(kind="disk", path=tmp_path / "cache"))

        def scaled(factor: int, version: str) -> list[int]:
            scale = scaling_node(counting_resource(log, factor=factor, version=version))
            return Pipeline(nodes=[scale], config=config).map(inputs={"x": [1, 2]}, map_over="x")["scaled"]

        assert scaled(2, "1") == [2, 4]
        # What the factory closes over changed, but not the version: the cached results stand.
        assert scaled(3, "1") == [2, 4]
        assert scaled(3, "2") == [3, 6]  # a new version misses

    def test_a_failing_factory_raises_its_error_naming_the_resource(self, executor: Executor) -> None:
        p = Pipeline(nodes=[scaling_node(failing_resource())], name="p", config=self.config(executor))
        with pytest.raises(RuntimeError, match="model file is missing") as info:
            p.map(inputs={"x": [1, 2]}, map_over="x")
        assert any("building resource 'broken'" in note and "'scale'" in note for note in info.value.__notes__)

    def test_resources_are_torn_down_when_the_executor_closes(
        self, executor: Executor, request: pytest.FixtureRequest, tmp_path: Path
    ) -> None:
        """Needs an ``executor_factory`` fixture making fresh executors like `executor` (which is not closed here)."""
        factory = _optional_fixture(request, "executor_factory")
        log = str(tmp_path / "log")
        executor = factory()
        try:
            p = Pipeline(nodes=[scaling_node(counting_resource(log))], config=self.config(executor))
            assert p.map(inputs={"x": list(range(8))}, map_over="x") == {"scaled": [2 * x for x in range(8)]}
            here = str(os.getpid())  # worker processes that ended already tore theirs down as they exited
            assert [place for place in teardowns(log) if place.split(":")[0] == here] == []
        finally:
            executor.close()
        # Torn down where it was built (a worker process tears down its own as it exits).
        process = [place.split(":")[0] for place in builds(log)]
        assert Counter(place.split(":")[0] for place in teardowns(log)) == Counter(process)
        executor.close()  # a second close is a no-op
        assert len(teardowns(log)) == len(process)


class BatchBehaviour(SuiteBase):
    """A node's batch form and per-item function agree, and per-item caching holds, under any executor."""

    def test_batch_and_per_item_forms_give_the_same_results(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "log")
        p = Pipeline(nodes=[triple, split], config=self.config(executor))
        xs = list(range(10))
        out = p.map(inputs={"x": xs, "log": log}, map_over="x")
        assert out == {
            "tripled": [3 * x for x in xs],
            "half": [3 * x // 2 for x in xs],
            "parity": [3 * x % 2 for x in xs],
        }
        assert out == {name: [p.run(inputs={"x": x, "log": log})[name] for x in xs] for name in out}

    def test_a_batch_form_takes_shared_inputs_defaults_and_resources(self, executor: Executor, tmp_path: Path) -> None:
        scale = scaling_node(counting_resource(str(tmp_path / "log")), batch=True)
        p = Pipeline(nodes=[scale, increment.with_name("inc")], config=self.config(executor))
        assert p.map(inputs={"x": [1, 2, 3]}, map_over="x") == {"scaled": [2, 4, 6], "y": [2, 3, 4]}
        assert p.map(inputs={"x": [1, 2, 3], "offset": 10}, map_over="x")["scaled"] == [12, 14, 16]

    def test_per_item_caching_holds_with_a_batch_form(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "log")
        p = Pipeline(
            nodes=[triple], config=self.config(executor, cache=CacheSpec(kind="disk", path=tmp_path / "cache"))
        )
        p.map(inputs={"x": [1, 2, 3], "log": log}, map_over="x")
        assert sorted(computed(log)) == [1, 2, 3]
        out = p.map(inputs={"x": [4, 2, 5, 3, 1], "log": log}, map_over="x")
        assert out == {"tripled": [12, 6, 15, 9, 3]}
        assert sorted(computed(log)) == [1, 2, 3, 4, 5]  # only the misses were computed, each once

    def test_a_batch_form_of_the_wrong_length_never_gives_wrong_results(self, executor: Executor) -> None:
        p = Pipeline(nodes=[short_batch], name="p", config=self.config(executor))
        try:
            out = p.map(inputs={"x": [1, 2, 3]}, map_over="x")
        except InvalidArgumentError as exc:  # an executor that used the batch form
            assert re.search(r"node 'short_batch' returned \d+ results? for a batch of \d+ items?", str(exc)), exc
        else:  # an executor that runs the per-item function
            assert out == {"doubled": [2, 4, 6]}


def _optional_fixture(request: pytest.FixtureRequest, name: str) -> Callable[[], Executor]:
    try:
        factory: Callable[[], Executor] = request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        pytest.skip(f"provide an {name!r} fixture (a fresh executor per call) to run this test")
    return factory
