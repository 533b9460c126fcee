"""``ProgressCallback``: nested tqdm progress bars for pipeline runs, nested pipelines and maps.

Which bars exist, so that output stays readable at any nesting and concurrency:

- A **map** has a bar counting its *items* (not node calls); its postfix shows how many items
  came entirely from the cache (nested pipelines included) and how many failed.
- A **nested map inside map items** (the same nested node run by many items of an enclosing
  map) has one bar for all of them: it lives as long as that enclosing map, and its total
  grows as each nested map starts, so it accumulates across concurrent and successive outer
  items instead of restarting.
- A **pipeline run outside any map item** (the root run, and nested pipelines it calls directly)
  has a bar counting finished nodes (executed, cached or failed); the number of nodes a run
  will execute is not known in advance, so this bar shows a count, not a percentage. A nested
  pipeline node counts as one node, cached when nothing inside it ran.
- The pipeline runs of **map items** get no bar: only their map's bar advances.

Events are placed by their frame ids (``CallbackContext.frame_id`` and ``parent_frame_id``):
each frame knows its parent, so a node's outcome reaches the map item it belongs to however
deep it is nested, and whichever thread or process it came from.

Bars are nested by creation order (tqdm gives each open bar the lowest free line, so a
nested bar appears under its parent); nested bars disappear when done, top-level bars stay
when ``leave=True``. A pipeline run whose node failed ends its bar at once.

Where the output goes decides how it is drawn (``style="auto"``): in Jupyter, widgets
(``tqdm.auto``); on a terminal, redrawn bars; anywhere else (a log file, CI, a pipe), plain
lines, one line per bar every ``interval`` seconds and a final line when the bar ends, with
no carriage returns or cursor movement.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Literal, TextIO

from typing_extensions import override

from hypernodes.callbacks._bars import Bar, BarDrawer, Style
from hypernodes.callbacks.base import PipelineCallback
from hypernodes.callbacks.context import CallbackContext
from hypernodes.errors import InvalidArgumentError

__all__ = ["ProgressCallback"]

_Kind = Literal["run", "map", "item"]
_Outcome = Literal["executed", "cached", "failed"]


class _Frame:
    """One level of a run as this callback sees it (see ``CallbackContext.frame_id``).

    A plain slotted class whose dicts are made on first use: one is built per map item.
    """

    __slots__ = ("bar", "cached", "children", "executed", "failed", "frame_id", "kind", "name", "nested", "parent",
                 "shared", "top_map")  # fmt: skip

    def __init__(self, frame_id: str, kind: _Kind, name: str, parent: _Frame | None, top_map: _Frame | None) -> None:
        self.frame_id = frame_id
        self.kind = kind  # a pipeline run outside an item, a map, or a map item (and its run)
        self.name = name  # path[-1]: for a nested level, the name of its node in the parent frame
        self.parent = parent
        self.top_map = top_map  # the outermost map above this frame: it owns the shared nested bars
        self.bar: Bar | None = None  # a run's node bar or a map's item bar (its own, or one it shares)
        self.executed = 0  # node calls here and in every level below
        self.cached = 0  # cache hits here and in every level below
        self.failed = False  # for items: already counted as failed
        self.children: dict[str, _Frame] | None = None  # the open frames this one started
        self.nested: dict[str, bool] | None = None  # ended nested levels: node name -> all cached
        self.shared: dict[tuple[str, ...], Bar] | None = None  # for top maps: nested map bars by path

    def is_cached(self) -> bool:
        """Return whether everything this level ran came from the cache."""
        return self.executed == 0 and self.cached > 0


class ProgressCallback(PipelineCallback):
    """Show nested progress bars (tqdm) for pipeline runs, nested pipelines and maps.

    The module docstring lists which bars exist. All bar updates happen under one lock, and
    bars go through tqdm's own write lock, so hooks may fire from many threads and
    ``tqdm.write`` (or ``tqdm.contrib.logging.logging_redirect_tqdm``) can print above them.

    Args:
        enable: False shows nothing, does not import tqdm, and makes every hook return at once.
        file: Where to draw; None means ``sys.stderr`` (or a widget in Jupyter).
        leave: Keep top-level bars on screen when they end (nested bars never stay).
        style: ``"bars"`` redraws bars in place (terminal, Jupyter); ``"lines"`` writes plain
            lines (log files); ``"auto"`` picks bars in Jupyter or when `file` is a terminal,
            lines otherwise.
        interval: Seconds between redraws of a bar (default 0.1), or between two lines of a
            bar in lines mode (default 10).

    Raises:
        ImportError: tqdm is not installed (and `enable` is True).
        InvalidArgumentError: `style` or `interval` is invalid (also a ``ValueError``).

    Example:
        >>> import io
        >>> from hypernodes.callbacks.context import CallbackContext
        >>> out = io.StringIO()
        >>> progress = ProgressCallback(file=out, style="lines")
        >>> ctx = CallbackContext(run_id="r1", pipeline="prep", path=("prep",), frame_id="m")
        >>> progress.on_map_start(ctx, 2)
        >>> for i in range(2):
        ...     item = CallbackContext(
        ...         run_id="r1", pipeline="prep", path=("prep",), item_index=i, frame_id=f"m.{i}", parent_frame_id="m"
        ...     )
        ...     progress.on_map_item_start(item, i)
        ...     progress.on_node_cached(item, "clean", "sig")
        ...     progress.on_map_item_end(item, i, 0.0)
        >>> progress.on_map_end(ctx, 0.0)
        >>> "2/2" in out.getvalue() and "cached=2, failed=0" in out.getvalue()
        True
    """

    def __init__(
        self,
        *,
        enable: bool = True,
        file: TextIO | None = None,
        leave: bool = True,
        style: Style = "auto",
        interval: float | None = None,
    ) -> None:
        if style not in ("auto", "bars", "lines"):
            raise InvalidArgumentError(
                f"ProgressCallback(style={style!r}) is not a style; use 'auto', 'bars' or 'lines'"
            )
        if interval is not None and not interval > 0:
            raise InvalidArgumentError(f"ProgressCallback(interval={interval!r}) must be a positive number of seconds")
        self._enabled = enable
        self._lock = threading.Lock()  # guards _frames, every frame in it and every bar update
        self._frames: dict[str, _Frame] = {}  # the open frames by id
        self._drawer: BarDrawer | None = None
        if enable:
            self._drawer = BarDrawer(file=file, leave=leave, style=style, interval=interval)

    def __reduce__(self) -> tuple[Any, ...]:
        # Only the caller's instance draws: events from workers are relayed to it. A copy sent
        # to a worker inside a pickled RuntimeConfig must neither draw there nor carry bars and locks.
        return (_disabled_copy, ())

    def close(self) -> None:
        """End every bar still open (for example after an interrupted run); safe to call twice."""
        with self._lock:
            for frame in [frame for frame in self._frames.values() if frame.parent is None]:
                self._drop(frame)

    # -- pipeline runs -------------------------------------------------------------------

    @override
    def on_pipeline_start(self, ctx: CallbackContext, inputs: Mapping[str, Any]) -> None:
        if self._drawer is None:
            return
        with self._lock:
            if ctx.frame_id in self._frames:
                return  # a map item's run: its item's frame already stands for it
            frame = self._register(ctx, "run")
            if frame.top_map is None:  # runs inside map items advance their map's bar only
                frame.bar = self._drawer.open(ctx.pipeline, "node", None, ctx.depth)

    @override
    def on_pipeline_end(self, ctx: CallbackContext, outputs: Mapping[str, Any], duration: float) -> None:
        if self._drawer is None:
            return
        with self._lock:
            frame = self._frames.get(ctx.frame_id)
            if frame is not None and frame.kind == "run":
                self._end_level(frame)

    # -- nodes ---------------------------------------------------------------------------

    @override
    def on_node_end(self, ctx: CallbackContext, node: str, outputs: Mapping[str, Any], duration: float) -> None:
        if self._drawer is not None:
            self._count_node(ctx, "executed")

    @override
    def on_node_cached(self, ctx: CallbackContext, node: str, signature: str) -> None:
        if self._drawer is not None:
            self._count_node(ctx, "cached")

    @override
    def on_node_error(self, ctx: CallbackContext, node: str, error: BaseException) -> None:
        if self._drawer is not None:
            self._count_node(ctx, "failed")

    @override
    def on_nested_pipeline_end(self, ctx: CallbackContext, node: str, duration: float) -> None:
        # A nested pipeline node counts as one node of its run's bar: cached if nothing in it ran.
        # Its inner nodes have already been counted for the item it belongs to.
        drawer = self._drawer
        if drawer is None:
            return
        with self._lock:
            frame = self._frames.get(ctx.frame_id)
            if frame is None:
                return
            cached = False if frame.nested is None else frame.nested.pop(node, False)
            if frame.kind == "run" and frame.bar is not None:
                drawer.advance(frame.bar, cached=cached)

    # -- maps ----------------------------------------------------------------------------

    @override
    def on_map_start(self, ctx: CallbackContext, total: int) -> None:
        drawer = self._drawer
        if drawer is None:
            return
        with self._lock:
            frame = self._register(ctx, "map")
            owner = frame.top_map
            if owner is None:
                frame.bar = drawer.open(ctx.pipeline, "item", total, ctx.depth)
                return
            # A nested map in items of an enclosing map: one bar for all of them, kept by the
            # outermost map, so it accumulates over concurrent and successive items.
            if owner.shared is None:
                owner.shared = {}
            bar = owner.shared.get(ctx.path)
            if bar is None:
                bar = owner.shared[ctx.path] = drawer.open(ctx.pipeline, "item", total, ctx.depth)
            else:
                drawer.grow(bar, total)
            frame.bar = bar

    @override
    def on_map_item_start(self, ctx: CallbackContext, index: int) -> None:
        if self._drawer is None:
            return
        with self._lock:
            self._register(ctx, "item")

    @override
    def on_map_item_end(self, ctx: CallbackContext, index: int, duration: float) -> None:
        drawer = self._drawer
        if drawer is None:
            return
        with self._lock:
            item = self._frames.get(ctx.frame_id)
            if item is None or item.kind != "item":
                return
            self._drop(item)
            bar = None if item.parent is None else item.parent.bar
            if bar is not None and not item.failed:  # a failed item was counted when it failed
                drawer.advance(bar, cached=item.is_cached())

    @override
    def on_map_end(self, ctx: CallbackContext, duration: float) -> None:
        if self._drawer is None:
            return
        with self._lock:
            frame = self._frames.get(ctx.frame_id)
            if frame is not None and frame.kind == "map":
                self._end_level(frame)

    # -- helpers (called with the lock held) ---------------------------------------------

    def _register(self, ctx: CallbackContext, kind: _Kind) -> _Frame:
        parent_id = ctx.parent_frame_id
        parent = None if parent_id is None else self._frames.get(parent_id)
        # No parent: a root, or the first level this callback sees (of a nested config it is in).
        top_map = None if parent is None else parent.top_map or (parent if parent.kind == "map" else None)
        frame = _Frame(ctx.frame_id, kind, ctx.path[-1], parent, top_map)
        self._frames[ctx.frame_id] = frame
        if parent is not None:
            if parent.children is None:
                parent.children = {}
            parent.children[ctx.frame_id] = frame
        return frame

    def _count_node(self, ctx: CallbackContext, outcome: _Outcome) -> None:
        drawer = self._drawer
        assert drawer is not None
        with self._lock:
            frame = self._frames.get(ctx.frame_id)
            if frame is None:  # a level that already failed, or one this callback never saw start
                return
            level: _Frame | None = frame
            if outcome == "executed":  # every enclosing level counts what ran below it
                while level is not None:
                    level.executed += 1
                    level = level.parent
            elif outcome == "cached":
                while level is not None:
                    level.cached += 1
                    level = level.parent
            if frame.bar is not None and frame.kind == "run":
                drawer.advance(frame.bar, cached=outcome == "cached", failed=outcome == "failed")
            if outcome == "failed":
                self._fail(frame)

    def _fail(self, frame: _Frame) -> None:
        """Count the failure of a node in `frame` for its map item, and end the level it ends."""
        item: _Frame | None = frame
        while item is not None and item.kind != "item":
            item = item.parent
        if item is not None and not item.failed:  # an error also fails the levels around it: count it once
            item.failed = True
            if item.parent is not None and item.parent.bar is not None:
                self._drawer.advance(item.parent.bar, failed=True)  # type: ignore[union-attr]
        if frame.kind != "map":  # the error propagates: this run (or item) gets no end hook
            self._drop(frame)

    def _end_level(self, frame: _Frame) -> None:
        """End a run or a map that succeeded: tell its parent how it went, then end its bars."""
        parent = frame.parent
        if parent is not None:
            if parent.nested is None:
                parent.nested = {}
            parent.nested[frame.name] = frame.is_cached()
        self._drop(frame)

    def _drop(self, frame: _Frame) -> None:
        """Forget `frame` and every level below it, ending the bars they own, innermost first."""
        drawer = self._drawer
        assert drawer is not None
        bars: list[Bar] = []
        self._forget(frame, bars)
        if frame.parent is not None and frame.parent.children is not None:
            frame.parent.children.pop(frame.frame_id, None)
        for bar in bars:
            drawer.end(bar)

    def _forget(self, frame: _Frame, bars: list[Bar]) -> None:
        if frame.children:  # left open only when end hooks were lost
            for child in list(frame.children.values()):
                self._forget(child, bars)
            frame.children = None
        if self._frames.get(frame.frame_id) is frame:
            del self._frames[frame.frame_id]
        if frame.shared:
            bars += sorted(frame.shared.values(), key=lambda bar: -bar.depth)
            frame.shared = None
        if frame.bar is not None and frame.top_map is None:  # a shared bar ends with its owner
            bars.append(frame.bar)
            frame.bar = None


def _disabled_copy() -> ProgressCallback:
    return ProgressCallback(enable=False)
