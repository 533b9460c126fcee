"""The in-process query of a map whose items run through another executor's runner (private).

``CompositeExecutor(map_executor=DaftExecutor(), node_executor=X)`` hands the Daft executor a
map whose ``request.runner`` runs one item's pipeline level (``X.run_pipeline``). The items
then become the rows of a DataFrame with one batch UDF column, and each row runs its item
through core's ``run_item`` with that runner: the map item hooks, ``on_error`` and the first
failure by item order are core's, the steps inside an item are `X`'s. Daft runs the batches
on its native runner's threads, and the rows of a batch run on the executor's `threads` when
it has them. The outputs stay in this process; the column holds a Boolean per row.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import threading
from typing import TYPE_CHECKING, Any

from hypernodes.daft._query import ROW, QueryOptions, find, read_table, register
from hypernodes.daft._scope import inside_udf
from hypernodes.executor import run_item

if TYPE_CHECKING:
    from daft import Series
    from hypernodes.executor import MapRequest, Outputs, RunPipeline

__all__ = ["run_items_query"]

_DONE = "__item"


def run_items_query(request: MapRequest, run: RunPipeline, options: QueryOptions) -> list[Outputs]:
    """Run each item of `request` through `run` as a row of one Daft query; return the outputs in order.

    Raises:
        Exception: The first failed item's error, by item order (unless ``on_error="continue"``).
    """
    import daft

    count = len(request.items)
    items = _Items(request, run, options.pool)
    udf = daft.func.batch(return_dtype=daft.DataType.bool(), batch_size=options.batch_size, use_process=False)(
        _udf(items)
    )
    df = daft.from_pydict({ROW: daft.Series.from_pylist(list(range(count)), dtype=daft.DataType.int64())})
    df = df.with_column(_DONE, udf(daft.col(ROW)))
    if options.show_plan:
        df.explain(show_all=True)
    read_table(df, options.collect)
    return items.results()


def _udf(items: _Items) -> Any:
    import daft

    def hypernodes_items(positions: Series) -> Series:
        done = items.run_batch(positions.to_pylist())
        return daft.Series.from_pylist(done, dtype=daft.DataType.bool())

    return hypernodes_items


class _Items:
    """The live items of one query: their outputs and the first error (pickled as a token, see _query)."""

    __slots__ = ("__weakref__", "_errors", "_first_error", "_lock", "_outputs", "_pool", "_request", "_run", "_token")

    def __init__(
        self, request: MapRequest, run: RunPipeline, pool: concurrent.futures.ThreadPoolExecutor | None
    ) -> None:
        self._request = request
        self._run = run
        self._pool = pool
        count = len(request.items)
        self._outputs: list[Outputs | None] = [None] * count
        self._errors: dict[int, BaseException] = {}
        self._first_error = count  # items after the first failed one do not start, as in every executor
        self._lock = threading.Lock()  # guards _errors and _first_error
        self._token = register(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (find, (self._token,))

    def run_batch(self, positions: list[int]) -> list[bool]:
        """Run the items at `positions`; return which ran to the end."""
        with inside_udf():  # nested levels (and a DaftExecutor as node executor) run inline
            pool = self._pool
            if pool is None or len(positions) <= 1:
                return [self._one(position) for position in positions]
            futures = [pool.submit(contextvars.copy_context().run, self._one, position) for position in positions]
            return [future.result() for future in futures]

    def _one(self, position: int) -> bool:
        if position >= self._first_error:
            return False
        try:
            self._outputs[position] = run_item(self._request, position, self._run)
        except BaseException as exc:  # carried out as a value: Daft would flatten it into text
            with self._lock:
                self._errors[position] = exc
                self._first_error = min(self._first_error, position)
            return False
        return True

    def results(self) -> list[Outputs]:
        """Return every item's outputs, in item order, or raise the first failed item's error."""
        if self._errors:
            raise self._errors[min(self._errors)]
        outputs: list[Outputs] = []
        for value in self._outputs:
            assert value is not None  # every item ran, or an error was raised above
            outputs.append(value)
        return outputs
