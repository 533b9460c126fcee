"""The in-process query: the rows as a DataFrame, each step a batch UDF column in dependency order (private).

The DataFrame has a ``__row`` column (the row's position) and a column per mapped input whose
values all fit one native dtype. Each step of the plan becomes one column, computed by a
``@daft.func.batch`` UDF that receives the row positions and the columns of the steps it
depends on (so Daft computes the columns in dependency order), and runs the step for each row
of its batch through core's ``run_step`` (cache, node hooks, retries, timeout, nested
pipelines inside). A step whose return annotation is native (``int``, ``str``, ``list[float]``
...) fills a native column, read by the steps downstream and by the caller; any other step
fills a Boolean marker column while its values stay in this process (:class:`Rows`): Daft's
Python dtype pickles every value between operators, which copies objects, fails on objects
that cannot be pickled and costs far more than the step itself.

``async def`` steps become async batch UDFs whose rows run concurrently on Daft's event loop,
at most ``max_concurrency`` at once per step (our own semaphore: Daft's ``max_concurrency``
limits batches, not rows).

A node with a batch form (``@node(batch=...)``) runs each batch of rows through it, with
core's ``run_step_batch`` (each row still looked up and stored in the cache on its own, node
hooks per row). Resources come from the executor's pool, as in every executor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import itertools
import logging
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hypernodes import HyperNodesError
from hypernodes.daft._dtypes import NativeType, native_type_of_values
from hypernodes.daft._rows import Rows
from hypernodes.daft._scope import inside_udf
from hypernodes.executor import FunctionStep, Values, run_step, run_step_async, run_step_batch, step_awaits

if TYPE_CHECKING:
    from daft import DataFrame, DataType, Series
    from daft.expressions import Expression
    from daft.udf.udf_v2 import Func
    from hypernodes.executor import ExecutionPlan, Outputs, RunContext, Step

__all__ = ["ROW", "QueryOptions", "StepColumn", "find", "is_native_step", "read_table", "register", "run_query"]

logger = logging.getLogger(__name__)

ROW = "__row"


@dataclass(frozen=True, kw_only=True)
class QueryOptions:
    """What the executor's arguments say about one query."""

    collect: bool
    show_plan: bool
    debug: bool
    batch_size: int | None
    max_concurrency: int
    pool: concurrent.futures.ThreadPoolExecutor | None  # runs the rows of sync batches, when threads=N


@dataclass(frozen=True, kw_only=True)
class StepColumn:
    """How one step of a plan becomes a column (computed once per plan).

    Attributes:
        step: The step.
        column: The column's name.
        native: The native type of its single output, or None (values stay in Python).
    """

    step: Step
    column: str
    native: NativeType | None

    @property
    def value_name(self) -> str | None:
        """The output name the column holds values of (None: a marker column)."""
        return self.step.output_names[0] if self.native is not None else None


def run_query(
    plan: ExecutionPlan,
    columns: Sequence[StepColumn],
    rows: Rows,
    items: Sequence[Mapping[str, Any]] | None,
    base_ctx: RunContext,
    options: QueryOptions,
) -> list[Outputs]:
    """Build and run the query of `rows`; return each row's requested outputs, in row order.

    Args:
        plan: The plan every row runs.
        columns: The plan's steps as columns.
        rows: The live rows.
        items: The map's own values per item (native ones become input columns), or None.
        base_ctx: The context of the level (to choose async UDFs).
        options: The executor's settings.

    Raises:
        Exception: The first failed row's error, by item order, as the node raised it.
    """
    import daft

    data: dict[str, Any] = {ROW: daft.Series.from_pylist(list(range(rows.count)), dtype=daft.DataType.int64())}
    natives: dict[str, str] = {}  # value name -> column holding it natively
    if items:
        for name in items[0]:
            values = [item[name] for item in items]
            native = native_type_of_values(values)
            if native is not None and name in plan.inputs:
                data[name] = daft.Series.from_pylist(values, dtype=native.dtype())
                natives[name] = name
    df = daft.from_pydict(data)
    state = _Columns(rows, columns, options)
    for column in columns:
        df = df.with_column(column.column, state.expression(column, natives, base_ctx))
        if column.value_name is not None:
            natives[column.value_name] = column.column
    df = df.select(ROW, *(c.column for c in columns))
    if options.show_plan:
        df.explain(show_all=True)  # the user asked Daft to print its plan
    if options.debug:
        logger.debug("running %d rows of pipeline %r as a Daft query", rows.count, plan.pipeline.name)
    table = read_table(df, options.collect)
    rows.raise_first_error()
    return _assemble(plan, columns, rows, table)


