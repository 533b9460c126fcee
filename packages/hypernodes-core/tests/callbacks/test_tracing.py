"""TracingCallback, driven by hook calls in the order the engine makes them.

Spans go to the OpenTelemetry SDK's in-memory exporter through a provider of the test's own
(never the global one); tests assert the parent/child tree and the attributes.
"""

from __future__ import annotations

import pickle
import random
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from hypernodes.callbacks.context import CallbackContext
from hypernodes.callbacks.tracing import TracingCallback
from hypernodes.testing.contexts import item, nested, root


@pytest.fixture(name="exporter")
def exporter_fixture() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(name="provider")
def provider_fixture(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture(name="cb")
def callback_fixture(provider: TracerProvider) -> TracingCallback:
    return TracingCallback(tracer_provider=provider)


def run_nodes(cb: TracingCallback, ctx: CallbackContext, nodes: Sequence[str], cached: Sequence[str] = ()) -> None:
    for name in nodes:
        if name in cached:
            cb.on_node_cached(ctx, name, "sig-" + name)
        else:
            cb.on_node_start(ctx, name, {"x": 1})
            cb.on_node_end(ctx, name, {name: 2}, 0.01)


def run_pipeline(cb: TracingCallback, ctx: CallbackContext, nodes: Sequence[str]) -> None:
    cb.on_pipeline_start(ctx, {"x": 1})
    run_nodes(cb, ctx, nodes)
    cb.on_pipeline_end(ctx, {"y": 2}, 0.05)


def run_item(cb: TracingCallback, map_ctx: CallbackContext, index: int, nodes: Sequence[str]) -> None:
    ctx = item(map_ctx, index)
    cb.on_map_item_start(ctx, index)
    run_pipeline(cb, ctx, nodes)
    cb.on_map_item_end(ctx, index, 0.05)


def outline(exporter: InMemorySpanExporter) -> str:
    """Draw the finished spans as an indented tree, children sorted by name and item index."""
    spans = exporter.get_finished_spans()
    by_id = {span.context.span_id: span for span in spans}
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        children.setdefault(parent if parent in by_id else None, []).append(span)

    def key(span: ReadableSpan) -> tuple[str, int]:
        return (span.name, int(span.attributes.get("hypernodes.item_index", -1)))  # type: ignore[union-attr, arg-type]

    def draw(parent: int | None, indent: str) -> Iterator[str]:
        for span in sorted(children.get(parent, []), key=key):
            index = span.attributes.get("hypernodes.item_index")  # type: ignore[union-attr]
            yield indent + span.name + ("" if index is None else f" [{index}]")
            yield from draw(span.context.span_id, indent + "  ")

    return "\n".join(draw(None, ""))


def ancestors(exporter: InMemorySpanExporter, span: ReadableSpan) -> list[ReadableSpan]:
    """Return the finished ancestors of `span`, its parent first."""
    by_id = {finished.context.span_id: finished for finished in exporter.get_finished_spans()}
    chain = []
    parent = span.parent
    while parent is not None:
        chain.append(by_id[parent.span_id])
        parent = chain[-1].parent
    return chain


def finished(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def test_root_run_parents_its_nodes(cb: TracingCallback, exporter: InMemorySpanExporter) -> None:
    run = root("prep")
    cb.on_pipeline_start(run, {"text": "A b"})
    run_nodes(cb, run, ["clean", "count"], cached=["count"])
    cb.on_pipeline_end(run, {"clean": "a b"}, 0.05)

    assert outline(exporter) == "pipeline prep\n  node clean\n  node count"
    (run,) = finished(exporter, "pipeline prep")
    assert run.parent is None
    assert run.attributes == {
        "hypernodes.run_id": "r1",
        "hypernodes.frame_id": "r1:prep",
        "hypernodes.pipeline": "prep",
        "hypernodes.path": ("prep",),
        "hypernodes.depth": 0,
        "hypernodes.duration": 0.05,
    }
    (clean,) = finished(exporter, "node clean")
    assert clean.attributes is not None
    assert clean.attributes["hypernodes.node"] == "clean"
    assert clean.attributes["hypernodes.cached"] is False
    assert clean.attributes["hypernodes.duration"] == 0.01
    (count,) = finished(exporter, "node count")
    assert count.attributes is not None
    assert count.attributes["hypernodes.cached"] is True
    assert count.attributes["hypernodes.signature"] == "sig-count"


def test_span_durations_are_the_reported_durations(cb: TracingCallback, exporter: InMemorySpanExporter) -> None:
    run_pipeline(cb, root("prep"), ["clean"])

    for span in exporter.get_finished_spans():
        assert span.attributes is not None and span.start_time is not None and span.end_time is not None
        assert span.end_time - span.start_time == round(float(span.attributes["hypernodes.duration"]) * 1e9)  # type: ignore[arg-type]


def test_nested_pipeline_run_is_a_child_of_its_node(cb: TracingCallback, exporter: InMemorySpanExporter) -> None:
    run = root("prep")
    cb.on_pipeline_start(run, {})
    run_nodes(cb, run, ["clean"])
    cb.on_nested_pipeline_start(run, "per_doc")
    run_pipeline(cb, nested(run, "per_doc"), ["split", "embed"])
    cb.on_nested_pipeline_end(run, "per_doc", 0.03)
    cb.on_pipeline_end(run, {}, 0.05)

    assert outline(exporter) == (
        "pipeline prep\n  node clean\n  node per_doc\n    pipeline per_doc\n      node embed\n      node split"
    )
    (node,) = finished(exporter, "node per_doc")
    assert node.attributes is not None and node.attributes["hypernodes.nested"] is True
    (inner,) = finished(exporter, "pipeline per_doc")
    assert inner.attributes is not None
    assert inner.attributes["hypernodes.path"] == ("prep", "per_doc")
    assert inner.attributes["hypernodes.depth"] == 1


def test_root_map_parents_items_which_parent_their_runs(cb: TracingCallback, exporter: InMemorySpanExporter) -> None:
    map_ctx = root("prep")
    cb.on_map_start(map_ctx, 2)
    for i in range(2):
        run_item(cb, map_ctx, i, ["clean"])
    cb.on_map_end(map_ctx, 0.2)

    assert outline(exporter) == (
        "map prep\n"
        "  map item prep [0]\n"
        "    pipeline prep [0]\n"
        "      node clean [0]\n"
        "  map item prep [1]\n"
        "    pipeline prep [1]\n"
        "      node clean [1]"
    )
    (map_span,) = finished(exporter, "map prep")
    assert map_span.attributes is not None
    assert map_span.attributes["hypernodes.total"] == 2
    assert map_span.attributes["hypernodes.failed_items"] == 0
    assert map_span.status.status_code is StatusCode.UNSET


def test_nested_map_is_a_child_of_its_node(cb: TracingCallback, exporter: InMemorySpanExporter) -> None:
    run = root("prep")
    cb.on_pipeline_start(run, {})
    cb.on_nested_pipeline_start(run, "per_chunk")
    map_ctx = nested(run, "per_chunk")
    cb.on_map_start(map_ctx, 2)
    for i in range(2):
        run_item(cb, map_ctx, i, ["embed"])
    cb.on_map_end(map_ctx, 0.1)
    cb.on_nested_pipeline_end(run, "per_chunk", 0.1)
    cb.on_pipeline_end(run, {}, 0.2)

    assert outline(exporter) == (
        "pipeline prep\n"
        "  node per_chunk\n"
        "    map per_chunk\n"
        "      map item per_chunk [0]\n"
        "        pipeline per_chunk [0]\n"
        "          node embed [0]\n"
        "      map item per_chunk [1]\n"
        "        pipeline per_chunk [1]\n"
        "          node embed [1]"
    )


def test_nested_pipeline_inside_a_map_item_stays_in_its_item(
    cb: TracingCallback, exporter: InMemorySpanExporter
) -> None:
    map_ctx = root("prep")
    cb.on_map_start(map_ctx, 2)
    items = [item(map_ctx, i) for i in range(2)]
    for i, ctx in enumerate(items):  # both items run their nested node at the same time
        cb.on_map_item_start(ctx, i)
        cb.on_pipeline_start(ctx, {})
        cb.on_nested_pipeline_start(ctx, "per_doc")
    for i in (1, 0):
        run_pipeline(cb, nested(items[i], "per_doc"), ["embed"])  # the item index is inherited
    for i, ctx in enumerate(items):
        cb.on_nested_pipeline_end(ctx, "per_doc", 0.05)
        cb.on_pipeline_end(ctx, {}, 0.05)
        cb.on_map_item_end(ctx, i, 0.05)
    cb.on_map_end(map_ctx, 0.1)

    for span in finished(exporter, "node embed"):
        chain = [(a.name, (a.attributes or {}).get("hypernodes.item_index")) for a in ancestors(exporter, span)]
        assert span.attributes is not None
        index = span.attributes["hypernodes.item_index"]
        assert chain == [
            ("pipeline per_doc", index),
            ("node per_doc", index),
            ("pipeline prep", index),
            ("map item prep", index),
            ("map prep", None),
        ]


def test_parallel_items_are_parented_by_item_not_by_thread(
    cb: TracingCallback, exporter: InMemorySpanExporter, provider: TracerProvider
) -> None:
    n_items = 64
    map_ctx = root("prep")
    noise = provider.get_tracer("noise")
    overlap = threading.Barrier(8)

    def work(index: int) -> None:
        # A span that is current in the worker thread must not become anyone's parent.
        with noise.start_as_current_span("unrelated work in this thread"):
            if index < 8:
                overlap.wait()
            run_item(cb, map_ctx, index, ["clean", "count"])

    cb.on_map_start(map_ctx, n_items)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, reversed(range(n_items))))
    cb.on_map_end(map_ctx, 1.0)

    spans = [s for s in exporter.get_finished_spans() if s.name != "unrelated work in this thread"]
    assert len(spans) == 1 + n_items * 4
    by_id = {span.context.span_id: span for span in spans}
    (map_span,) = finished(exporter, "map prep")
    for span in spans:
        if span is map_span:
            continue
        assert span.parent is not None and span.parent.span_id in by_id, span.name
        parent = by_id[span.parent.span_id]
        assert span.context.trace_id == map_span.context.trace_id
        expected = {"map item prep": "map prep", "pipeline prep": "map item prep"}.get(span.name, "pipeline prep")
        assert parent.name == expected
        if parent is not map_span:
            assert parent.attributes is not None and span.attributes is not None
            assert parent.attributes["hypernodes.item_index"] == span.attributes["hypernodes.item_index"]


