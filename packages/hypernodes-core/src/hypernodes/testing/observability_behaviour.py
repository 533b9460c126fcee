"""Progress bars and tracing under any executor (part of the behaviour suite).

Both callbacks live in the caller; under a process pool their events are relayed back. The
tracing test needs the OpenTelemetry SDK (``hypernodes-core[testing]`` installs it).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from hypernodes.cache.spec import CacheSpec
from hypernodes.callbacks.progress import ProgressCallback
from hypernodes.callbacks.tracing import TracingCallback
from hypernodes.executor.base import Executor
from hypernodes.graph.pipeline import Pipeline
from hypernodes.testing._base import SuiteBase
from hypernodes.testing.nodes import clean, count, double, explode, square

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
        sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="needs hypernodes-core[testing]")
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        provider = sdk.TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracing = TracingCallback(tracer_provider=provider)
        per_doc = Pipeline(nodes=[clean, count], name="doc").as_node(
            input_mapping={"texts": "text"}, map_over="texts", name="per_doc"
        )
        corpus = Pipeline(nodes=[per_doc], name="corpus")
        corpus.run(inputs={"texts": ["A b", "c"]}, config=self.config(executor, callbacks=[tracing]))
        provider.shutdown()

        spans = exporter.get_finished_spans()
        by_id = {span.context.span_id: span for span in spans}

        def ancestry(span: object) -> tuple[str, ...]:
            names = []
            while span is not None:
                names.append(span.name)  # type: ignore[attr-defined]
                parent = span.parent  # type: ignore[attr-defined]
                span = by_id.get(parent.span_id) if parent is not None else None
            return tuple(names)

        outer = ("map item per_doc", "map per_doc", "node per_doc", "pipeline corpus")
        trees = sorted((ancestry(s), (s.attributes or {}).get("hypernodes.item_index")) for s in spans)
        assert trees == sorted(
            [(("node clean", "pipeline per_doc", *outer), i) for i in (0, 1)]
            + [(("node count", "pipeline per_doc", *outer), i) for i in (0, 1)]
            + [(("pipeline per_doc", *outer), i) for i in (0, 1)]
            + [(outer, i) for i in (0, 1)]
            + [(outer[1:], None), (outer[2:], None), (outer[3:], None)]
        )  # the same tree whatever thread or process ran the nodes
        assert len({s.context.trace_id for s in spans}) == 1