def read_table(df: DataFrame, collect: bool) -> dict[str, list[Any]]:
    """Run `df`'s query; return its columns (with one ``collect``, or partition by partition)."""
    if collect:
        return df.to_pydict()
    table: dict[str, list[Any]] = {}
    for partition in df.iter_partitions():  # as Daft finishes them (MicroPartitions: the native runner)
        part: Any = partition
        for name, values in part.to_pydict().items():
            table.setdefault(name, []).extend(values)
    return table


def _assemble(
    plan: ExecutionPlan, columns: Sequence[StepColumn], rows: Rows, table: dict[str, list[Any]]
) -> list[Outputs]:
    native_columns = {c.value_name: table[c.column] for c in columns if c.value_name is not None}
    results: list[Outputs] = [{}] * rows.count
    names = plan.outputs
    for j, position in enumerate(table[ROW]):
        failure = rows.failure(position)
        if failure is not None:  # on_error="continue": every output of the item is its record
            results[position] = dict.fromkeys(names, failure)
            continue
        values = rows.values[position]
        assert values is not None
        outputs = {}
        for name in names:
            column = native_columns.get(name)
            value = None if column is None else column[j]
            outputs[name] = values[name] if value is None else value  # None: kept in Python (see module doc)
        results[position] = outputs
    return results


