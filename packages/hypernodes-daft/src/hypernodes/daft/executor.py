"""``DaftExecutor``: a pipeline mapped over a Daft DataFrame, each step a UDF column."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import uuid
from typing import TYPE_CHECKING, Any, Literal

from typing_extensions import override

from hypernodes import Executor, InvalidArgumentError
from hypernodes.daft._dtypes import native_type_of_annotation
from hypernodes.daft._items import run_items_query
from hypernodes.daft._query import QueryOptions, StepColumn, is_native_step, run_query
from hypernodes.daft._rows import Rows
from hypernodes.daft._scope import is_inside_udf
from hypernodes.daft._worker import run_remote
from hypernodes.executor import ResourcePool, run_in_order, run_item

if TYPE_CHECKING:
    from hypernodes.executor import ExecutionPlan, MapRequest, Outputs, RunRequest

__all__ = ["DaftExecutor"]

logger = logging.getLogger(__name__)

Runner = Literal["native", "ray"]

_runner_lock = threading.Lock()  # guards choosing Daft's runner, which Daft allows once per process
_PLAN_CACHE_SIZE = 256


class DaftExecutor(Executor):
    """Run a map as one Daft query: the items are rows, each node a UDF column in dependency order.

    ``map`` turns the items into a DataFrame with a row-index column (and a column per mapped
    input whose values are all ``int``, ``float``, ``str``, ``bool``, ``bytes`` or a list of
    one of those); each step of the plan becomes a batch UDF column; the results come back in
    item order. ``run`` is a one-row query. Per item, everything is what every executor does:
    the cache (a hit skips the node), every callback hook (node and map item hooks, progress),
    retries, timeouts, and the node's own exception with its notes (the first failed item's,
    by item order).

    * **Values.** A node whose return annotation is ``int``, ``float``, ``str``, ``bool``,
      ``bytes`` or ``list[...]`` of one of them fills a native Daft column (where Daft is
      fast); any other value (dataclasses, pydantic models, numpy arrays, ``list[dict]``,
      ragged dicts, ``None``) stays in this process, unchanged and never pickled, while Daft
      carries a marker column in its place. A value that does not match its annotation is
      kept the same way, so nothing is ever converted.
    * **Concurrency.** ``async def`` nodes become async UDFs: the rows of a batch run
      concurrently, at most `max_concurrency` per node at once. Sync rows of a batch run one
      after the other unless `threads` is set (for I/O-bound sync nodes); Daft runs batches
      in parallel on its native runner's threads (`num_threads`).
    * **Nesting.** A nested pipeline, mapped or not, runs inside the UDF of its node, through
      its own config; a ``DaftExecutor`` there runs it inline (never a query inside a query).
    * **Under CompositeExecutor.** As ``CompositeExecutor``'s `map_executor`, the items are the
      rows of one query with one UDF column, each row's item run by the node executor.
    * **Runners.** ``runner="native"`` (the default) runs the UDFs in this process.
      ``runner="ray"`` (with an optional `address`) and ``use_process=True`` run each item
      through core's worker side in Daft's processes or Ray workers, where a row carries its
      item as bytes; callback events come back with the rows. Daft sets its runner **once per
      process**: the first query chooses it, and a ``DaftExecutor`` asking for another runner
      later in the same process raises ``InvalidArgumentError``.

    See ``docs/advanced/daft.md``.

    Args:
        collect: Materialise the whole result with one ``collect`` (True), or read it
            partition by partition as Daft finishes them (False).
        show_plan: Have Daft print each query's plans (``DataFrame.explain(show_all=True)``).
        debug: Log each query (rows, pipeline) at DEBUG level on ``hypernodes.daft``.
        runner: ``"native"`` or ``"ray"``.
        address: The Ray cluster address for ``runner="ray"`` (None: a local Ray, or the one
            already initialised in this process).
        num_threads: Threads of Daft's native runner, if this executor is the first to choose
            the runner in this process (None: Daft's default, one per CPU).
        threads: Run the rows of one batch of a sync node on this many threads (None: one
            after the other). For I/O-bound sync nodes.
        max_concurrency: ``async def`` rows of one node in flight at once.
        batch_size: Rows per UDF call (None: Daft's choice).
        native_dtypes: Use native Daft columns where a node's annotation allows it (False:
            every value stays in Python; for comparisons).
        use_process: Run the items in Daft's UDF processes through the worker side (native
            runner only; for CPU-heavy pure-Python nodes).

    Example:
        >>> from hypernodes import Pipeline, RuntimeConfig, node
        >>> @node(output_name="length")
        ... def length(text: str) -> int:
        ...     return len(text)
        >>> with DaftExecutor() as executor:  # doctest: +SKIP
        ...     Pipeline(nodes=[length]).map(inputs={"text": ["a", "bcd"]}, map_over="text",
        ...                                  config=RuntimeConfig(executor=executor))
        {'length': [1, 3]}
    """

    def __init__(
        self,
        collect: bool = True,
        show_plan: bool = False,
        debug: bool = False,
        runner: Runner = "native",
        address: str | None = None,
        *,
        num_threads: int | None = None,
        threads: int | None = None,
        max_concurrency: int = 64,
        batch_size: int | None = None,
        native_dtypes: bool = True,
        use_process: bool = False,
    ) -> None:
        value: object = runner
        if value not in ("native", "ray"):
            raise InvalidArgumentError(f"DaftExecutor(runner=...) must be 'native' or 'ray', got {value!r}")
        if address is not None and runner != "ray":
            raise InvalidArgumentError(
                f"DaftExecutor(address={address!r}) needs runner='ray'; the native runner runs in this process"
            )
        if use_process and runner == "ray":
            raise InvalidArgumentError(
                "DaftExecutor(use_process=True) applies to the native runner; with runner='ray' the items "
                "already run in Ray workers"
            )
        for name, number in (("num_threads", num_threads), ("threads", threads), ("batch_size", batch_size)):
            _check_positive(name, number, optional=True)
        _check_positive("max_concurrency", max_concurrency, optional=False)
        self.collect = collect
        self.show_plan = show_plan
        self.debug = debug
        self.runner: Runner = runner
        self.address = address
        self.num_threads = num_threads
        self.threads = threads
        self.max_concurrency = max_concurrency
        self.batch_size = batch_size
        self.native_dtypes = native_dtypes
        self.use_process = use_process
        self._key = uuid.uuid4().hex  # survives pickling: the copies in one process share resources
        self._init_live()

    def _init_live(self) -> None:
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._columns: dict[int, tuple[ExecutionPlan, tuple[StepColumn, ...]]] = {}
        self._runner_ready = False
        self._lock = threading.Lock()  # guards _pool and _columns

    # -- the executor API ---------------------------------------------------------------------

    @override
    def run_pipeline(self, request: RunRequest) -> Outputs:
        if is_inside_udf() or not request.plan.steps:  # nested in one of our UDFs: never a query in a query
            return run_in_order(request)
        self._ensure_runner()
        if self._remote:
            return run_remote(request, use_process=self.use_process, batch_size=self.batch_size)[0]
        plan = request.plan
        rows = Rows(1, lambda _: request, item_hooks=False, steps=len(plan.steps), outputs=plan.outputs)
        return run_query(plan, self._columns_of(plan), rows, None, request.ctx, self._options())[0]

    @override
    def map_items(self, request: MapRequest) -> list[Outputs]:
        count = len(request.items)
        if is_inside_udf() or count == 0:  # nested in one of our UDFs: the items run here, in order
            run = request.runner or run_in_order
            return [run_item(request, position, run) for position in range(count)]
        self._ensure_runner()
        if self._remote:  # a runner (CompositeExecutor's node_executor) travels in the payload
            return run_remote(request, use_process=self.use_process, batch_size=self.batch_size)
        if request.runner is not None:  # each item's level is another executor's: a row per item
            return run_items_query(request, request.runner, self._options())
        plan = request.plan
        rows = Rows(count, request.item, item_hooks=True, steps=len(plan.steps), outputs=plan.outputs)
        return run_query(plan, self._columns_of(plan), rows, request.items, request.ctx, self._options())

    @override
    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            self._columns.clear()
        if pool is not None:  # so a second close() is a no-op
            pool.shutdown(wait=True, cancel_futures=True)
        self.close_resources()

    # -- pickling: the arguments travel, never the pool ----------------------------------------

    def _arguments(self) -> dict[str, Any]:
        return {
            "collect": self.collect, "show_plan": self.show_plan, "debug": self.debug, "runner": self.runner,
            "address": self.address, "num_threads": self.num_threads, "threads": self.threads,
            "max_concurrency": self.max_concurrency, "batch_size": self.batch_size,
            "native_dtypes": self.native_dtypes, "use_process": self.use_process,
        }  # fmt: skip

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (self._arguments(), self._key))

    # -- resources: one pool per process for every copy of this executor -------------------------

    @property
    @override
    def resource_pool(self) -> ResourcePool:
        # Worker processes unpickle a copy of this executor with every row's payload: keyed by
        # the executor's key, the pool is the process's, so a resource is built once per worker.
        return ResourcePool.shared(self._key)

    @override
    def close_resources(self) -> None:
        ResourcePool.shared(self._key).close()

    def __repr__(self) -> str:
        changed = ", ".join(f"{k}={v!r}" for k, v in self._arguments().items() if _DEFAULTS.get(k) != v)
        return f"DaftExecutor({changed})"

    # -- helpers --------------------------------------------------------------------------------

    @property
    def _remote(self) -> bool:
        return self.runner == "ray" or self.use_process

    def _options(self) -> QueryOptions:
        return QueryOptions(
            collect=self.collect,
            show_plan=self.show_plan,
            debug=self.debug,
            batch_size=self.batch_size,
            max_concurrency=self.max_concurrency,
            pool=self._ensure_pool() if self.threads is not None else None,
        )

    def _ensure_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(self.threads, thread_name_prefix="hypernodes-daft")
            return self._pool

    def _columns_of(self, plan: ExecutionPlan) -> tuple[StepColumn, ...]:
        """Return the plan's steps as columns, worked out once per plan (annotations are read here)."""
        entry = self._columns.get(id(plan))
        if entry is not None and entry[0] is plan:
            return entry[1]
        columns = tuple(
            StepColumn(
                step=step,
                column=f"{step.index}:{step.name}",
                native=native_type_of_annotation(step.func)  # type: ignore[attr-defined]
                if self.native_dtypes and is_native_step(step)
                else None,
            )
            for step in plan.steps
        )
        with self._lock:
            if len(self._columns) >= _PLAN_CACHE_SIZE:
                self._columns.clear()
            self._columns[id(plan)] = (plan, columns)  # the plan is kept alive, so its id stays its own
        return columns

    def _ensure_runner(self) -> None:
        """Choose Daft's runner on first use (Daft allows it once per process)."""
        if self._runner_ready:
            return
        import daft

        with _runner_lock:
            current = _current_runner()
            if current is None:
                try:
                    if self.runner == "ray":
                        _require_ray()
                        daft.set_runner_ray(address=self.address, noop_if_initialized=True)
                    else:
                        daft.set_runner_native(num_threads=self.num_threads)
                except Exception as exc:  # chosen meanwhile by a query outside HyperNodes, say
                    if "more than once" not in str(exc):
                        raise
                    current = daft.get_or_infer_runner_type()
            if current is not None and current != self.runner:
                raise InvalidArgumentError(
                    f"DaftExecutor(runner={self.runner!r}) cannot run here: Daft already runs this process on "
                    f"its {current!r} runner, and Daft sets its runner once per process. Use "
                    f"DaftExecutor(runner={current!r}), or run the {self.runner!r} work in a process of its own "
                    f"(DAFT_RUNNER={self.runner} also selects it before the first query)"
                )
            self._runner_ready = True


def _current_runner() -> str | None:
    """Return the name of the runner Daft has set in this process, or None if none is set yet."""
    try:
        from daft.runners import _get_runner  # Daft offers no public "is a runner set?" check
    except ImportError:  # a later Daft without it: the "more than once" error tells instead
        return None
    runner: object = _get_runner()
    name = getattr(runner, "name", None)
    return None if runner is None else str(name)


def _require_ray() -> None:
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ImportError(
            "DaftExecutor(runner='ray') needs Ray, which is not installed; pip install 'hypernodes-daft[ray]'"
        )


_DEFAULTS: dict[str, Any] = {
    "collect": True, "show_plan": False, "debug": False, "runner": "native", "address": None,
    "num_threads": None, "threads": None, "max_concurrency": 64, "batch_size": None,
    "native_dtypes": True, "use_process": False,
}  # fmt: skip


def _restore(arguments: dict[str, Any], key: str | None = None) -> DaftExecutor:
    executor = DaftExecutor(**arguments)
    if key is not None:
        executor._key = key
    return executor


def _check_positive(name: str, value: object, *, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"DaftExecutor({name}=...) must be an int >= 1, got {value!r}")