def test_events_replayed_later_in_one_thread_keep_their_structure(
    cb: TracingCallback, exporter: InMemorySpanExporter
) -> None:
    # A process pool's events reach the caller late and interleaved, from the relay's thread.
    map_ctx = root("prep")
    events: list[tuple[int, list[tuple[str, tuple[object, ...]]]]] = []
    for i in range(6):
        ctx = item(map_ctx, i)
        events.append(
            (
                i,
                [
                    ("on_map_item_start", (ctx, i)),
                    ("on_pipeline_start", (ctx, {})),
                    ("on_node_start", (ctx, "clean", {})),
                    ("on_node_end", (ctx, "clean", {}, 0.01)),
                    ("on_pipeline_end", (ctx, {}, 0.02)),
                    ("on_map_item_end", (ctx, i, 0.03)),
                ],
            )
        )
    rng = random.Random(5)
    queues = {i: list(evs) for i, evs in events}
    cb.on_map_start(map_ctx, 6)

    def replay() -> None:
        while queues:
            i = rng.choice(sorted(queues))
            hook, args = queues[i].pop(0)
            getattr(cb, hook)(*args)
            if not queues[i]:
                del queues[i]

    relay = threading.Thread(target=replay)
    relay.start()
    relay.join()
    cb.on_map_end(map_ctx, 0.1)

    expected = ["map prep"]
    for i in range(6):
        expected += [f"  map item prep [{i}]", f"    pipeline prep [{i}]", f"      node clean [{i}]"]
    assert outline(exporter) == "\n".join(expected)


