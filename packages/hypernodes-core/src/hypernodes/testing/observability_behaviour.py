"""Progress bars and tracing under any executor (part of the behaviour suite).

Both callbacks live in the caller; under a process pool their events are relayed back. The
tracing test needs the OpenTelemetry SDK (``hypernodes-core[testing]`` installs it).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hypernodes.cache.spec import CacheSpec
from hypernodes.callbacks.progress import ProgressCallback
from hypernodes.callbacks.tracing import TracingCallback
from hypernodes.executor.base import Executor
from hypernodes.graph.pipeline import Pipeline
from hypernodes.testing._base import SuiteBase
from hypernodes.testing.nodes import clean, count, double, explode, slow, square

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["ObservabilityBehaviour"]


class ObservabilityBehaviour(SuiteBase):
    """ProgressCallback counts items and TracingCallback builds the right span tree, under any executor."""

    def test_progress_counts_items_cache_hits_and_failures(self, executor: Executor, tmp_path: Path) -> None:
        p = Pipeline(nodes=[double, square], name="squares")
        cache = CacheSpec(kind="disk", path=tmp_path / "cache")
        cold, warm = io.StringIO(), io.StringIO()
        slow = 3600.0  # seconds between two lines of a bar: a slow cluster still writes only its final line
        p.map(
            inputs={"x": [1, 2, 3]},
            map_over="x",
            config=self.config(executor, cache=cache, callbacks=[ProgressCallback(file=cold, interval=slow)]),
        )
        p.map(
            inputs={"x": [1, 2, 3]},
            map_over="x",
            config=self.config(executor, cache=cache, callbacks=[ProgressCallback(file=warm, interval=slow)]),
        )
        (cold_line,) = cold.getvalue().splitlines()
        (warm_line,) = warm.getvalue().splitlines()
        assert cold_line.startswith("squares: 100%") and "3/3" in cold_line and "cached=0, failed=0" in cold_line
        assert "3/3" in warm_line and "cached=3, failed=0" in warm_line

        failing = io.StringIO()
        with pytest.raises(ValueError):
            Pipeline(nodes=[explode], name="fragile").map(
                inputs={"x": [2]},
                map_over="x",
                config=self.config(executor, callbacks=[ProgressCallback(file=failing)]),
            )
        assert "failed=1" in failing.getvalue()

    def test_progress_disabled_writes_nothing(self, executor: Executor) -> None:
        out = io.StringIO()
        config = self.config(executor, callbacks=[ProgressCallback(enable=False, file=out)])
        Pipeline(nodes=[double]).map(inputs={"x": [1, 2]}, map_over="x", config=config)
        assert out.getvalue() == ""

    def test_tracing_parents_item_pipeline_and_node_spans(self, executor: Executor) -> None:
        provider, exporter = _memory_tracing()
        tracing = TracingCallback(tracer_provider=provider)
        per_doc = Pipeline(nodes=[clean, count], name="doc").as_node(
            input_mapping={"texts": "text"}, map_over="texts", name="per_doc"
        )
        corpus = Pipeline(nodes=[per_doc], name="corpus")
        corpus.run(inputs={"texts": ["A b", "c"]}, config=self.config(executor, callbacks=[tracing]))
        provider.shutdown()

        spans = exporter.get_finished_spans()
        ancestry = _ancestry(spans)
        outer = ("map item per_doc", "map per_doc", "node per_doc", "pipeline corpus")
        trees = sorted(
            (tuple(a.name for a in ancestry(s)), (s.attributes or {}).get("hypernodes.item_index")) for s in spans
        )
        assert trees == sorted(
            [(("node clean", "pipeline per_doc", *outer), i) for i in (0, 1)]
            + [(("node count", "pipeline per_doc", *outer), i) for i in (0, 1)]
            + [(("pipeline per_doc", *outer), i) for i in (0, 1)]
            + [(outer, i) for i in (0, 1)]
            + [(outer[1:], None), (outer[2:], None), (outer[3:], None)]
        )  # the same tree whatever thread or process ran the nodes
        assert len({s.context.trace_id for s in spans}) == 1

    def test_tracing_puts_nested_map_spans_under_their_own_outer_item(self, executor: Executor) -> None:
        provider, exporter = _memory_tracing()
        tracing = TracingCallback(tracer_provider=provider, record_values=True)
        per_x = Pipeline(nodes=[slow], name="inner").as_node(map_over="x", name="per_x")
        outer = Pipeline(nodes=[per_x], name="outer")
        xs = [[10 * i, 10 * i + 1] for i in range(4)]  # x // 10 is the outer item, x % 10 the inner one
        out = outer.map(
            inputs={"x": xs, "seconds": 0.02},  # so that the outer items overlap on concurrent executors
            map_over="x",
            config=self.config(executor, callbacks=[tracing]),
        )
        provider.shutdown()

        assert out == {"y": xs}
        spans = exporter.get_finished_spans()
        ancestry = _ancestry(spans)
        nodes = [span for span in spans if span.name == "node slow"]
        assert len(nodes) == 8
        for span in nodes:
            x = int(str(_attribute(span, "hypernodes.input.x")))
            chain = ancestry(span)
            assert [a.name for a in chain] == [
                "node slow",
                "pipeline per_x",
                "map item per_x",
                "map per_x",
                "node per_x",
                "pipeline outer",
                "map item outer",
                "map outer",
            ]
            assert _attribute(chain[2], "hypernodes.item_index") == x % 10
            assert _attribute(chain[6], "hypernodes.item_index") == x // 10  # not all under one outer item
        assert len({span.context.trace_id for span in spans}) == 1

    def test_tracing_joins_the_callers_current_trace(self, executor: Executor) -> None:
        provider, exporter = _memory_tracing()
        tracing = TracingCallback(tracer_provider=provider)
        per_doc = Pipeline(nodes=[clean], name="doc").as_node(
            input_mapping={"texts": "text"}, map_over="texts", name="per_doc"
        )
        corpus = Pipeline(nodes=[per_doc], name="corpus")
        config = self.config(executor, callbacks=[tracing])
        with provider.get_tracer("app").start_as_current_span("request") as request:
            corpus.run(inputs={"texts": ["A", "b"]}, config=config)
            corpus.map(inputs={"texts": [["C"], ["d"]]}, map_over="texts", config=config)
        provider.shutdown()

        spans = exporter.get_finished_spans()
        caller = request.get_span_context()
        assert {span.context.trace_id for span in spans} == {caller.trace_id}
        roots = sorted(span.name for span in spans if span.parent is not None and span.parent.span_id == caller.span_id)
        assert roots == ["map corpus", "pipeline corpus"]

    def test_progress_counts_cached_items_whose_work_is_a_nested_pipeline(
        self, executor: Executor, tmp_path: Path
    ) -> None:
        inner = Pipeline(nodes=[double, square], name="inner")
        outer = Pipeline(nodes=[inner], name="outer")
        cache = CacheSpec(kind="disk", path=tmp_path / "cache")
        lines = []
        for _ in range(2):
            out = io.StringIO()
            progress = ProgressCallback(file=out, interval=3600.0)
            outer.map(
                inputs={"x": [1, 2, 3]},
                map_over="x",
                config=self.config(executor, cache=cache, callbacks=[progress]),
            )
            lines.append(out.getvalue().splitlines())
        assert len(lines[0]) == 1 and "3/3" in lines[0][0] and "cached=0, failed=0" in lines[0][0]
        assert len(lines[1]) == 1 and "3/3" in lines[1][0] and "cached=3, failed=0" in lines[1][0]

    def test_progress_nested_bar_accumulates_over_outer_items(self, executor: Executor) -> None:
        per_x = Pipeline(nodes=[double], name="inner").as_node(map_over="x", name="per_x")
        outer = Pipeline(nodes=[per_x], name="outer")
        out = io.StringIO()
        progress = ProgressCallback(file=out, interval=3600.0)  # final lines only
        outer.map(
            inputs={"x": [[1, 2, 3, 4]] * 5},
            map_over="x",
            config=self.config(executor, callbacks=[progress]),
        )
        inner_line, outer_line = out.getvalue().splitlines()  # one bar for all five nested maps
        assert inner_line.startswith("  per_x: 100%") and "20/20" in inner_line
        assert outer_line.startswith("outer: 100%") and "5/5" in outer_line

    def test_progress_counts_a_failure_inside_a_nested_pipeline_once(self, executor: Executor) -> None:
        outer = Pipeline(nodes=[Pipeline(nodes=[explode], name="inner")], name="outer")
        out = io.StringIO()
        with pytest.raises(ValueError):
            outer.map(
                inputs={"x": [1, 2, 3]},
                map_over="x",
                config=self.config(executor, callbacks=[ProgressCallback(file=out, interval=3600.0)]),
            )
        (line,) = out.getvalue().splitlines()
        assert line.startswith("outer:") and "failed=1" in line


def _memory_tracing() -> tuple[TracerProvider, InMemorySpanExporter]:
    """Return a tracer provider of the test's own and the in-memory exporter its spans go to."""
    sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="needs hypernodes-core[testing]")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _ancestry(spans: Sequence[ReadableSpan]) -> Callable[[ReadableSpan], list[ReadableSpan]]:
    """Return a function giving a span and its ancestors among `spans`, innermost first."""
    by_id = {span.context.span_id: span for span in spans}

    def ancestry(span: ReadableSpan) -> list[ReadableSpan]:
        chain = [span]
        while (parent := chain[-1].parent) is not None and parent.span_id in by_id:
            chain.append(by_id[parent.span_id])
        return chain

    return ancestry


def _attribute(span: ReadableSpan, name: str) -> Any:
    return (span.attributes or {}).get(name)
