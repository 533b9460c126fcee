"""Drawing progress bars, with tqdm or as plain lines (machinery of ``ProgressCallback``).

A :class:`Bar` holds a bar's counts; the :class:`BarDrawer` opens, advances and ends bars,
mirroring the counts into a tqdm object (bars mode) or writing one line per bar every
``interval`` seconds and a final line (lines mode). The drawer does no locking: its caller
holds a lock around every call.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
from dataclasses import dataclass
from typing import Any, Literal, TextIO

__all__ = ["Bar", "BarDrawer", "Style"]

logger = logging.getLogger(__name__)

_INSTALL_HINT = 'ProgressCallback needs tqdm: pip install "hypernodes-core[progress]"'
_BAR_INTERVAL = 0.1  # seconds between redraws of a terminal bar (tqdm's own default)
_LINE_INTERVAL = 10.0  # seconds between two lines of one bar in a log file
_NODE_FORMAT = "{desc}: {n_fmt} nodes [{elapsed}{postfix}]"  # the total is unknown: no percentage

Style = Literal["auto", "bars", "lines"]
Unit = Literal["node", "item"]


@dataclass(slots=True, kw_only=True, eq=False)
class Bar:
    """One bar's counts; the tqdm object (``handle``) only mirrors them, None in lines mode."""

    desc: str
    unit: Unit
    total: int | None
    depth: int
    handle: Any
    started: float
    last_line: float
    n: int = 0
    cached: int = 0
    failed: int = 0

    def postfix(self) -> str:
        """Return the cached/failed summary (always shown on item bars, when non-zero otherwise)."""
        if self.unit == "item" or self.cached or self.failed:
            return f"cached={self.cached}, failed={self.failed}"
        return ""


class BarDrawer:
    """Open, advance and end bars on one output; not thread safe (the caller locks).

    Raises:
        ImportError: tqdm is not installed.
    """

    def __init__(self, *, file: TextIO | None, leave: bool, style: Style, interval: float | None) -> None:
        try:  # imported here so that `import hypernodes` never loads tqdm
            std = importlib.import_module("tqdm.std")
            auto = importlib.import_module("tqdm.auto")
        except ImportError as exc:
            raise ImportError(_INSTALL_HINT) from exc
        self._file = file
        self._leave = leave
        self._format_meter: Any = std.tqdm.format_meter
        self._tqdm: Any = None  # the tqdm class that draws bars; None in lines mode
        in_notebook = importlib.import_module("tqdm.autonotebook").tqdm is not std.tqdm
        if style == "auto":
            style = "bars" if (in_notebook and file is None) or _is_terminal(file) else "lines"
        if style == "bars":
            # a widget cannot go to a given file, so an explicit file gets a text bar
            self._tqdm = auto.tqdm if file is None else std.tqdm
        self._interval = interval if interval is not None else _BAR_INTERVAL if style == "bars" else _LINE_INTERVAL

    def open(self, desc: str, unit: Unit, total: int | None, depth: int) -> Bar:
        """Return a new bar (drawn at once in bars mode); nested bars (`depth` > 0) never stay."""
        now = time.monotonic()
        bar = Bar(desc=desc, unit=unit, total=total, depth=depth, handle=None, started=now, last_line=now)
        if self._tqdm is not None:
            bar.handle = self._tqdm(
                total=total,
                desc=desc,
                unit=unit,
                leave=self._leave and depth == 0,
                file=self._file,
                mininterval=self._interval,
                dynamic_ncols=True,
                bar_format=_NODE_FORMAT if unit == "node" else None,
                postfix=bar.postfix() or None,  # a string: tqdm shows it as is
            )
        return bar

    def grow(self, bar: Bar, more: int) -> None:
        """Add `more` to the bar's total (a shared bar, as each of its maps starts)."""
        bar.total = (bar.total or 0) + more
        if bar.handle is not None:
            bar.handle.total = bar.total
            bar.handle.refresh()

    def advance(self, bar: Bar, *, cached: bool = False, failed: bool = False) -> None:
        """Count one more node or item, possibly cached or failed."""
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

    def end(self, bar: Bar) -> None:
        """End the bar: close its tqdm object, or write its final line."""
        if bar.handle is None:
            self._write_line(bar)
        else:
            bar.handle.close()

    def _write_line(self, bar: Bar) -> None:
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


def _is_terminal(file: TextIO | None) -> bool:
    stream = file if file is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False
