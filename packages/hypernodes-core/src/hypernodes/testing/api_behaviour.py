"""Behaviour of the API around a run, under any executor.

Private nested outputs, config patches, bound inputs, per-item failures, retry policies and
the awaitable entry points.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from hypernodes.cache.spec import CacheSpec
from hypernodes.config.retry import RetryPolicy
from hypernodes.config.runtime import RuntimeConfig
from hypernodes.engine.failures import ItemFailure
from hypernodes.executor.base import Executor
from hypernodes.graph.pipeline import Pipeline
from hypernodes.testing._base import SuiteBase
from hypernodes.testing.nodes import (
    fail_on_three,
    flaky,
    from_tmp,
    logged_side,
    logged_square,
    logged_tmp_a,
    logged_tmp_b,
    read_calls,
    scaled,
    type_error_once,
)
from hypernodes.testing.recording import RecordingCallback

__all__ = ["ApiBehaviour"]


class ApiBehaviour(SuiteBase):
    """Assertions on the user-facing API; mixed into ``ExecutorBehaviourSuite``."""

    # -- private nested intermediates ----------------------------------------------------------

    def test_two_nested_pipelines_may_share_an_intermediate_name(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        first = Pipeline(nodes=[logged_tmp_a, from_tmp], name="first").as_node(output_mapping={"out": "a"})
        second = Pipeline(nodes=[logged_tmp_b, from_tmp, logged_side], name="second").as_node(
            output_mapping={"out": "b"}
        )
        outer = Pipeline(nodes=[first, second], name="outer")
        out = outer.run(inputs={"x": 1, "log": log}, config=self.config(executor))
        assert out == {"a": 102, "b": 110}  # neither `tmp` nor `side` leaks out
        assert sorted(read_calls(log)) == ["tmp-a-1", "tmp-b-1"]  # `side` feeds no exposed output: not run

    def test_mapped_nested_pipeline_exposes_only_mapped_outputs(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        per_x = Pipeline(nodes=[logged_tmp_a, from_tmp], name="inner").as_node(
            output_mapping={"out": "outs"}, map_over="x", name="per_x"
        )
        out = Pipeline(nodes=[per_x]).map(
            inputs={"x": [[1, 2], [3]], "log": log}, map_over="x", config=self.config(executor)
        )
        assert out == {"outs": [[102, 103], [104]]}

    # -- config patches ------------------------------------------------------------------------

    def test_a_node_patch_keeps_the_pipelines_cache_and_callbacks(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        recorder = RecordingCallback()
        config = self.config(executor, cache=CacheSpec(kind="disk", path=tmp_path / "cache"), callbacks=[recorder])
        p = Pipeline(nodes=[flaky.with_config(retries=2)], name="p", config=config)
        assert p.run(inputs={"x": 4, "log": log, "failures": 1}) == {"y": 4}
        assert p.run(inputs={"x": 4, "log": log, "failures": 1}) == {"y": 4}  # a cache hit
        assert read_calls(log) == ["flaky-4", "flaky-4"]  # one failure, one retry, then the cache
        assert [e.subject for e in recorder.hooks("on_node_end")] == ["flaky"]
        assert [e.subject for e in recorder.hooks("on_node_cached")] == ["flaky"]

    def test_a_pipeline_patch_changes_one_field_of_what_it_inherits(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        inner = Pipeline(nodes=[flaky], name="inner").with_config(retries=3)
        outer = Pipeline(nodes=[inner], name="outer")
        assert outer.run(inputs={"x": 1, "log": log, "failures": 2}, config=None) == {"y": 1}
        with RuntimeConfig.use(self.config(executor, retries=0)):
            assert outer.run(inputs={"x": 2, "log": log, "failures": 3}) == {"y": 2}
        assert Counter(read_calls(log)) == {"flaky-1": 3, "flaky-2": 4}
        row = outer.explain()["inner > flaky"]
        assert (row.source, row.config.retries) == ("pipeline", 3)
        assert "patch retries=3" in str(outer.explain())

    # -- bound inputs ----------------------------------------------------------------------------

    def test_bound_inputs_are_defaults_that_map_broadcasts(self, executor: Executor) -> None:
        p = Pipeline(nodes=[scaled], name="p", config=self.config(executor)).bind(factor=10)
        assert p.bound_inputs == {"factor": 10}
        assert p.run(inputs={"x": 2}) == {"y": 20}
        assert p.run(inputs={"x": 2, "factor": 3}) == {"y": 6}  # run-time inputs win
        assert p.map(inputs={"x": [1, 2, 3]}, map_over="x") == {"y": [10, 20, 30]}
        assert p.unbind("factor").bound_inputs == {}
        assert "bound=['factor']" in repr(p)

    def test_a_bound_nested_pipeline_needs_no_outer_input(self, executor: Executor) -> None:
        inner = Pipeline(nodes=[scaled], name="inner").bind(factor=5).as_node(map_over="x", name="per_x")
        outer = Pipeline(nodes=[inner], name="outer", config=self.config(executor))
        assert "factor" in outer.optional_args
        assert outer.run(inputs={"x": [1, 2]}) == {"y": [5, 10]}
        assert outer.run(inputs={"x": [1, 2], "factor": 2}) == {"y": [2, 4]}

    # -- per-item failures -----------------------------------------------------------------------

    def test_on_error_continue_keeps_every_other_item(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        config = self.config(executor, cache=CacheSpec(kind="disk", path=tmp_path / "cache"))
        p = Pipeline(nodes=[fail_on_three], name="p")
        inputs = {"x": [1, 2, 3, 4], "log": log}
        out = p.map(inputs=inputs, map_over="x", config=config, on_error="continue")
        assert out["y"][:2] == [2, 4] and out["y"][3] == 8
        failure = out["y"][2]
        assert isinstance(failure, ItemFailure) and not failure
        assert (failure.node_name, failure.item_index, failure.path) == ("fail_on_three", 2, ("p",))
        assert isinstance(failure.exception, ValueError) and "item three is broken" in failure.traceback
        p.map(inputs=inputs, map_over="x", config=config, on_error="continue")
        assert Counter(read_calls(log)) == {"call-1": 1, "call-2": 1, "call-3": 2, "call-4": 1}  # only 3 again

    def test_on_error_raise_is_the_default(self, executor: Executor, tmp_path: Path) -> None:
        p = Pipeline(nodes=[fail_on_three], name="p", config=self.config(executor))
        with pytest.raises(ValueError, match="item three"):
            p.map(inputs={"x": [1, 3], "log": str(tmp_path / "calls.log")}, map_over="x")

    def test_a_nested_map_can_continue_past_failed_items(self, executor: Executor, tmp_path: Path) -> None:
        per_x = Pipeline(nodes=[fail_on_three], name="inner").as_node(map_over="x", name="per_x", on_error="continue")
        outer = Pipeline(nodes=[per_x], name="outer", config=self.config(executor))
        ys = outer.run(inputs={"x": [3, 4], "log": str(tmp_path / "calls.log")})["y"]
        assert isinstance(ys[0], ItemFailure) and ys[1] == 8
        assert ys[0].path == ("outer", "per_x")

    # -- retry policies -------------------------------------------------------------------------

    def test_a_retry_policy_retries_only_the_listed_errors(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        policy = RetryPolicy(attempts=3, delay=0.001, backoff=2.0, on=(ConnectionError,))
        config = self.config(executor, retries=policy)
        assert Pipeline(nodes=[flaky]).run(inputs={"x": 1, "log": log, "failures": 2}, config=config) == {"y": 1}
        with pytest.raises(TypeError, match="bug for x=2"):
            Pipeline(nodes=[type_error_once]).run(inputs={"x": 2, "log": log}, config=config)
        assert Counter(read_calls(log)) == {"flaky-1": 3, "bug-2": 1}  # the bug was not retried

    # -- awaitable entry points ----------------------------------------------------------------

    def test_run_async_and_map_async_work_from_a_running_loop(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        p = Pipeline(nodes=[logged_square], name="p", config=self.config(executor))

        async def main() -> tuple[object, object, int]:
            ticks = 0

            async def ticker() -> None:  # proves the loop is not blocked while the run goes on
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0)

            task = asyncio.create_task(ticker())
            single = await p.run_async(inputs={"x": 3, "log": log})
            mapped = await p.map_async(inputs={"x": [1, 2], "log": log}, map_over="x")
            task.cancel()
            return single, mapped, ticks

        single, mapped, ticks = asyncio.run(main())
        assert single == {"squared": 9}
        assert mapped == {"squared": [1, 4]}
        assert ticks > 0