class _Columns:
    """The UDFs of one query: each runs its step for the rows of its batches.

    UDFs reach this object by reference. Daft pickles every UDF to check it, even on the
    native runner, and then calls the original object in this process; so this object (which
    holds the live rows, a thread pool and the node functions, none of which can be pickled
    in general) pickles as a token that finds it again in this process, and fails with a
    clear error in any other.
    """

    __slots__ = ("__weakref__", "_by_index", "_columns", "_lock", "_loops", "_options", "_rows", "_token")

    def __init__(self, rows: Rows, columns: Sequence[StepColumn], options: QueryOptions) -> None:
        self._rows = rows
        self._columns = tuple(columns)
        self._by_index = {c.step.index: c for c in columns}
        self._options = options
        self._loops: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Semaphore]] = {}
        self._lock = threading.Lock()  # guards _loops
        self._token = register(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (find, (self._token,))

    def expression(self, column: StepColumn, natives: dict[str, str], base_ctx: RunContext) -> Expression:
        """Return the UDF call computing `column` from the row positions and the columns it depends on."""
        from daft import DataType, col

        step = column.step
        by_index = self._by_index
        carried_upstream = {c.value_name for i in step.dependencies if (c := by_index[i]).value_name is not None}
        arguments: list[str | None] = []  # per UDF argument after the positions: the value it carries
        sources = [col(ROW)]
        for name in step.parameters:
            if name in natives and name not in carried_upstream:  # a native input column
                arguments.append(name)
                sources.append(col(natives[name]))
        for dependency in step.dependencies:  # every dependency: Daft computes the columns in plan order
            upstream = by_index[dependency]
            carried = upstream.value_name if upstream.value_name in step.parameters else None
            arguments.append(carried)
            sources.append(col(upstream.column))
        dtype = column.native.dtype() if column.native is not None else DataType.bool()
        udf = _step_udf(
            self, step.index, tuple(arguments), step_awaits(step, base_ctx), dtype, self._options.batch_size
        )
        expression: Expression = udf(*sources)
        return expression

    # -- running a batch ------------------------------------------------------------------------

    def _inputs(
        self, step: Step, position: int, arguments: Sequence[str | None], batch: Sequence[list[Any]], j: int
    ) -> Values | dict[str, Any]:
        """Return what `step` reads for the row at `position` (the `j`-th of its batch)."""
        values = self._rows.values[position]
        assert values is not None
        inputs: dict[str, Any] = {}
        for name, column in zip(arguments, batch):
            if name is not None:
                value = column[j]
                if value is not None:  # None: the value did not fit the native column and stayed in Python
                    inputs[name] = value
        for name in step.parameters:
            if name not in inputs and name in values:
                inputs[name] = values[name]
        if values.signatures:
            return Values(inputs, values.signatures)
        return inputs

    def _finish(self, column: StepColumn, position: int, outputs: Values) -> Any:
        """Keep `outputs` of row `position`; return what the step's column holds for the row."""
        values = self._rows.values[position]
        assert values is not None
        values.add(outputs)
        native = column.native
        if native is None:
            return True
        value = outputs[column.step.output_names[0]]
        return value if native.check(value) else None  # None: read from Python (see module doc)

    def _run_row(self, column: StepColumn, position: int, inputs: Values | dict[str, Any]) -> Any:
        rows = self._rows
        if not rows.is_runnable(position):
            return None
        ctx = rows.contexts[position]
        assert ctx is not None
        try:
            outputs = run_step(column.step, inputs, ctx)
        except BaseException as exc:  # carried out as a value: Daft would flatten it into text
            rows.fail(position, exc)
            return None
        return self._finish(column, position, outputs)

    def run_batch(
        self, index: int, arguments: Sequence[str | None], positions: list[int], batch: Sequence[list[Any]]
    ) -> list[Any]:
        """Run step `index` for every row of a batch (sync steps); return the column's values."""
        column = self._by_index[index]
        rows = self._rows
        runnable = rows.start(positions)
        prepared = [
            (p, self._inputs(column.step, p, arguments, batch, j) if ok else None)
            for j, (p, ok) in enumerate(zip(positions, runnable))
        ]
        pool = self._options.pool
        step = column.step
        with inside_udf():
            if type(step) is FunctionStep and step.batch is not None:  # the node's batch form, once per batch
                out = self._run_rows_by_batch(column, prepared)
            elif pool is None or len(prepared) <= 1:
                out = [None if inputs is None else self._run_row(column, p, inputs) for p, inputs in prepared]
            else:  # rows at once on the executor's threads (I/O-bound sync nodes); one Context copy each
                futures = [
                    None
                    if inputs is None
                    else pool.submit(contextvars.copy_context().run, self._run_row, column, p, inputs)
                    for p, inputs in prepared
                ]
                out = [None if future is None else future.result() for future in futures]
        rows.step_done([p for p, ok in zip(positions, runnable) if ok])
        return out

    def _run_rows_by_batch(
        self, column: StepColumn, prepared: list[tuple[int, Values | dict[str, Any] | None]]
    ) -> list[Any]:
        """Run a batch's rows through the step's batch form (core's ``run_step_batch``: per-row cache, hooks)."""
        rows = self._rows
        live = [(p, inputs) for p, inputs in prepared if inputs is not None and rows.is_runnable(p)]
        contexts = [rows.contexts[p] for p, _ in live]
        try:
            outputs = run_step_batch(column.step, [inputs for _, inputs in live], contexts)  # type: ignore[arg-type]
        except BaseException as exc:  # carried out as a value, as _run_row does: every row of the batch failed
            for p, _ in live:
                rows.fail(p, exc)
            return [None] * len(prepared)
        finished = {p: self._finish(column, p, o) for (p, _), o in zip(live, outputs)}
        return [finished.get(p) for p, _ in prepared]

    async def run_batch_async(
        self, index: int, arguments: Sequence[str | None], positions: list[int], batch: Sequence[list[Any]]
    ) -> list[Any]:
        """Run step `index` for the rows of a batch concurrently (``async def`` steps)."""
        column = self._by_index[index]
        step = column.step
        rows = self._rows
        runnable = rows.start(positions)
        semaphore = self._semaphore()
        out: list[Any] = [None] * len(positions)
        todo = iter([(j, p) for j, (p, ok) in enumerate(zip(positions, runnable)) if ok])

        async def worker() -> None:
            # A worker holds one of the node's slots and runs rows until none is left: as many
            # rows in flight as slots, without a task and a semaphore round per row.
            async with semaphore:
                for j, position in todo:
                    if not rows.is_runnable(position):
                        continue
                    ctx = rows.contexts[position]
                    assert ctx is not None
                    try:
                        outputs = await run_step_async(step, self._inputs(step, position, arguments, batch, j), ctx)
                    except BaseException as exc:  # carried out as a value, as in _run_row
                        rows.fail(position, exc)
                        continue
                    out[j] = self._finish(column, position, outputs)

        with inside_udf():
            workers = min(self._options.max_concurrency, sum(runnable))
            await asyncio.gather(*(worker() for _ in range(workers)))
        rows.step_done([p for p, ok in zip(positions, runnable) if ok])
        return out

    def _semaphore(self) -> asyncio.Semaphore:
        """Return this query's row semaphore for the running event loop (one per loop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._loops.get(id(loop))
            if entry is None or entry[0] is not loop:
                entry = (loop, asyncio.Semaphore(self._options.max_concurrency))
                self._loops[id(loop)] = entry
            return entry[1]


# The live queries of this process by token, so that a pickled UDF finds its query again.
# Weak: an entry goes with its query's DataFrame.
_live: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_tokens = itertools.count(1)  # next() on a count is atomic under the GIL


def register(state: object) -> int:
    """Keep `state` (the live part of a query) findable by the token returned, while it lives."""
    token = next(_tokens)
    _live[token] = state
    return token


def find(token: int) -> Any:
    """Return the live state a UDF of this process pickled as `token` (see :class:`_Columns`)."""
    state = _live.get(token)
    if state is None:
        raise HyperNodesError(
            "a HyperNodes Daft UDF was unpickled outside the process that runs its query: the in-process "
            "UDFs of DaftExecutor keep the run's callbacks and caches in that process. Use "
            "DaftExecutor(runner='ray') or DaftExecutor(use_process=True), whose UDFs carry what they need"
        )
    return state


def _step_udf(
    state: _Columns,
    index: int,
    arguments: tuple[str | None, ...],
    is_async: bool,
    dtype: DataType,
    batch_size: int | None,
) -> Func[Any, Any, None]:
    """Return the batch UDF of step `index`.

    The UDF closes over the query (a token when pickled), the step's index and plain data,
    never over the node function, which need not be picklable in this process. This is the
    seam for batch implementations: a node with one would get the columns here as Series.
    """
    import daft

    if is_async:

        async def run_async(positions: Series, *batch: Series) -> Series:
            out = await state.run_batch_async(index, arguments, positions.to_pylist(), [s.to_pylist() for s in batch])
            return daft.Series.from_pylist(out, dtype=dtype)

        function: Callable[..., Any] = run_async
    else:

        def run(positions: Series, *batch: Series) -> Series:
            out = state.run_batch(index, arguments, positions.to_pylist(), [s.to_pylist() for s in batch])
            return daft.Series.from_pylist(out, dtype=dtype)

        function = run
    function.__qualname__ = function.__name__ = f"hypernodes_step_{index}"
    return daft.func.batch(return_dtype=dtype, batch_size=batch_size, use_process=False)(function)


def is_native_step(step: Step) -> bool:
    """Whether `step` may fill a native column: a single-output function node without its own config."""
    return type(step) is FunctionStep and step.single
