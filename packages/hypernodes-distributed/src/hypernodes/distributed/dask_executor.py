"""``DaskExecutor``: the nodes of a run and the items of a map as tasks on a Dask cluster."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Generator, Mapping
from contextlib import closing
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from hypernodes import InvalidArgumentError
from hypernodes.distributed import _scope
from hypernodes.distributed._dask_graph import StepGraph, is_task_step
from hypernodes.distributed._dask_relay import run_payload_tasks, untyped
from hypernodes.distributed._dask_tasks import take_step_call
from hypernodes.distributed._engines import require
from hypernodes.distributed._shipping import ship_user_modules
from hypernodes.executor import EventReceiver, Executor, RunPayload, run_in_order, run_item

if TYPE_CHECKING:
    from distributed import Client, LocalCluster, Security
    from hypernodes._types import Outputs
    from hypernodes.executor import MapRequest, RunRequest

__all__ = ["DaskExecutor"]

_CHUNKS_PER_THREAD = 4  # map chunks per worker thread: small enough to balance, large enough to amortise


class DaskExecutor(Executor):
    """Run the nodes of a run, and the items of a map, as tasks on a Dask cluster.

    * **Where.** With no `address` and no `client`, the executor starts a ``LocalCluster``
      of `n_workers` worker processes (`threads_per_worker` threads each) on first use, owns
      it and closes it in :meth:`close`. With a scheduler `address` (``"tcp://host:8786"``,
      with `security` for TLS) it connects a client of its own to that cluster, and with a
      `client` it uses that client; it never shuts either cluster down.
    * **A run.** Each function node is a task fed by the tasks of the nodes it reads, so
      independent nodes run at once and values stay on the cluster between them. A linear
      chain of function nodes is one task. A nested pipeline node (and a node with its own
      config) is scheduled from the caller by its own executor: a nested map fans out too.
    * **A map.** Items go in chunks of `chunksize` items per task (default: about four
      chunks per worker thread), which keeps the per-item overhead near that of a raw
      ``client.map`` of the same function; results keep the item order.
    * **Code travels by value.** Tasks are functions of ``hypernodes.distributed`` whose
      arguments are cloudpickle bytes, so nodes defined in ``__main__``, a notebook or a
      module imported by path run on a cluster started from the command line. Every
      worker (and the scheduler) needs ``hypernodes-distributed`` installed.
    * **Nesting never deadlocks.** Work nested inside a task (a nested pipeline or map,
      another DaskExecutor's node) runs inline in that task; only work that asks for
      resources the worker lacks is submitted from the task, through ``worker_client``,
      which secedes from the worker's thread pool while it waits.
    * **Callbacks** fire in the caller as the tasks run: events go through
      ``Worker.log_event`` and ``Client.subscribe_topic``; a run or map returns once every
      event of its tasks has arrived.
    * **Errors** come back as the node's own exception, with the usual notes.
    * **Resources.** `resources` (e.g. ``{"GPU": 1}``) are asked of the worker by every task;
      give one node a share of them with ``node.with_config(RuntimeConfig(executor=dask.with_resources(GPU=1)))``.
      When no worker of the cluster offers them (after waiting `resource_timeout` seconds
      for one to join), the run fails with an ``InvalidArgumentError``, instead of a task
      pending forever.
    * **Caching.** The cache is made where the tasks run, from the config's ``CacheSpec``:
      a disk cache must be on storage every worker sees.

    Args:
        address: A running scheduler to connect to (None: start a ``LocalCluster``).
        client: A ``distributed.Client`` to use (instead of `address`).
        n_workers: Worker processes of the ``LocalCluster`` this executor starts.
        threads_per_worker: Threads per worker of that ``LocalCluster``.
        processes: Workers as processes (True) or threads of this process (False).
        resources: What every task asks of a worker, e.g. ``{"GPU": 1}``.
        chunksize: Map items per task (None: about four chunks per worker thread).
        security: A ``distributed.Security`` for a TLS scheduler at `address`.
        cluster_options: More keyword arguments for the ``LocalCluster`` (e.g.
            ``{"resources": {"GPU": 1}}`` to give its workers a resource).
        resource_timeout: Seconds to wait for a worker offering `resources` to join.

    Example:
        >>> from hypernodes import Pipeline, RuntimeConfig, node
        >>> @node(output_name="doubled")
        ... def double(x: int) -> int:
        ...     return 2 * x
        >>> with DaskExecutor(n_workers=1, processes=False) as dask:  # doctest: +SKIP
        ...     Pipeline(nodes=[double]).map(inputs={"x": [1, 2]}, map_over="x",
        ...                                  config=RuntimeConfig(executor=dask))
        {'doubled': [2, 4]}
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        client: Client | None = None,
        n_workers: int = 2,
        threads_per_worker: int = 1,
        processes: bool = True,
        resources: Mapping[str, float] | None = None,
        chunksize: int | None = None,
        security: Security | None = None,
        cluster_options: Mapping[str, Any] | None = None,
        resource_timeout: float = 10.0,
    ) -> None:
        require("distributed", "DaskExecutor")
        if address is not None and client is not None:
            raise InvalidArgumentError(
                "DaskExecutor takes address=... or client=..., not both; pass the client alone to use its cluster"
            )
        self.address = address
        self.n_workers = _positive_int(n_workers, "n_workers")
        self.threads_per_worker = _positive_int(threads_per_worker, "threads_per_worker")
        self.processes = bool(processes)
        self.resources: dict[str, float] = _resources(resources)
        self.chunksize = None if chunksize is None else _positive_int(chunksize, "chunksize")
        self.security = security
        self.cluster_options = dict(cluster_options or {})
        self.resource_timeout = float(resource_timeout)
        self._key = uuid.uuid4().hex
        self._given_client = client
        self._client: Client | None = client
        self._cluster: LocalCluster | None = None
        self._parent: DaskExecutor | None = None  # set by with_resources: the executor whose cluster we use
        self._checked = False  # the cluster offers `resources` (checked once)
        self._lock = threading.Lock()  # guards _client, _cluster and _checked

    # -- the cluster ------------------------------------------------------------------------------

    @property
    def client(self) -> Client:
        """The ``distributed.Client`` the tasks are submitted with (the cluster starts on first use)."""
        if self._parent is not None:
            return self._parent.client
        client = self._client
        if client is None:
            with self._lock:
                client = self._client
                if client is None:
                    client = self._client = self._connect()
        return client

    def _connect(self) -> Client:
        from distributed import Client, LocalCluster

        if self.address is not None:
            connected: Client = untyped(Client)(self.address, security=self.security, set_as_default=False)
            return connected
        options: dict[str, Any] = {"dashboard_address": ":0", **self.cluster_options}  # a free port: never 8787
        cluster = untyped(LocalCluster)(
            n_workers=self.n_workers, threads_per_worker=self.threads_per_worker, processes=self.processes, **options
        )
        self._cluster = cluster
        local: Client = untyped(Client)(cluster, set_as_default=False)
        return local

    def with_resources(self, **resources: float) -> DaskExecutor:
        """Return an executor on this executor's cluster whose tasks ask for `resources`.

        Give it to the nodes that need them: ``embed.with_config(RuntimeConfig(executor=dask.with_resources(GPU=1)))``.
        It shares this executor's cluster (closing it closes nothing).
        """
        child = DaskExecutor(
            self.address, n_workers=self.n_workers, threads_per_worker=self.threads_per_worker,
            processes=self.processes, resources={**self.resources, **resources}, chunksize=self.chunksize,
            cluster_options=self.cluster_options, resource_timeout=self.resource_timeout,
        )  # fmt: skip
        child._parent = self._parent or self
        return child

    def _check_plan(self, client: Client, request: RunRequest | MapRequest) -> None:
        """Check the resources of this executor and of the nodes' own DaskExecutors, before any task starts."""
        self._check_resources(client)
        for step in request.plan.steps:
            executor = getattr(getattr(step, "config", None), "executor", None)
            if isinstance(executor, DaskExecutor) and executor is not self:
                executor._check_resources(client)

    def _check_resources(self, client: Client) -> None:
        """Fail clearly, not with a task pending forever, when no worker offers `resources`."""
        if not self.resources or self._checked:
            return
        deadline = time.monotonic() + self.resource_timeout
        while True:
            workers = client.scheduler_info(n_workers=-1).get("workers", {})
            offered = [info.get("resources") or {} for info in workers.values()]
            if any(all(have.get(name, 0) >= amount for name, amount in self.resources.items()) for have in offered):
                self._checked = True
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.25)
        described = sorted({", ".join(f"{k}={v:g}" for k, v in sorted(have.items())) or "none" for have in offered})
        asked = ", ".join(f"{k}={v:g}" for k, v in sorted(self.resources.items()))
        raise InvalidArgumentError(
            f"DaskExecutor(resources={self.resources!r}): no worker of the Dask cluster at "
            f"{client.scheduler.address if client.scheduler else '?'} offers {asked} (after waiting "
            f"{self.resource_timeout:g}s; {len(offered)} worker(s) offer: {'; '.join(described) or 'no worker'}). "
            f"Start workers that have them (dask worker ... --resources \"{asked.replace(', ', ',')}\", or "
            f"DaskExecutor(cluster_options={{'resources': {self.resources!r}}})), or remove them from this "
            "node's config."
        )

    # -- scheduling -------------------------------------------------------------------------------

    @override
    def run_pipeline(self, request: RunRequest) -> Outputs:
        task = _scope.current_task()
        if task is not None:
            call = take_step_call(self._key)
            if call is not None:  # this is one step of a StepGraph, in its task
                return call.run(request)
            if not self._needs_other_worker():  # nested work in a task: run it here, never wait on the cluster
                return run_in_order(request)
            return self._from_task(task, RunPayload.of_run(request), request, [None])[0]
        client = self.client
        self._check_plan(client, request)
        plan, ctx = request.plan, request.ctx
        whole = plan.is_chain or ctx.config.executor is not self
        # Nothing to overlap, or the steps could not find their way back to this executor: one task.
        if whole and all(is_task_step(step, ctx) for step in plan.steps):
            return self._submit(client, RunPayload.of_run(request), request, [None])[0]
        return StepGraph(client, self._key, request, self.resources).run()

    @override
    def map_items(self, request: MapRequest) -> list[Outputs]:
        count = len(request.items)
        if not count:
            return []
        task = _scope.current_task()
        if task is not None and not self._needs_other_worker():  # nested map in a task: inline
            run = request.runner or run_in_order
            return [run_item(request, position, run) for position in range(count)]
        if task is not None:
            return self._from_task(task, RunPayload.of_map(request), request, self._chunks(count, 1))
        client = self.client
        self._check_plan(client, request)
        threads = sum(w.get("nthreads", 1) for w in client.scheduler_info(n_workers=-1).get("workers", {}).values())
        return self._submit(client, RunPayload.of_map(request), request, self._chunks(count, threads))

    def _chunks(self, count: int, threads: int) -> list[tuple[int, int]]:
        size = self.chunksize or max(1, math.ceil(count / (_CHUNKS_PER_THREAD * max(threads, 1))))
        return [(start, min(start + size, count)) for start in range(0, count, size)]

    def _submit(
        self,
        client: Client,
        payload: RunPayload,
        request: RunRequest | MapRequest,
        chunks: list[tuple[int, int]] | list[None],
        topic: str | None = None,
    ) -> list[Outputs]:
        ship_user_modules(request.pipeline)
        receiver = EventReceiver(request.ctx)
        shared = payload.encode(receiver)
        blobs = [payload.encode_items(*chunk) if chunk is not None else None for chunk in chunks]
        starts = [0 if chunk is None else chunk[0] for chunk in chunks]
        results: list[Any] = [None] * (len(payload.items) if payload.items is not None else 1)
        answers: Generator[tuple[int, bytes], None, None] = run_payload_tasks(
            client, shared, blobs, receiver, resources=self.resources, topic=topic
        )
        with closing(answers):  # on an error: cancel the rest, wait for the events of what ran
            for position, answer in answers:
                outputs = payload.decode(answer, starts[position])
                results[starts[position] : starts[position] + len(outputs)] = outputs
        return results

    def _needs_other_worker(self) -> bool:
        """In a task: whether this executor's tasks need resources the current worker lacks."""
        if not self.resources:
            return False
        from distributed import get_worker

        have = get_worker().state.total_resources
        return not all(have.get(name, 0) >= amount for name, amount in self.resources.items())

    def _from_task(
        self,
        task: _scope.Task,
        payload: RunPayload,
        request: RunRequest | MapRequest,
        chunks: list[tuple[int, int]] | list[None],
    ) -> list[Outputs]:
        """Submit nested work from inside a task, seceding from the worker's threads while it waits."""
        from distributed import worker_client

        with worker_client() as client:
            self._check_resources(client)
            return self._submit(client, payload, request, chunks, topic=task.topic)

    # -- lifetime ---------------------------------------------------------------------------------

    @override
    def close(self) -> None:
        with self._lock:
            client, cluster = self._client, self._cluster
            self._client = self._given_client
            self._cluster = None
            self._checked = False
        if client is not None and client is not self._given_client:
            untyped(client).close()  # our own client (to our LocalCluster, or to the cluster at `address`)
        if cluster is not None:
            cluster.close()

    def __reduce__(self) -> tuple[Any, ...]:
        # A worker gets the settings, never the client or the cluster: there, nested work runs inline.
        return (_restore, (self._key, self._arguments()))

    def _arguments(self) -> dict[str, Any]:
        return {
            "address": self.address, "n_workers": self.n_workers, "threads_per_worker": self.threads_per_worker,
            "processes": self.processes, "resources": self.resources, "chunksize": self.chunksize,
            "cluster_options": self.cluster_options, "resource_timeout": self.resource_timeout,
        }  # fmt: skip

    def __repr__(self) -> str:
        where = "client=..." if self._given_client is not None else f"address={self.address!r}"
        if self.address is None and self._given_client is None:
            where = f"n_workers={self.n_workers}, threads_per_worker={self.threads_per_worker}"
        extra = "".join(f", {name}={value!r}" for name, value in (("resources", self.resources),) if value)
        return f"DaskExecutor({where}{extra})"


_restored: dict[str, DaskExecutor] = {}  # key -> the one instance unpickled in this process
_restored_lock = threading.Lock()  # guards _restored


def _restore(key: str, arguments: dict[str, Any]) -> DaskExecutor:
    with _restored_lock:
        executor = _restored.get(key)
        if executor is None:
            executor = DaskExecutor(**arguments)
            executor._key = key
            _restored[key] = executor
        return executor


def _positive_int(value: object, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"DaskExecutor({argument}=...) must be an int >= 1, got {value!r}")
    return value


def _resources(resources: Mapping[str, float] | None) -> dict[str, float]:
    checked: dict[str, float] = {}
    for name, amount in (resources or {}).items():
        if not isinstance(name, str) or isinstance(amount, bool) or not isinstance(amount, int | float) or amount <= 0:
            raise InvalidArgumentError(
                f"DaskExecutor(resources=...) maps resource names to positive amounts, e.g. {{'GPU': 1}}; "
                f"got {name!r}: {amount!r}"
            )
        checked[name] = float(amount)
    return checked