def test_node_error_is_recorded_and_fails_the_run(cb: TracingCallback, exporter: InMemorySpanExporter) -> None:
    run = root("prep")
    cb.on_pipeline_start(run, {})
    cb.on_node_start(run, "clean", {})
    cb.on_node_error(run, "clean", ValueError("bad text"))  # no on_pipeline_end follows

    (node,) = finished(exporter, "node clean")
    assert node.status.status_code is StatusCode.ERROR
    (event,) = node.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "bad text"
    (run,) = finished(exporter, "pipeline prep")  # ended, so it is exported
    assert run.status.status_code is StatusCode.ERROR
    assert "clean" in (run.status.description or "")
    assert not cb._open and not cb._roots


def test_failed_item_fails_its_item_and_marks_the_map(cb: TracingCallback, exporter: InMemorySpanExporter) -> None:
    map_ctx = root("prep")
    cb.on_map_start(map_ctx, 3)
    run_item(cb, map_ctx, 0, ["clean"])
    failing = item(map_ctx, 1)
    cb.on_map_item_start(failing, 1)
    cb.on_pipeline_start(failing, {})
    cb.on_node_start(failing, "clean", {})
    cb.on_node_error(failing, "clean", RuntimeError("boom"))
    run_item(cb, map_ctx, 2, ["clean"])
    cb.on_map_end(map_ctx, 0.1)

    statuses = {
        (span.name, span.attributes.get("hypernodes.item_index")): span.status.status_code  # type: ignore[union-attr]
        for span in exporter.get_finished_spans()
    }
    assert statuses[("map item prep", 1)] is StatusCode.ERROR
    assert statuses[("pipeline prep", 1)] is StatusCode.ERROR
    assert statuses[("map item prep", 0)] is StatusCode.UNSET
    assert statuses[("map item prep", 2)] is StatusCode.UNSET
    (map_span,) = finished(exporter, "map prep")
    assert map_span.status.status_code is StatusCode.ERROR
    assert map_span.attributes is not None and map_span.attributes["hypernodes.failed_items"] == 1


