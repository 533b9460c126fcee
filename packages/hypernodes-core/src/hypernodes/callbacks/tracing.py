"""``TracingCallback``: OpenTelemetry spans for runs, nested pipelines, nodes, maps and map items.

The span tree of one run (names in quotes, parents above children)::

    "pipeline prep"                  the root run (depth 0); a child of the caller's current span
     ├── "node clean"                one span per node call, cache hits included
     ├── "node per_doc"              a nested pipeline node ...
     │    └── "pipeline doc"         ... parents the run of the pipeline it wraps
     │         └── "node embed"
     └── "node per_chunk"            a nested pipeline node with map_over ...
          └── "map chunk"            ... parents the map,
               └── "map item chunk"  which parents one span per item,
                    └── "pipeline chunk"   which parents the item's pipeline run
                         └── "node split"

``Pipeline.map`` at the root gives a "map" span as the root, with the same items below it.

Every span is started with an explicit parent found by the context's frame ids, never with
the thread's "current span": hooks of parallel items arrive from several threads, and events
from worker processes are replayed later in the caller's thread. Each level of a run is a
frame (``CallbackContext.frame_id``) whose parent frame is ``parent_frame_id``, so:

* a map item's span is a child of the map span of its parent frame;
* a pipeline run's span is a child of its frame's map item span (a map item's run), or of the
  node span of ``path[-1]`` in its parent frame (a nested pipeline's run);
* a nested map's span is a child of the node span of ``path[-1]`` in its parent frame;
* a node's span is a child of its frame's pipeline (or map item) span.

Only a span whose parent this callback never saw (the root, or the first level of a config
this callback belongs to) takes the context that is current when it starts, so a run inside
a traced request joins the request's trace.

A span starts when its start hook fires and lasts the ``duration`` its end hook reports, so
replayed events keep their true durations. A node that raises gets its exception recorded and
status ERROR; the pipeline run (and map item) it belongs to ends there with status ERROR, and
so do its enclosing nested nodes, when the engine reports their errors. A span still open when
its parent ends is ended with it and marked ``hypernodes.incomplete``.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from typing_extensions import override

from hypernodes.callbacks.base import PipelineCallback
from hypernodes.callbacks.context import CallbackContext

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Status, Tracer, TracerProvider
    from opentelemetry.util.types import AttributeValue

__all__ = ["TracingCallback"]

logger = logging.getLogger(__name__)

_INSTALL_HINT = 'TracingCallback needs opentelemetry-api: pip install "hypernodes-core[tracing]"'

_Kind = Literal["pipeline", "map", "item", "node"]
_Slot = tuple[_Kind, str, str]  # (kind, frame id, node name); the name is "" but for nodes
_Attributes = dict[str, "AttributeValue"]
_Ended = list[tuple["Span", int]]  # spans to end once the lock is released, children first


class _Scope:
    """One open span and where it sits in the tree of open spans."""

    __slots__ = ("children", "closed", "context", "failed_items", "merged", "opened_by", "parent", "run_id", "slot",
                 "span", "start_ns")  # fmt: skip

    def __init__(
        self, span: Span, context: Context, slot: _Slot, parent: _Scope | None, start_ns: int, run_id: str
    ) -> None:
        self.span = span
        self.context = context  # carries the span: what its children are started in
        self.slot = slot
        self.parent = parent
        self.start_ns = start_ns
        self.run_id = run_id
        self.children: set[_Scope] = set()
        self.closed = False
        self.opened_by = "node"  # for node spans: the start hook that opened it, "node" or "nested"
        self.merged = False  # for node spans: the other start hook was seen too
        self.failed_items = 0  # for map spans


class TracingCallback(PipelineCallback):
    """Emit OpenTelemetry spans for a run; the module docstring draws the span tree.

    Attributes on every span: ``hypernodes.run_id``, ``hypernodes.frame_id``,
    ``hypernodes.pipeline``, ``hypernodes.path`` (a sequence of pipeline names),
    ``hypernodes.depth`` and, inside a map, ``hypernodes.item_index``. Node spans add
    ``hypernodes.node``, ``hypernodes.cached`` and ``hypernodes.signature`` (for cache hits);
    a node running a nested pipeline has ``hypernodes.nested``. Map spans add
    ``hypernodes.total`` and ``hypernodes.failed_items``. Ended spans carry
    ``hypernodes.duration`` in seconds. Values are recorded only with `record_values`, as
    ``hypernodes.input.<name>`` / ``hypernodes.output.<name>``. Thread safe.

    Args:
        tracer_provider: Where spans go; None uses the global provider (``opentelemetry.trace``).
        tracer_name: The instrumentation scope name of the tracer.
        record_values: Record the inputs and outputs of nodes and pipelines, as ``repr``.
        max_value_length: Longest recorded ``repr``; longer ones are cut and end with "...".

    Raises:
        ImportError: opentelemetry-api is not installed.
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        tracer_name: str = "hypernodes",
        record_values: bool = False,
        max_value_length: int = 256,
    ) -> None:
        try:  # imported here so that `import hypernodes` never loads OpenTelemetry
            from opentelemetry import context as otel_context
            from opentelemetry import trace
        except ImportError as exc:
            raise ImportError(_INSTALL_HINT) from exc
        self._tracer: Tracer = trace.get_tracer(tracer_name, tracer_provider=tracer_provider)
        self._in_context: Callable[[Span, Context | None], Context] = trace.set_span_in_context
        self._current_context: Callable[[], Context] = otel_context.get_current
        self._error_status: Callable[[str], Status] = functools.partial(trace.Status, trace.StatusCode.ERROR)
        self._tracer_name = tracer_name
        self._record_values = record_values
        self._max_value_length = max(max_value_length, 8)
        self._lock = threading.Lock()  # guards the two tables below and the scopes in them
        self._open: dict[_Slot, list[_Scope]] = {}  # a list: a lost end hook must not hide a later span
        self._roots: dict[str, _Scope] = {}  # run_id -> the run's open root span (depth 0)

    def __reduce__(self) -> tuple[Any, ...]:
        # Events from workers are relayed to this instance. A copy sent to a worker inside a
        # pickled RuntimeConfig keeps the settings, not the provider, the lock or open spans.
        return (_rebuild, (self._tracer_name, self._record_values, self._max_value_length))

    def close(self) -> None:
        """End every span still open (after an interrupted run), marked incomplete; safe to call twice."""
        now = time.time_ns()
        ended: _Ended = []
        with self._lock:
            for root in [s for scopes in self._open.values() for s in scopes if s.parent is None]:
                root.span.set_attribute("hypernodes.incomplete", True)
                self._close(root, max(now, root.start_ns), ended)
        _end_all(ended)

    # -- pipeline runs -------------------------------------------------------------------

    @override
    def on_pipeline_start(self, ctx: CallbackContext, inputs: Mapping[str, Any]) -> None:
        attributes = self._attributes(ctx)
        self._add_values(attributes, "hypernodes.input.", inputs)
        start_ns = time.time_ns()
        with self._lock:
            # a map item's run, else a nested pipeline's run (under its node), else a root
            parent = self._top(("item", ctx.frame_id, "")) or self._enclosing(ctx)
            self._start(("pipeline", ctx.frame_id, ""), f"pipeline {ctx.pipeline}", parent, attributes, start_ns, ctx)

    @override
    def on_pipeline_end(self, ctx: CallbackContext, outputs: Mapping[str, Any], duration: float) -> None:
        attributes: _Attributes = {"hypernodes.duration": duration}
        self._add_values(attributes, "hypernodes.output.", outputs)
        self._finish(("pipeline", ctx.frame_id, ""), attributes, duration)

    # -- nodes ---------------------------------------------------------------------------

    @override
    def on_node_start(self, ctx: CallbackContext, node: str, inputs: Mapping[str, Any]) -> None:
        attributes = self._attributes(ctx, node)
        self._add_values(attributes, "hypernodes.input.", inputs)
        self._open_node(ctx, node, attributes, "node")

    @override
    def on_nested_pipeline_start(self, ctx: CallbackContext, node: str) -> None:
        attributes = self._attributes(ctx, node)
        attributes["hypernodes.nested"] = True
        self._open_node(ctx, node, attributes, "nested")

    @override
    def on_node_end(self, ctx: CallbackContext, node: str, outputs: Mapping[str, Any], duration: float) -> None:
        attributes: _Attributes = {"hypernodes.duration": duration}
        self._add_values(attributes, "hypernodes.output.", outputs)
        self._finish(("node", ctx.frame_id, node), attributes, duration)

    @override
    def on_nested_pipeline_end(self, ctx: CallbackContext, node: str, duration: float) -> None:
        slot: _Slot = ("node", ctx.frame_id, node)
        with self._lock:
            scope = self._top(slot)
            if scope is None or scope.opened_by == "node":  # on_node_end ends a span on_node_start opened
                return
        self._finish(slot, {"hypernodes.duration": duration}, duration)

    @override
    def on_node_cached(self, ctx: CallbackContext, node: str, signature: str) -> None:
        attributes = self._attributes(ctx, node)
        attributes.update({"hypernodes.cached": True, "hypernodes.signature": signature})
        now = time.time_ns()
        ended: _Ended = []
        with self._lock:
            slot: _Slot = ("node", ctx.frame_id, node)
            scope = self._top(slot)
            if scope is None:  # a cache hit has no start hook: a zero-length span
                scope = self._start(slot, f"node {node}", self._frame_scope(ctx.frame_id), attributes, now, ctx)
            else:
                scope.span.set_attributes(attributes)
            self._close(scope, now, ended)
        _end_all(ended)

    @override
    def on_node_error(self, ctx: CallbackContext, node: str, error: BaseException) -> None:
        now = time.time_ns()
        frame = ctx.frame_id
        status = self._error_status(f"node {node!r} raised {type(error).__name__}: {error}"[:512])
        ended: _Ended = []
        with self._lock:
            slot: _Slot = ("node", frame, node)
            scope = self._top(slot)
            if scope is None:
                attributes = self._attributes(ctx, node)
                scope = self._start(slot, f"node {node}", self._frame_scope(frame), attributes, now, ctx)
            scope.span.record_exception(error)
            scope.span.set_status(status)
            self._close(scope, now, ended)
            # The exception propagates: the pipeline run (and map item) of this frame is over.
            for kind in ("pipeline", "item"):
                failed = self._top((kind, frame, ""))
                if failed is None:
                    continue
                failed.span.set_status(status)
                if kind == "item" and failed.parent is not None and failed.parent.slot[0] == "map":
                    failed.parent.failed_items += 1
                self._close(failed, max(now, failed.start_ns), ended)
        _end_all(ended)

    # -- maps ----------------------------------------------------------------------------

    @override
    def on_map_start(self, ctx: CallbackContext, total: int) -> None:
        attributes = self._attributes(ctx)
        attributes["hypernodes.total"] = total
        start_ns = time.time_ns()
        with self._lock:
            # a nested map sits under its node; an engine that wraps a map in a run, under the run
            parent = self._enclosing(ctx) or self._top(("pipeline", ctx.frame_id, ""))
            self._start(("map", ctx.frame_id, ""), f"map {ctx.pipeline}", parent, attributes, start_ns, ctx)

    @override
    def on_map_item_start(self, ctx: CallbackContext, index: int) -> None:
        attributes = self._attributes(ctx)
        attributes["hypernodes.item_index"] = index
        start_ns = time.time_ns()
        with self._lock:
            parent = None if ctx.parent_frame_id is None else self._top(("map", ctx.parent_frame_id, ""))
            self._start(("item", ctx.frame_id, ""), f"map item {ctx.pipeline}", parent, attributes, start_ns, ctx)

    @override
    def on_map_item_end(self, ctx: CallbackContext, index: int, duration: float) -> None:
        self._finish(("item", ctx.frame_id, ""), {"hypernodes.duration": duration}, duration)

    @override
    def on_map_end(self, ctx: CallbackContext, duration: float) -> None:
        self._finish(("map", ctx.frame_id, ""), {"hypernodes.duration": duration}, duration)

    # -- helpers -------------------------------------------------------------------------

    def _attributes(self, ctx: CallbackContext, node: str | None = None) -> _Attributes:
        attributes: _Attributes = {
            "hypernodes.run_id": ctx.run_id,
            "hypernodes.frame_id": ctx.frame_id,
            "hypernodes.pipeline": ctx.pipeline,
            "hypernodes.path": ctx.path,
            "hypernodes.depth": ctx.depth,
        }
        if ctx.item_index is not None:
            attributes["hypernodes.item_index"] = ctx.item_index
        if node is not None:
            attributes["hypernodes.node"] = node
            attributes["hypernodes.cached"] = False
        return attributes

    def _add_values(self, attributes: _Attributes, prefix: str, values: Mapping[str, Any]) -> None:
        if not self._record_values:
            return
        limit = self._max_value_length
        for name, value in values.items():
            try:
                text = repr(value)
            except Exception as exc:  # a broken __repr__ must not cost the span
                text = f"<repr failed: {type(exc).__name__}>"
            attributes[prefix + name] = text if len(text) <= limit else text[: limit - 3] + "..."

    def _open_node(
        self, ctx: CallbackContext, node: str, attributes: _Attributes, hook: Literal["node", "nested"]
    ) -> None:
        # A nested pipeline node may get both on_node_start and on_nested_pipeline_start: the
        # first opens its span and the second only adds to it.
        start_ns = time.time_ns()
        slot: _Slot = ("node", ctx.frame_id, node)
        with self._lock:
            scope = self._top(slot)
            if scope is not None and scope.opened_by != hook and not scope.merged:
                scope.merged = True
                scope.span.set_attributes(attributes)
                return
            scope = self._start(slot, f"node {node}", self._frame_scope(ctx.frame_id), attributes, start_ns, ctx)
            scope.opened_by = hook

    def _finish(self, slot: _Slot, attributes: _Attributes, duration: float) -> None:
        ended: _Ended = []
        with self._lock:
            scope = self._top(slot)
            if scope is None:  # already ended (its run failed) or never started: nothing to do
                return
            scope.span.set_attributes(attributes)
            self._close(scope, _end_ns(scope, duration), ended)
        _end_all(ended)

    # The methods below are called with the lock held.

    def _top(self, slot: _Slot) -> _Scope | None:
        scopes = self._open.get(slot)
        return scopes[-1] if scopes else None

    def _frame_scope(self, frame_id: str) -> _Scope | None:
        return self._top(("pipeline", frame_id, "")) or self._top(("item", frame_id, ""))

    def _enclosing(self, ctx: CallbackContext) -> _Scope | None:
        # A nested level's parent frame ran the nested node named path[-1]: its span is the parent.
        parent_frame = ctx.parent_frame_id
        if parent_frame is None:
            return None
        return self._top(("node", parent_frame, ctx.path[-1])) or self._frame_scope(parent_frame)

    def _start(
        self,
        slot: _Slot,
        name: str,
        parent: _Scope | None,
        attributes: _Attributes,
        start_ns: int,
        ctx: CallbackContext,
    ) -> _Scope:
        run_id = ctx.run_id
        if parent is None:  # a late event of a level whose parent already ended: keep it in its run
            parent = self._roots.get(run_id)
        # Without a parent (the root, or the first level this callback sees): the caller's trace, if any.
        base = parent.context if parent is not None else self._current_context()
        span = self._tracer.start_span(name, context=base, attributes=attributes, start_time=start_ns)
        scope = _Scope(span, self._in_context(span, base), slot, parent, start_ns, run_id)
        self._open.setdefault(slot, []).append(scope)
        if parent is not None:
            parent.children.add(scope)
        elif ctx.depth == 0 and run_id not in self._roots:
            self._roots[run_id] = scope
        return scope

    def _close(self, scope: _Scope, end_ns: int, ended: _Ended) -> None:
        if scope.closed:
            return
        scope.closed = True
        scopes = self._open.get(scope.slot)
        if scopes is not None:
            scopes.remove(scope)
            if not scopes:
                del self._open[scope.slot]
        if scope.parent is not None:
            scope.parent.children.discard(scope)
        if self._roots.get(scope.run_id) is scope:
            del self._roots[scope.run_id]
        for child in list(scope.children):  # only left open when a run failed or an end hook was lost
            child.span.set_attribute("hypernodes.incomplete", True)
            self._close(child, max(end_ns, child.start_ns), ended)
        if scope.slot[0] == "map":
            scope.span.set_attribute("hypernodes.failed_items", scope.failed_items)
            if scope.failed_items:
                scope.span.set_status(self._error_status(f"{scope.failed_items} map item(s) failed"))
        ended.append((scope.span, end_ns))


def _rebuild(tracer_name: str, record_values: bool, max_value_length: int) -> TracingCallback:
    return TracingCallback(tracer_name=tracer_name, record_values=record_values, max_value_length=max_value_length)


def _end_ns(scope: _Scope, duration: float) -> int:
    return scope.start_ns + max(round(duration * 1e9), 0)


def _end_all(ended: _Ended) -> None:
    # Outside the lock: a span processor may export synchronously.
    for span, end_ns in ended:
        span.end(end_time=end_ns)
