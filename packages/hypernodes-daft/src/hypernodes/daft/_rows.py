"""The live state of one in-process query: per-row contexts, values, errors and item hooks (private).

One object of :class:`Rows` serves every UDF of one Daft query on the native runner. It keeps
what Daft must not carry: each row's ``RunContext`` (the run state holds locks, the callbacks
and the cache), the values a native column cannot hold unchanged, the cache signatures that
chain the steps of a row, and the first error by item order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from time import perf_counter
from typing import TYPE_CHECKING

from hypernodes import ItemFailure
from hypernodes.executor import Values

if TYPE_CHECKING:
    from hypernodes.executor import RunContext, RunRequest

__all__ = ["Rows"]


class Rows:
    """The rows of one run (one row) or one map (a row per item), shared by the UDFs of its query.

    Thread safe: UDF batches of one query run on several Daft threads at once. Each row is
    touched by one step at a time, except independent steps (two roots of a diamond), which
    only add distinct names to the row's values.

    Args:
        count: The number of rows.
        item: Returns the run of row `position` (its inputs and its context); called once per row.
        item_hooks: Fire the map item hooks (a map), or not (a run: the engine fires its hooks).
        steps: How many steps each row runs (a row ends when all have run).
        outputs: The output names the caller asked for (what ``on_pipeline_end`` gets).
    """

    def __init__(
        self,
        count: int,
        item: Callable[[int], RunRequest],
        *,
        item_hooks: bool,
        steps: int,
        outputs: Sequence[str],
    ) -> None:
        self.count = count
        self._item = item
        self._item_hooks = item_hooks
        self._outputs = tuple(outputs)
        self.contexts: list[RunContext | None] = [None] * count
        self.values: list[Values | None] = [None] * count
        self._remaining = [steps] * count
        self._started = [0.0] * count
        self.errors: dict[int, BaseException] = {}
        self.first_error = count  # the smallest failed position (count: none failed)
        # on_error="continue" (the map's policy, on each item's context): a failed row does not
        # stop the others; its outputs become ItemFailure records (see assemble).
        self.keep_going = False
        self._lock = threading.Lock()  # guards contexts, values, _remaining, errors, first_error

    def start(self, positions: Sequence[int]) -> list[bool]:
        """Make the contexts of `positions` not started yet; return which rows should run.

        A row after the first failed one does not start (the map stops at its first failure,
        by item order, as the other executors do); rows before it always run, so the error
        finally raised is the first by item order.
        """
        runnable = []
        with self._lock:  # the start hooks fire under the lock, before any node hook of the row
            first_error = self.first_error
            for position in positions:
                if position >= first_error:
                    runnable.append(False)
                    continue
                runnable.append(True)
                if self.contexts[position] is None:
                    self._start(position)
        return runnable

    def _start(self, position: int) -> None:
        request = self._item(position)
        ctx = request.ctx
        self.keep_going = ctx.on_error == "continue"
        self.contexts[position] = ctx
        self.values[position] = Values.merge(request.inputs)
        dispatcher = ctx.dispatcher
        if self._item_hooks and dispatcher is not None:
            callback_context = ctx.callback_context
            dispatcher.emit("on_map_item_start", callback_context, ctx.item_index)
            self._started[position] = perf_counter()
            dispatcher.emit("on_pipeline_start", callback_context, request.inputs)

    def fail(self, position: int, error: BaseException) -> None:
        """Record that row `position` failed with `error` (its later steps do not run)."""
        with self._lock:
            self.errors.setdefault(position, error)
            if not self.keep_going:
                self.first_error = min(self.first_error, position)

    def is_runnable(self, position: int) -> bool:
        """Whether row `position` has not failed and comes before the first failure."""
        return position < self.first_error and position not in self.errors

    def failure(self, position: int) -> ItemFailure | None:
        """Return the ItemFailure record of row `position` under on_error="continue", or None."""
        error = self.errors.get(position)
        ctx = self.contexts[position]
        if error is None or ctx is None or not self.keep_going:
            return None
        return ItemFailure.of(error, ctx.item_index or 0, ctx.path)

    def step_done(self, positions: Sequence[int]) -> None:
        """Count one finished step for each of `positions`; fire the end hooks of finished rows."""
        finished = []
        with self._lock:
            remaining = self._remaining
            for position in positions:
                remaining[position] -= 1
                if remaining[position] == 0 and position not in self.errors:
                    finished.append(position)
        if self._item_hooks:
            for position in finished:
                self._end(position)

    def _end(self, position: int) -> None:
        ctx = self.contexts[position]
        values = self.values[position]
        assert ctx is not None and values is not None
        dispatcher = ctx.dispatcher
        if dispatcher is None:
            return
        duration = perf_counter() - self._started[position]
        callback_context = ctx.callback_context
        outputs = {name: values[name] for name in self._outputs if name in values}
        dispatcher.emit("on_pipeline_end", callback_context, outputs, duration)
        dispatcher.emit("on_map_item_end", callback_context, ctx.item_index, duration)

    def raise_first_error(self) -> None:
        """Raise the error of the first failed row by item order, if a row failed (and the map stops)."""
        if self.errors and not self.keep_going:
            raise self.errors[min(self.errors)]