def test_error_in_a_nested_pipeline_fails_every_enclosing_level(
    cb: TracingCallback, exporter: InMemorySpanExporter
) -> None:
    run = root("prep")
    inner = nested(run, "per_doc")
    cb.on_pipeline_start(run, {})
    cb.on_nested_pipeline_start(run, "per_doc")
    cb.on_pipeline_start(inner, {})
    cb.on_node_start(inner, "embed", {})
    error = RuntimeError("GPU out of memory")
    cb.on_node_error(inner, "embed", error)
    cb.on_node_error(run, "per_doc", error)  # the engine reports the nested node's failure too

    assert outline(exporter) == "pipeline prep\n  node per_doc\n    pipeline per_doc\n      node embed"
    for span in exporter.get_finished_spans():
        assert span.status.status_code is StatusCode.ERROR, span.name
    assert not cb._open and not cb._roots


def test_spans_left_open_end_with_their_parent(cb: TracingCallback, exporter: InMemorySpanExporter) -> None:
    run = root("prep")
    cb.on_pipeline_start(run, {})
    cb.on_node_start(run, "slow", {})  # its end hook is lost
    cb.on_pipeline_end(run, {}, 0.1)

    (slow,) = finished(exporter, "node slow")
    assert slow.attributes is not None and slow.attributes["hypernodes.incomplete"] is True
    assert not cb._open


def test_values_are_not_recorded_by_default(cb: TracingCallback, exporter: InMemorySpanExporter) -> None:
    run_pipeline(cb, root("prep"), ["clean"])

    for span in exporter.get_finished_spans():
        assert span.attributes is not None
        assert not any(".input." in name or ".output." in name for name in span.attributes)


def test_record_values_records_truncated_reprs(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    cb = TracingCallback(tracer_provider=provider, record_values=True, max_value_length=20)
    ctx = root("prep")
    cb.on_pipeline_start(ctx, {"text": "x" * 100})
    cb.on_node_start(ctx, "clean", {"text": "short"})
    cb.on_node_end(ctx, "clean", {"clean": [1, 2]}, 0.01)
    cb.on_pipeline_end(ctx, {"clean": [1, 2]}, 0.02)

    (run,) = finished(exporter, "pipeline prep")
    assert run.attributes is not None
    assert run.attributes["hypernodes.input.text"] == "'" + "x" * 16 + "..."
    assert run.attributes["hypernodes.output.clean"] == "[1, 2]"
    (node,) = finished(exporter, "node clean")
    assert node.attributes is not None
    assert node.attributes["hypernodes.input.text"] == "'short'"
    assert node.attributes["hypernodes.output.clean"] == "[1, 2]"


def test_root_joins_the_callers_current_trace(
    cb: TracingCallback, exporter: InMemorySpanExporter, provider: TracerProvider
) -> None:
    with provider.get_tracer("app").start_as_current_span("request") as request:
        run_pipeline(cb, root("prep"), ["clean"])

    (run,) = finished(exporter, "pipeline prep")
    assert run.parent is not None and run.parent.span_id == request.get_span_context().span_id


def test_runs_are_separate_traces(cb: TracingCallback, exporter: InMemorySpanExporter) -> None:
    run_pipeline(cb, root("prep", run="r1"), ["clean"])
    run_pipeline(cb, root("prep", run="r2"), ["clean"])

    runs = finished(exporter, "pipeline prep")
    assert len({span.context.trace_id for span in runs}) == 2


def test_missing_opentelemetry_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r'pip install "hypernodes-core\[tracing\]"'):
        TracingCallback()


def test_a_pickled_copy_keeps_settings_but_no_spans(provider: TracerProvider) -> None:
    cb = TracingCallback(tracer_provider=provider, tracer_name="etl", record_values=True)
    cb.on_pipeline_start(root("prep"), {})  # an open span, a lock and a provider

    copy = pickle.loads(pickle.dumps(cb))

    assert isinstance(copy, TracingCallback) and not copy._open
    assert (copy._tracer_name, copy._record_values) == ("etl", True)


