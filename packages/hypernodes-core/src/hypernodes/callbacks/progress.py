"""``ProgressCallback``: nested tqdm progress bars for pipeline runs, nested pipelines and maps.

Which bars exist, so that output stays readable at any nesting and concurrency:

- A **map** has a bar counting its *items* (not node calls); its postfix shows how many items
  came entirely from the cache and how many failed. A nested map that runs in several
  concurrent map items of an enclosing map (same run, same pipeline path) shares one bar whose
  total grows as each of those maps starts.
- A **pipeline run outside any map item** (the root run, and nested pipelines it calls directly)
  has a bar counting finished nodes (executed, cached or failed); the number of nodes a run
  will execute is not known in advance, so this bar shows a count, not a percentage.
- The pipeline runs of **map items** get no bar: only their map's bar advances.

Bars are nested by creation order (tqdm gives each open bar the lowest free line, so a
nested bar appears under its parent); nested bars disappear when done, top-level bars stay
when ``leave=True``. A pipeline run whose node failed ends its bar at once.

Where the output goes decides how it is drawn (``style="auto"``): in Jupyter, widgets
(``tqdm.auto``); on a terminal, redrawn bars; anywhere else (a log file, CI, a pipe), plain
lines, one line per bar every ``interval`` seconds and a final line when the bar ends, with
no carriage returns or cursor movement.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

from typing_extensions import override

from hypernodes.callbacks.base import PipelineCallback
from hypernodes.callbacks.context import CallbackContext
from hypernodes.errors import InvalidArgumentError

__all__ = ["ProgressCallback"]

logger = logging.getLogger(__name__)

_INSTALL_HINT = 'ProgressCallback needs tqdm: pip install "hypernodes-core[progress]"'
_BAR_INTERVAL = 0.1  # seconds between redraws of a terminal bar (tqdm's own default)
_LINE_INTERVAL = 10.0  # seconds between two lines of one bar in a log file
_NODE_FORMAT = "{desc}: {n_fmt} nodes [{elapsed}{postfix}]"  # the total is unknown: no percentage

_Frame = tuple[str, tuple[str, ...], int | None]  # (run_id, path, item_index)
_MapKey = tuple[str, tuple[str, ...]]  # (run_id, path)
_Outcome = Literal["executed", "cached", "failed"]


@dataclass(slots=True, kw_only=True)
class _Bar:
    """One bar's counts; the tqdm object (``handle``) only mirrors them, None in lines mode."""

    desc: str
    unit: Literal["node", "item"]
    total: int | None
    depth: int
    handle: Any
    started: float
    last_line: float
    n: int = 0
    cached: int = 0
    failed: int = 0
    refs: int = 1  # how many maps (or pipeline runs) share this bar; it closes at zero
    open_items: set[int] = field(default_factory=set)  # for maps: items started, not ended

    def postfix(self) -> str:
        """Return the cached/failed summary (always shown on map bars, when non-zero otherwise)."""
        if self.unit == "item" or self.cached or self.failed:
            return f"cached={self.cached}, failed={self.failed}"
        return ""


