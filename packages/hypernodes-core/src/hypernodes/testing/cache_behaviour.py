"""Caching behaviour every executor must show (part of the behaviour suite).

Caches are given as ``CacheSpec``s so that every executor, process pools included, creates
the cache where the run executes; calls are counted through files.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from hypernodes.cache.spec import CacheSpec
from hypernodes.config.runtime import RuntimeConfig
from hypernodes.executor.base import Executor
from hypernodes.graph.pipeline import Pipeline
from hypernodes.testing._base import SuiteBase
from hypernodes.testing.nodes import (
    fail_while_marked,
    logged_none,
    logged_shift,
    logged_square,
    read_calls,
    uncached_stamp,
)
from hypernodes.testing.recording import RecordingCallback

__all__ = ["CacheBehaviour"]


class CacheBehaviour(SuiteBase):
    """Per-item caching, resume after a crash, opt-outs, nesting and refresh, under any executor."""

    def cached(self, executor: Executor, path: Path, **options: object) -> RuntimeConfig:
        """Return a config on `executor` with a disk cache at `path`."""
        return self.config(executor, cache=CacheSpec(kind="disk", path=path, options=options))

    def test_rerun_of_a_map_is_served_from_the_cache(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        p = Pipeline(nodes=[logged_square, logged_shift], name="p")
        config = self.cached(executor, tmp_path / "cache")
        first = p.map(inputs={"x": [1, 2, 3], "log": log}, map_over="x", config=config)
        second = p.map(inputs={"x": [1, 2, 3], "log": log}, map_over="x", config=config)
        assert first == second == {"squared": [1, 4, 9], "shifted": [2, 5, 10]}
        assert Counter(read_calls(log)) == Counter(
            {"square-1": 1, "square-2": 1, "square-3": 1, "shift-1": 1, "shift-4": 1, "shift-9": 1}
        )

    def test_each_item_is_cached_on_its_own(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        p = Pipeline(nodes=[logged_square], name="p")
        config = self.cached(executor, tmp_path / "cache")
        p.map(inputs={"x": [1, 2], "log": log}, map_over="x", config=config)
        assert p.map(inputs={"x": [2, 3, 1], "log": log}, map_over="x", config=config) == {"squared": [4, 9, 1]}
        assert sorted(read_calls(log)) == ["square-1", "square-2", "square-3"]

    def test_rerun_after_a_crash_recomputes_only_missing_items(self, executor: Executor, tmp_path: Path) -> None:
        log, marker = str(tmp_path / "calls.log"), tmp_path / "crash-marker"
        marker.touch()
        p = Pipeline(nodes=[fail_while_marked], name="p")
        config = self.cached(executor, tmp_path / "cache")
        inputs = {"x": [0, 1, 2, 3, 4], "log": log, "marker": str(marker)}
        with pytest.raises(RuntimeError, match="crash at item 3"):
            p.map(inputs=inputs, map_over="x", config=config)
        marker.unlink()  # the fix
        assert p.map(inputs=inputs, map_over="x", config=config) == {"checked": [0, 1, 2, 3, 4]}
        calls = Counter(read_calls(log))
        assert set(calls) == {f"checked-{i}" for i in range(5)}
        assert all(n == 1 for n in calls.values()), calls  # nothing finished before the crash ran twice

    def test_cache_false_node_runs_every_time(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        p = Pipeline(nodes=[uncached_stamp, logged_square], name="p")
        config = self.cached(executor, tmp_path / "cache")
        for _ in range(2):
            p.run(inputs={"x": 5, "log": log}, config=config)
        assert Counter(read_calls(log)) == Counter({"stamp-5": 2, "square-5": 1})

    def test_nested_pipeline_nodes_are_cached_one_by_one(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        inner = Pipeline(nodes=[logged_square, uncached_stamp], name="inner").as_node(map_over="x", name="per_x")
        outer = Pipeline(nodes=[inner], name="outer")
        config = self.cached(executor, tmp_path / "cache")
        for _ in range(2):
            out = outer.run(inputs={"x": [1, 2], "log": log}, config=config)
        assert out == {"squared": [1, 4], "stamp": [1, 2]}
        assert Counter(read_calls(log)) == Counter({"square-1": 1, "square-2": 1, "stamp-1": 2, "stamp-2": 2})

    def test_none_results_are_cached(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        p = Pipeline(nodes=[logged_none], name="p")
        config = self.cached(executor, tmp_path / "cache")
        assert p.run(inputs={"x": 1, "log": log}, config=config) == {"nothing": None}
        assert p.run(inputs={"x": 1, "log": log}, config=config) == {"nothing": None}
        assert read_calls(log) == ["none-1"]

    def test_a_changed_input_misses(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        p = Pipeline(nodes=[logged_square, logged_shift], name="p")
        config = self.cached(executor, tmp_path / "cache")
        p.run(inputs={"x": 2, "log": log}, config=config)
        p.run(inputs={"x": -2, "log": log}, config=config)
        # shift gets the same value (4) but from another upstream call: signatures chain, values are not re-hashed
        assert read_calls(log) == ["square-2", "shift-4", "square--2", "shift-4"]

    def test_refresh_recomputes_and_rewrites_without_deleting(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        p = Pipeline(nodes=[logged_square], name="p")
        p.run(inputs={"x": 3, "log": log}, config=self.cached(executor, tmp_path / "cache"))
        p.run(inputs={"x": 3, "log": log}, config=self.cached(executor, tmp_path / "cache", refresh=True))
        p.run(inputs={"x": 3, "log": log}, config=self.cached(executor, tmp_path / "cache"))
        assert read_calls(log) == ["square-3", "square-3"]

    def test_cache_hits_are_reported_to_callbacks(self, executor: Executor, tmp_path: Path) -> None:
        log = str(tmp_path / "calls.log")
        recorder = RecordingCallback()
        p = Pipeline(nodes=[logged_square, logged_shift], name="p")
        spec = CacheSpec(kind="disk", path=tmp_path / "cache")
        p.map(inputs={"x": [1, 2], "log": log}, map_over="x", config=self.config(executor, cache=spec))
        config = self.config(executor, cache=spec, callbacks=[recorder])
        p.map(inputs={"x": [1, 2], "log": log}, map_over="x", config=config)
        cached = Counter((e.item_index, e.subject) for e in recorder.hooks("on_node_cached"))
        assert cached == Counter({(i, n): 1 for i in (0, 1) for n in ("logged_square", "logged_shift")})
        assert recorder.hooks("on_node_start") == []