def test_close_ends_the_spans_of_an_interrupted_run(cb: TracingCallback, exporter: InMemorySpanExporter) -> None:
    map_ctx = root("prep")
    cb.on_map_start(map_ctx, 3)
    ctx = item(map_ctx, 0)
    cb.on_map_item_start(ctx, 0)
    cb.on_pipeline_start(ctx, {})
    cb.on_node_start(ctx, "clean", {})  # then KeyboardInterrupt: no more hooks

    cb.close()
    cb.close()  # a second close does nothing

    assert outline(exporter) == "map prep\n  map item prep [0]\n    pipeline prep [0]\n      node clean [0]"
    for span in exporter.get_finished_spans():
        assert span.attributes is not None and span.attributes["hypernodes.incomplete"] is True
    assert not cb._open and not cb._roots


def test_node_and_nested_hooks_of_one_node_make_one_span(cb: TracingCallback, exporter: InMemorySpanExporter) -> None:
    run = root("prep")
    cb.on_pipeline_start(run, {})
    cb.on_node_start(run, "per_doc", {})  # an engine may fire both kinds of hooks for a nested node
    cb.on_nested_pipeline_start(run, "per_doc")
    run_pipeline(cb, nested(run, "per_doc"), ["embed"])
    cb.on_nested_pipeline_end(run, "per_doc", 0.05)
    cb.on_node_end(run, "per_doc", {}, 0.06)
    cb.on_pipeline_end(run, {}, 0.1)

    assert outline(exporter) == "pipeline prep\n  node per_doc\n    pipeline per_doc\n      node embed"
    (node,) = finished(exporter, "node per_doc")
    assert node.attributes is not None
    assert node.attributes["hypernodes.nested"] is True and node.attributes["hypernodes.duration"] == 0.06
    assert not cb._open


def test_nested_maps_of_concurrent_items_land_under_their_own_item(
    cb: TracingCallback, exporter: InMemorySpanExporter
) -> None:
    # Four outer items run the same nested map at once; their events interleave and share a path.
    map_ctx = root("corpus")
    cb.on_map_start(map_ctx, 4)
    outer = [item(map_ctx, i) for i in range(4)]
    inner = [nested(ctx, "per_chunk") for ctx in outer]
    for i, ctx in enumerate(outer):
        cb.on_map_item_start(ctx, i)
        cb.on_pipeline_start(ctx, {})
        cb.on_nested_pipeline_start(ctx, "per_chunk")
    for inner_map in reversed(inner):
        cb.on_map_start(inner_map, 1)
    for i in (2, 0, 3, 1):
        cb.on_map_item_start(item(inner[i], 0), 0)
        cb.on_pipeline_start(item(inner[i], 0), {})
        cb.on_node_start(item(inner[i], 0), "split", {"outer": i})
    for i in (1, 3, 0, 2):
        cb.on_node_end(item(inner[i], 0), "split", {}, 0.01)
        cb.on_pipeline_end(item(inner[i], 0), {}, 0.01)
        cb.on_map_item_end(item(inner[i], 0), 0, 0.01)
        cb.on_map_end(inner[i], 0.01)
        cb.on_nested_pipeline_end(outer[i], "per_chunk", 0.02)
        cb.on_pipeline_end(outer[i], {}, 0.02)
        cb.on_map_item_end(outer[i], i, 0.02)
    cb.on_map_end(map_ctx, 0.1)

    for span in finished(exporter, "node split"):
        chain = ancestors(exporter, span)
        names = [ancestor.name for ancestor in chain]
        assert names == [
            "pipeline per_chunk",
            "map item per_chunk",
            "map per_chunk",
            "node per_chunk",
            "pipeline corpus",
            "map item corpus",
            "map corpus",
        ]
        assert span.attributes is not None and chain[5].attributes is not None
        assert chain[5].attributes["hypernodes.frame_id"] == span.attributes["hypernodes.frame_id"].split("/")[0]  # type: ignore[union-attr]
    assert not cb._open and not cb._roots


def test_a_level_whose_parent_it_never_saw_joins_the_current_trace(
    cb: TracingCallback, exporter: InMemorySpanExporter, provider: TracerProvider
) -> None:
    # The callbacks of a nested pipeline's own config see only that level's events.
    inner = nested(root("prep"), "per_doc")
    with provider.get_tracer("app").start_as_current_span("request") as request:
        run_pipeline(cb, inner, ["embed"])

    assert outline(exporter) == "request\n  pipeline per_doc\n    node embed"
    (run,) = finished(exporter, "pipeline per_doc")
    assert run.parent is not None and run.parent.span_id == request.get_span_context().span_id