@dataclass(slots=True)
class _Item:
    """What happened so far in one map item, to classify it when it ends."""

    map_key: _MapKey
    executed: int = 0
    cached: int = 0
    failed: bool = False
    refs: int = 1


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
        >>> ctx = CallbackContext(run_id="r1", pipeline="prep", path=("prep",))
        >>> progress.on_map_start(ctx, 2)
        >>> for i in range(2):
        ...     item = CallbackContext(run_id="r1", pipeline="prep", path=("prep",), item_index=i)
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
        style: Literal["auto", "bars", "lines"] = "auto",
        interval: float | None = None,
    ) -> None:
        if style not in ("auto", "bars", "lines"):
            raise InvalidArgumentError(
                f"ProgressCallback(style={style!r}) is not a style; use 'auto', 'bars' or 'lines'"
            )
        if interval is not None and not interval > 0:
            raise InvalidArgumentError(f"ProgressCallback(interval={interval!r}) must be a positive number of seconds")
        self._enabled = enable
        self._file = file
        self._leave = leave
        self._lock = threading.Lock()  # guards the three dicts below and every bar update
        self._pipelines: dict[_Frame, _Bar] = {}
        self._maps: dict[_MapKey, _Bar] = {}
        self._items: dict[_Frame, _Item] = {}
        self._tqdm: Any = None  # the tqdm class that draws bars; None in lines mode
        self._format_meter: Any = None
        self._interval = _BAR_INTERVAL
        if not enable:
            return
        try:  # imported here so that `import hypernodes` never loads tqdm
            std = importlib.import_module("tqdm.std")
            auto = importlib.import_module("tqdm.auto")
        except ImportError as exc:
            raise ImportError(_INSTALL_HINT) from exc
        self._format_meter = std.tqdm.format_meter
        in_notebook = importlib.import_module("tqdm.autonotebook").tqdm is not std.tqdm
        if style == "auto":
            style = "bars" if (in_notebook and file is None) or _is_terminal(file) else "lines"
        if style == "bars":
            # a widget cannot go to a given file, so an explicit file gets a text bar
            self._tqdm = auto.tqdm if file is None else std.tqdm
        else:
            self._interval = _LINE_INTERVAL
        if interval is not None:
            self._interval = interval

    def __reduce__(self) -> tuple[Any, ...]:
        # Only the caller's instance draws: events from workers are relayed to it. A copy sent
        # to a worker inside a pickled RuntimeConfig must neither draw there nor carry bars and locks.
        return (_disabled_copy, ())

    def close(self) -> None:
        """End every bar still open (for example after an interrupted run); safe to call twice."""
        with self._lock:
            bars = [*self._pipelines.values(), *self._maps.values()]
            self._pipelines.clear()
            self._maps.clear()
            self._items.clear()
            for bar in bars:
                self._end(bar)

    # -- pipeline runs -------------------------------------------------------------------

    @override
    def on_pipeline_start(self, ctx: CallbackContext, inputs: Mapping[str, Any]) -> None:
        if not self._enabled or ctx.item_index is not None:
            return  # runs of map items advance their map's bar only
        key = (ctx.run_id, ctx.path, None)
        with self._lock:
            bar = self._pipelines.get(key)
            if bar is not None:
                bar.refs += 1
            else:
                self._pipelines[key] = self._open(ctx, "node", None)

    @override
    def on_pipeline_end(self, ctx: CallbackContext, outputs: Mapping[str, Any], duration: float) -> None:
        if not self._enabled or ctx.item_index is not None:
            return
        with self._lock:
            self._release_pipeline((ctx.run_id, ctx.path, None))

    # -- nodes ---------------------------------------------------------------------------

    @override
    def on_node_end(self, ctx: CallbackContext, node: str, outputs: Mapping[str, Any], duration: float) -> None:
        if self._enabled:
            self._count_node(ctx, "executed")

    @override
    def on_nested_pipeline_end(self, ctx: CallbackContext, node: str, duration: float) -> None:
        # A nested pipeline node fires no on_node_end: it counts as one node of its pipeline.
        if self._enabled:
            self._count_node(ctx, "executed")

    @override
    def on_node_cached(self, ctx: CallbackContext, node: str, signature: str) -> None:
        if self._enabled:
            self._count_node(ctx, "cached")

    @override
    def on_node_error(self, ctx: CallbackContext, node: str, error: BaseException) -> None:
        if self._enabled:
            self._count_node(ctx, "failed")

    # -- maps ----------------------------------------------------------------------------

    @override
    def on_map_start(self, ctx: CallbackContext, total: int) -> None:
        if not self._enabled:
            return
        key = (ctx.run_id, ctx.path)
        with self._lock:
            bar = self._maps.get(key)
            if bar is None:
                self._maps[key] = self._open(ctx, "item", total)
                return
            # the same nested map running in concurrent items of an enclosing map: one bar
            bar.refs += 1
            bar.total = (bar.total or 0) + total
            if bar.handle is not None:
                bar.handle.total = bar.total
                bar.handle.refresh()

    @override
    def on_map_item_start(self, ctx: CallbackContext, index: int) -> None:
        if not self._enabled:
            return
        map_key = (ctx.run_id, ctx.path)
        key = (ctx.run_id, ctx.path, index)
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                item.refs += 1
            else:
                self._items[key] = _Item(map_key)
            bar = self._maps.get(map_key)
            if bar is not None:
                bar.open_items.add(index)

    @override
    def on_map_item_end(self, ctx: CallbackContext, index: int, duration: float) -> None:
        if not self._enabled:
            return
        key = (ctx.run_id, ctx.path, index)
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return
            item.refs -= 1
            bar = self._maps.get(item.map_key)
            if item.refs <= 0:
                del self._items[key]
                if bar is not None:
                    bar.open_items.discard(index)
            if bar is not None and not item.failed:  # a failed item was counted when it failed
                self._advance(bar, cached=item.cached > 0 and item.executed == 0)

    @override
    def on_map_end(self, ctx: CallbackContext, duration: float) -> None:
        if not self._enabled:
            return
        key = (ctx.run_id, ctx.path)
        with self._lock:
            bar = self._maps.get(key)
            if bar is None:
                return
            bar.refs -= 1
            if bar.refs > 0:
                return
            self._end_below(ctx.run_id, ctx.path)
            self._drop_map(key)
            self._end(bar)

    # -- helpers (called with the lock held) ---------------------------------------------

    def _count_node(self, ctx: CallbackContext, outcome: _Outcome) -> None:
        with self._lock:
            if ctx.item_index is None:
                key = (ctx.run_id, ctx.path, None)
                bar = self._pipelines.get(key)
                if bar is not None:
                    self._advance(bar, cached=outcome == "cached", failed=outcome == "failed")
                    if outcome == "failed":  # the run raises: no end hook comes for it or what it runs
                        self._end_below(ctx.run_id, ctx.path)
                        self._release_pipeline(key)
                return
            item = self._find_item(ctx)
            if item is None:
                return
            if outcome == "executed":
                item.executed += 1
            elif outcome == "cached":
                item.cached += 1
            elif not item.failed:  # an error also fails the nodes that enclose it: count it once
                item.failed = True
                bar = self._maps.get(item.map_key)
                if bar is not None:
                    self._advance(bar, failed=True)

    def _find_item(self, ctx: CallbackContext) -> _Item | None:
        # A nested pipeline keeps the item index of the map item that runs it, so the item a
        # node belongs to is the innermost open item along its path.
        items = self._items
        for end in range(len(ctx.path), 0, -1):
            item = items.get((ctx.run_id, ctx.path[:end], ctx.item_index))
            if item is not None:
                return item
        return None

    def _open(self, ctx: CallbackContext, unit: Literal["node", "item"], total: int | None) -> _Bar:
        now = time.monotonic()
        bar = _Bar(
            desc=ctx.pipeline,
            unit=unit,
            total=total,
            depth=ctx.depth,
            handle=None,
            started=now,
            last_line=now,
        )
        if self._tqdm is not None:
            bar.handle = self._tqdm(
                total=total,
                desc=ctx.pipeline,
                unit=unit,
                leave=self._leave and ctx.depth == 0,
                file=self._file,
                mininterval=self._interval,
                dynamic_ncols=True,
                bar_format=_NODE_FORMAT if unit == "node" else None,
                postfix=bar.postfix() or None,  # a string: tqdm shows it as is
            )
        return bar

    def _advance(self, bar: _Bar, *, cached: bool = False, failed: bool = False) -> None:
        bar.n += 1
        bar.cached += cached
        bar.failed += failed
        handle = bar.handle
        if handle is None:
            if time.monotonic() - bar.last_line >= self._interval:
                self._write_line(bar)
            return
        if cached or failed:
            handle.set_postfix_str(bar.postfix(), refresh=False)
        handle.update(1)

    def _release_pipeline(self, key: _Frame) -> None:
        bar = self._pipelines.get(key)
        if bar is None:
            return
        bar.refs -= 1
        if bar.refs <= 0:
            del self._pipelines[key]
            self._end(bar)

    def _drop_map(self, key: _MapKey) -> _Bar:
        bar = self._maps.pop(key)
        for index in bar.open_items:  # failed items never end: forget them with their map
            self._items.pop((key[0], key[1], index), None)
        return bar

    def _end_below(self, run_id: str, path: tuple[str, ...]) -> None:
        # Bars of maps and nested runs under `path` that are still open when it ends lost their
        # end hooks (a failure propagated through them): end them, innermost first.
        depth = len(path)

        def is_below(key_run: str, key_path: tuple[str, ...]) -> bool:
            return key_run == run_id and len(key_path) > depth and key_path[:depth] == path

        stale = [self._drop_map(key) for key in [k for k in self._maps if is_below(*k)]]
        stale += [self._pipelines.pop(k) for k in [k for k in self._pipelines if is_below(k[0], k[1])]]
        for bar in sorted(stale, key=lambda bar: -bar.depth):
            self._end(bar)

    def _end(self, bar: _Bar) -> None:
        if bar.handle is None:
            self._write_line(bar)
        else:
            bar.handle.close()

    def _write_line(self, bar: _Bar) -> None:
        now = time.monotonic()
        bar.last_line = now
        postfix = bar.postfix()
        line = self._format_meter(
            bar.n,
            bar.total,
            now - bar.started,
            prefix="  " * bar.depth + bar.desc,
            ascii=True,
            unit=bar.unit,
            postfix=postfix or None,
            bar_format=_NODE_FORMAT if bar.unit == "node" else None,
        )
        out = self._file if self._file is not None else sys.stderr
        try:
            out.write(line + "\n")
            out.flush()
        except (OSError, ValueError) as exc:  # a closed or broken stream must not break the run
            logger.debug("ProgressCallback could not write to %r: %r", out, exc)


def _disabled_copy() -> ProgressCallback:
    return ProgressCallback(enable=False)


def _is_terminal(file: TextIO | None) -> bool:
    stream = file if file is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False
