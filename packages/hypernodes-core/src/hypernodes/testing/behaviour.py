"""Behaviour every executor must show, written once and run under each executor.

Subclass :class:`ExecutorBehaviourSuite` in a test module and provide an ``executor`` fixture
(and, to run the suite under a backend other than ``LocalBackend``, a ``backend`` fixture)::

    @pytest.fixture(params=[SequentialExecutor, ThreadPoolExecutor])
    def executor(request):
        with request.param() as executor:
            yield executor

    class TestMyExecutors(ExecutorBehaviourSuite): ...

Nodes live in :mod:`hypernodes.testing.nodes` so that worker processes can import them; calls
are counted through files (``tmp_path``), which works across threads and processes alike.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hypernodes.errors import DependencyError, InvalidArgumentError, NodeTimeoutError
from hypernodes.executor.base import Executor
from hypernodes.graph.node import node
from hypernodes.graph.pipeline import Pipeline
from hypernodes.testing.api_behaviour import ApiBehaviour
from hypernodes.testing.cache_behaviour import CacheBehaviour
from hypernodes.testing.callbacks_behaviour import CallbackBehaviour
from hypernodes.testing.nodes import (
    add,
    async_add_one,
    async_slow,
    clean,
    count,
    double,
    explode,
    flaky,
    increment,
    read_calls,
    record_call,
    slow,
    square,
    total,
)
from hypernodes.testing.observability_behaviour import ObservabilityBehaviour
from hypernodes.testing.resources_behaviour import BatchBehaviour, ResourceBehaviour

__all__ = ["ExecutorBehaviourSuite"]


@node(output_name="logged")
def _logged(x: int, log: str) -> int:
    record_call(log, f"logged-{x}")
    return x


@node(output_name="never")
def _never(x: int, log: str) -> int:
    record_call(log, "never")
    return x


class ExecutorBehaviourSuite(
    CacheBehaviour, CallbackBehaviour, ObservabilityBehaviour, ApiBehaviour, ResourceBehaviour, BatchBehaviour
):
    """Executor-agnostic assertions; subclasses provide an ``executor`` fixture.

    An optional ``backend`` fixture (default ``LocalBackend()``) runs every assertion under
    that backend instead, e.g. ``RemoteBackend(kind="dask", ...)``: every config the suite
    builds uses it.
    """

    # -- wiring and selective outputs ---------------------------------------------------------

    def test_run_returns_every_output_including_intermediates(self, executor: Executor) -> None:
        prep = Pipeline(nodes=[clean, count], name="prep", config=self.config(executor))
        assert prep.run(inputs={"text": " A b "}) == {"clean": "a b", "n_words": 2, "n_chars": 3}

    def test_diamond_combines_both_branches(self, executor: Executor) -> None:
        diamond = Pipeline(nodes=[double, square, add], config=self.config(executor))
        assert diamond.run(inputs={"x": 3}) == {"doubled": 6, "squared": 9, "sum": 15}

    def test_defaults_make_inputs_optional(self, executor: Executor) -> None:
        p = Pipeline(nodes=[increment], config=self.config(executor))
        assert p.run(inputs={"x": 1}) == {"y": 2}
        assert p.run(inputs={"x": 1, "step": 10}) == {"y": 11}

    def test_output_name_runs_only_the_nodes_it_needs(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        p = Pipeline(nodes=[_logged, _never.with_name("never_node")], config=self.config(executor))
        assert p.run(inputs={"x": 1, "log": log}, output_name="logged") == {"logged": 1}
        assert read_calls(log) == ["logged-1"]

    def test_output_name_list_returns_only_those(self, executor: Executor) -> None:
        diamond = Pipeline(nodes=[double, square, add], config=self.config(executor))
        assert diamond.run(inputs={"x": 2}, output_name=["sum", "doubled"]) == {"sum": 8, "doubled": 4}

    def test_missing_input_fails_before_any_node_runs(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        p = Pipeline(nodes=[_logged, double.with_name("d").with_config(None)], config=self.config(executor))
        with pytest.raises(DependencyError, match="'log'"):
            p.run(inputs={"x": 1})
        assert read_calls(log) == []

    # -- map ------------------------------------------------------------------------------------

    def test_map_returns_items_in_input_order(self, executor: Executor) -> None:
        out = Pipeline(nodes=[double]).map(
            inputs={"x": [3, 1, 2]}, map_over="x", config=self.config(executor)
        )
        assert out == {"doubled": [6, 2, 4]}

    def test_map_many_items_keeps_order(self, executor: Executor) -> None:
        out = Pipeline(nodes=[double, square, add], config=self.config(executor)).map(
            inputs={"x": list(range(40))}, map_over="x", output_name="sum"
        )
        assert out == {"sum": [2 * x + x * x for x in range(40)]}

    def test_map_zip_pairs_items(self, executor: Executor) -> None:
        p = Pipeline(nodes=[increment], config=self.config(executor))
        assert p.map(inputs={"x": [1, 2], "step": [10, 20]}, map_over=["x", "step"]) == {"y": [11, 22]}

    def test_map_product_runs_every_combination(self, executor: Executor) -> None:
        p = Pipeline(nodes=[increment], config=self.config(executor))
        out = p.map(inputs={"x": [1, 2], "step": [10, 20, 30]}, map_over=["x", "step"], map_mode="product")
        assert out == {"y": [11, 21, 31, 12, 22, 32]}

    def test_map_broadcasts_unmapped_inputs(self, executor: Executor) -> None:
        p = Pipeline(nodes=[increment], config=self.config(executor))
        assert p.map(inputs={"x": (1, 2, 3), "step": 5}, map_over="x") == {"y": [6, 7, 8]}

    def test_map_accepts_any_non_string_sequence(self, executor: Executor) -> None:
        p = Pipeline(nodes=[double], config=self.config(executor))
        assert p.map(inputs={"x": range(3)}, map_over="x") == {"doubled": [0, 2, 4]}

    def test_map_over_empty_list_gives_empty_lists(self, executor: Executor) -> None:
        prep = Pipeline(nodes=[clean, count], config=self.config(executor))
        assert prep.map(inputs={"text": []}, map_over="text") == {"clean": [], "n_words": [], "n_chars": []}

    def test_map_zip_of_unequal_lengths_is_an_error(self, executor: Executor) -> None:
        p = Pipeline(nodes=[increment], config=self.config(executor))
        with pytest.raises(InvalidArgumentError, match="x=2, step=3"):
            p.map(inputs={"x": [1, 2], "step": [1, 2, 3]}, map_over=["x", "step"])

    def test_map_over_a_string_is_an_error(self, executor: Executor) -> None:
        p = Pipeline(nodes=[clean], config=self.config(executor))
        with pytest.raises(InvalidArgumentError, match="non-string sequence"):
            p.map(inputs={"text": "abc"}, map_over="text")

    # -- nesting --------------------------------------------------------------------------------

    def test_pipeline_in_nodes_is_a_nested_node(self, executor: Executor) -> None:
        inner = Pipeline(nodes=[clean], name="inner")
        outer = Pipeline(nodes=[inner, count], name="outer", config=self.config(executor))
        assert outer.run(inputs={"text": "A B"}) == {"clean": "a b", "n_words": 2, "n_chars": 3}

    def test_as_node_renames_inputs_and_outputs(self, executor: Executor) -> None:
        inner = Pipeline(nodes=[double], name="inner")
        wrapped = inner.as_node(input_mapping={"number": "x"}, output_mapping={"doubled": "twice"})
        outer = Pipeline(nodes=[wrapped], config=self.config(executor))
        assert outer.root_args == ("number",)
        assert outer.run(inputs={"number": 4}) == {"twice": 8}

    def test_as_node_map_over_gives_lists(self, executor: Executor) -> None:
        prep = Pipeline(nodes=[clean, count], name="prep")
        per_item = prep.as_node(
            input_mapping={"texts": "text"},
            output_mapping={"n_words": "words"},
            map_over="texts",
            name="per_item",
        )
        summed = total.with_name("sum_words")
        outer = Pipeline(
            nodes=[
                per_item,
                Pipeline(nodes=[summed], name="summing").as_node(input_mapping={"words": "values"}),
            ],
            name="outer",
            config=self.config(executor),
        )
        out = outer.run(inputs={"texts": ["a b", "C", "d e f"]})
        # output_mapping exposes exactly the mapped outputs: clean and n_chars stay private
        assert out == {"words": [2, 1, 3], "total": 6}

    def test_output_name_prunes_inside_nested_pipelines(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        inner = Pipeline(nodes=[_logged, _never], name="inner")
        outer = Pipeline(nodes=[inner], name="outer", config=self.config(executor))
        assert outer.run(inputs={"x": 3, "log": log}, output_name="logged") == {"logged": 3}
        assert read_calls(log) == ["logged-3"]

    def test_map_of_a_mapped_nested_pipeline(self, executor: Executor) -> None:
        inner = Pipeline(nodes=[double], name="inner").as_node(
            input_mapping={"xs": "x"}, output_mapping={"doubled": "ys"}, map_over="xs"
        )
        outer = Pipeline(nodes=[inner], name="outer", config=self.config(executor))
        out = outer.map(inputs={"xs": [[1, 2], [], [3]]}, map_over="xs")
        assert out == {"ys": [[2, 4], [], [6]]}

    def test_nested_pipeline_with_its_own_config_runs(self, executor: Executor) -> None:
        inner = Pipeline(nodes=[double], name="inner", config=self.config(executor, retries=1))
        outer = Pipeline(nodes=[inner, square], name="outer", config=self.config(executor))
        assert outer.run(inputs={"x": 5}) == {"doubled": 10, "squared": 25}

    # -- errors ---------------------------------------------------------------------------------

    def test_node_error_propagates_as_itself_with_a_note(self, executor: Executor) -> None:
        p = Pipeline(nodes=[explode], name="fragile", config=self.config(executor))
        with pytest.raises(ValueError, match="x=2") as info:
            p.run(inputs={"x": 2})
        assert "in node 'explode' of fragile" in info.value.__notes__

    def test_map_error_note_names_the_item(self, executor: Executor) -> None:
        p = Pipeline(nodes=[explode], name="fragile", config=self.config(executor))
        with pytest.raises(ValueError) as info:
            p.map(inputs={"x": [0, 1, 2, 3]}, map_over="x")
        assert "in node 'explode' of fragile, map item 2" in info.value.__notes__

    def test_error_in_nested_map_names_the_path(self, executor: Executor) -> None:
        inner = Pipeline(nodes=[explode], name="inner").as_node(map_over="x", name="per_item")
        outer = Pipeline(nodes=[inner], name="outer", config=self.config(executor))
        with pytest.raises(ValueError) as info:
            outer.run(inputs={"x": [5, 2]})
        assert info.value.__notes__ == ["in node 'explode' of outer > per_item, map item 1"]

    # -- async nodes ----------------------------------------------------------------------------

    def test_async_nodes_run_and_map(self, executor: Executor) -> None:
        p = Pipeline(nodes=[async_add_one], config=self.config(executor))
        assert p.run(inputs={"x": 1}) == {"y": 2}
        assert p.map(inputs={"x": [1, 2, 3]}, map_over="x") == {"y": [2, 3, 4]}

    def test_async_and_sync_nodes_mix(self, executor: Executor) -> None:
        p = Pipeline(nodes=[async_add_one, double.with_name("d")], config=self.config(executor))
        out = p.map(inputs={"x": [1, 2]}, map_over="x")
        assert out == {"y": [2, 3], "doubled": [2, 4]}

    # -- retries and timeouts -------------------------------------------------------------------

    def test_retries_reinvoke_a_failing_node(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        p = Pipeline(nodes=[flaky], config=self.config(executor, retries=2))
        assert p.run(inputs={"x": 7, "log": log, "failures": 2}) == {"y": 7}
        assert read_calls(log) == ["flaky-7"] * 3

    def test_exhausted_retries_raise_the_last_error(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        p = Pipeline(nodes=[flaky], config=self.config(executor, retries=1))
        with pytest.raises(ConnectionError, match="failure 2"):
            p.run(inputs={"x": 7, "log": log, "failures": 5})
        assert read_calls(log) == ["flaky-7"] * 2

    def test_node_config_overrides_pipeline_config(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        retried = flaky.with_config(self.config(executor, retries=3))
        p = Pipeline(nodes=[retried], config=self.config(executor, retries=0))
        assert p.run(inputs={"x": 1, "log": log, "failures": 3}) == {"y": 1}

    def test_call_site_config_overrides_node_config(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        retried = flaky.with_config(self.config(executor, retries=3))
        p = Pipeline(nodes=[retried])
        with pytest.raises(ConnectionError):
            p.run(inputs={"x": 1, "log": log, "failures": 3}, config=self.config(executor, retries=0))
        assert read_calls(log) == ["flaky-1"]

    def test_timeout_stops_waiting_for_a_slow_sync_node(self, executor: Executor) -> None:
        p = Pipeline(nodes=[slow], name="slowpoke", config=self.config(executor, timeout=0.2))
        with pytest.raises(NodeTimeoutError, match="'slow'") as info:
            p.run(inputs={"x": 1, "seconds": 3.0})
        assert isinstance(info.value, TimeoutError)

    def test_timeout_stops_a_slow_async_node(self, executor: Executor) -> None:
        p = Pipeline(nodes=[async_slow], config=self.config(executor, timeout=0.2))
        with pytest.raises(NodeTimeoutError, match="timeout=0.2s"):
            p.run(inputs={"x": 1, "seconds": 3.0})

    def test_fast_node_under_a_timeout_returns_normally(self, executor: Executor) -> None:
        p = Pipeline(nodes=[slow], config=self.config(executor, timeout=10.0))
        assert p.map(inputs={"x": [1, 2], "seconds": 0.0}, map_over="x") == {"y": [1, 2]}
