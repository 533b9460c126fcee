"""``RayExecutor``: nodes, runs and map items as Ray tasks, with per-task CPUs, GPUs and custom resources."""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from hypernodes import InvalidArgumentError
from hypernodes.distributed import _ray_cluster, _ray_tasks
from hypernodes.distributed._ray_graph import StepGraph
from hypernodes.executor import EventReceiver, Executor, RunPayload, run_in_order, run_item

if TYPE_CHECKING:
    from types import ModuleType

    from hypernodes._types import OutputNames
    from hypernodes.executor import MapRequest, RunContext, RunRequest
    from hypernodes.graph.pipeline import Pipeline

__all__ = ["RayExecutor"]

_restored: dict[str, RayExecutor] = {}  # key -> the one instance unpickled in this process
_restored_lock = threading.Lock()  # guards _restored


class RayExecutor(Executor):
    """Run the nodes of each run, and chunks of each map's items, as Ray tasks on a local Ray or a cluster.

    * ``map``: the items are sent in chunks of `chunksize` (default: about four chunks per
      task slot of the cluster), one Ray task per chunk; results keep the item order.
    * ``run``: each node is a Ray task fed by the tasks of the nodes it reads (their outputs
      stay in Ray's object store, with their cache signatures), so independent nodes run at
      once; a run whose nodes form a chain is one task. A nested pipeline node, or a node
      with a config of its own, runs from the caller under its config: to send one node
      elsewhere (a GPU, more CPUs) give it its own executor,
      ``embed.with_config(executor=RayExecutor(num_gpus=1))``; every RayExecutor of a
      process shares one Ray connection. Inside a task, a run's nodes run in order there.
    * Each task asks Ray for `num_cpus`, `num_gpus` and `resources`; a request that no node of
      the cluster can meet is an ``InvalidArgumentError`` before anything is submitted, never
      a task pending forever.
    * Code and data travel by value (cloudpickle bytes), so nodes defined in ``__main__``, a
      notebook or a test module run on a cluster that cannot import them; HyperNodes itself
      must be installed on the cluster (same version), e.g. with ``runtime_env``.
    * Callback events come back to the caller while the tasks run and fire there.
    * ``async def`` nodes run in the task on an event loop of their own (Ray rejects async
      remote functions; HyperNodes bridges them inside the sync task).
    * Nested work never deadlocks: a nested run inside a task runs there; a nested map
      inside a task is submitted as further tasks (Ray lends the waiting task's CPU to them)
      unless this executor asks for GPUs or custom resources, which Ray does not lend: then
      the nested map runs in the task.
    * The cache is made in each worker from the config's ``CacheSpec``; a disk cache shared
      by the workers must be on storage every node sees.

    With no `address`, the executor uses the Ray already initialised in this process, or
    starts a local one (``ray.init(include_dashboard=False, **init_options)``); with an
    address (``"host:port"`` or ``"ray://host:port"``) it connects there. A connection it
    made is shut down when the last executor relying on it is closed; a Ray initialised by
    someone else is never shut down.

    Args:
        address: The cluster to connect to (None: the initialised Ray, or a new local one).
        num_cpus: CPUs each task asks for (None: Ray's default, 1).
        num_gpus: GPUs each task asks for (fractions share a GPU).
        resources: Custom resources each task asks for, e.g. ``{"TPU": 1}``.
        runtime_env: Ray's runtime environment for the tasks (``pip``, ``py_modules``, ``env_vars``...).
        chunksize: Map items per task (default: about four chunks per task slot).
        init_options: More keyword arguments for ``ray.init`` when this executor calls it.
        **options: More Ray task options (``max_retries``, ``memory``, ``scheduling_strategy``...).

    Example:
        >>> from hypernodes import Pipeline, RuntimeConfig, node
        >>> @node(output_name="doubled")
        ... def double(x: int) -> int:
        ...     return 2 * x
        >>> with RayExecutor(init_options={"num_cpus": 2}) as executor:  # doctest: +SKIP
        ...     Pipeline(nodes=[double]).map(inputs={"x": [1, 2, 3]}, map_over="x",
        ...                                  config=RuntimeConfig(executor=executor))
        {'doubled': [2, 4, 6]}
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus: float | None = None,
        num_gpus: float | None = None,
        resources: Mapping[str, float] | None = None,
        runtime_env: Mapping[str, Any] | None = None,
        chunksize: int | None = None,
        *,
        init_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        self.address = address
        self.num_cpus = _amount(num_cpus, "num_cpus")
        self.num_gpus = _amount(num_gpus, "num_gpus")
        given = (resources or {}).items()
        self.resources = {name: _amount(value, f"resources[{name!r}]") or 0.0 for name, value in given}
        self.runtime_env = dict(runtime_env) if runtime_env is not None else None
        if chunksize is not None and (isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1):
            raise InvalidArgumentError(f"RayExecutor(chunksize=...) must be an int >= 1, got {chunksize!r}")
        self.chunksize = chunksize
        self.init_options = dict(init_options or {})
        for name in ("num_cpus", "num_gpus", "resources", "runtime_env"):
            if name in options:  # only reachable through **{...}
                raise InvalidArgumentError(f"RayExecutor got {name!r} twice; pass it once, as RayExecutor({name}=...)")
        self.options = options
        self._key = uuid.uuid4().hex
        task: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus, "runtime_env": self.runtime_env}
        task = {name: value for name, value in task.items() if value is not None}
        if self.resources:
            task["resources"] = dict(self.resources)
        self._task_options = {**task, **options}

    @override
    def run_pipeline(self, request: RunRequest) -> dict[str, Any]:
        if _ray_tasks.is_inside(self._key):  # in one of our tasks: its step, its run, or a nested one, runs here
            _ray_tasks.claim_task_work()
            call = _ray_tasks.take_step_call(self._key)
            if call is not None:  # this task is one step of a StepGraph
                return call.run(request)
            return run_in_order(request)
        # Step tasks find their way back to this executor through the payload's config only.
        if not request.plan.is_chain and request.ctx.config.executor is self:
            ray = self._connect()
            self._check_resources(ray, request.pipeline, request.output_name)
            return StepGraph(self._key, request, self._task_options).run()
        return self._submit(RunPayload.of_run(request), request.ctx, [(0, None)])[0]

    @override
    def map_items(self, request: MapRequest) -> list[dict[str, Any]]:
        count = len(request.items)
        if not count:
            return []
        # In one of our tasks: the chunk it was sent runs here; so does a nested map, unless
        # waiting on further tasks lends them what they need.
        if _ray_tasks.is_inside(self._key) and (_ray_tasks.claim_task_work() or not self._lends_its_resources()):
            run = request.runner or run_in_order
            return [run_item(request, position, run) for position in range(count)]
        ray = self._connect()
        size = self.chunksize or max(1, math.ceil(count / (4 * self._slots(ray))))
        chunks = [(start, min(start + size, count)) for start in range(0, count, size)]
        return self._submit(RunPayload.of_map(request), request.ctx, chunks, ray)

    @override
    def close(self) -> None:
        _ray_cluster.release(self._key)  # safe to call several times

    def __reduce__(self) -> tuple[Any, ...]:
        # Workers get the arguments and the key, never a connection (see _restore).
        return (_restore, (self._key, self._arguments()))

    def __repr__(self) -> str:
        shown = {name: value for name, value in self._arguments().items() if value not in (None, {})}
        return f"{type(self).__name__}({', '.join(f'{name}={value!r}' for name, value in shown.items())})"

    # -- submitting -------------------------------------------------------------------------------

    def _submit(
        self,
        payload: RunPayload,
        ctx: RunContext,
        chunks: Sequence[tuple[int, int | None]],
        ray: ModuleType | None = None,
    ) -> list[dict[str, Any]]:
        ray = ray or self._connect()
        what = self._check_resources(ray, payload.pipeline, payload.output_name)
        receiver = EventReceiver(ctx)
        shared = payload.encode(receiver)
        blobs = [payload.encode_items(start, stop) if payload.is_map else None for start, stop in chunks]
        results: list[Any] = [None] * (len(payload.items) if payload.items is not None else 1)

        def on_answer(position: int, answer: bytes) -> None:
            start = chunks[position][0]
            outputs = payload.decode(answer, start)  # raises the node's own error
            results[start : start + len(outputs)] = outputs

        def describe(position: int) -> str:
            start, stop = chunks[position]
            return what if stop is None else f"map items {start}-{stop - 1} of {what}"

        _ray_tasks.run_chunks(self._key, shared, blobs, receiver, self._task_options, on_answer, describe)
        return results

    def _check_resources(self, ray: ModuleType, pipeline: Pipeline, output_name: OutputNames | None) -> str:
        """Fail before anything is submitted if no node has what a task asks for; return what runs."""
        what = _describe(pipeline, output_name)
        need = {"CPU": 1.0 if self.num_cpus is None else self.num_cpus, "GPU": self.num_gpus or 0.0, **self.resources}
        _ray_cluster.check_resources(ray, need, repr(self), what)
        return what

    def _connect(self) -> ModuleType:
        return _ray_cluster.connect(self._key, self.address, self.init_options)

    def _slots(self, ray: ModuleType) -> int:
        """Return how many of this executor's tasks the cluster runs at once (at least 1)."""
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        per_task = 1.0 if self.num_cpus is None else self.num_cpus
        return max(1, int(cpus // per_task) if per_task > 0 else int(cpus))

    def _lends_its_resources(self) -> bool:
        """Whether a task of ours waiting on nested tasks frees what they need (CPUs only, from the main thread)."""
        return not self.num_gpus and not self.resources and threading.current_thread() is threading.main_thread()

    def _arguments(self) -> dict[str, Any]:
        return {
            "address": self.address, "num_cpus": self.num_cpus, "num_gpus": self.num_gpus,
            "resources": self.resources, "runtime_env": self.runtime_env, "chunksize": self.chunksize,
            "init_options": self.init_options, **self.options,
        }  # fmt: skip


def _restore(key: str, arguments: dict[str, Any]) -> RayExecutor:
    """Return this process's one RayExecutor for `key` (so its tasks recognise it)."""
    with _restored_lock:
        executor = _restored.get(key)
        if executor is None:
            executor = RayExecutor(**arguments)
            executor._key = key
            _restored[key] = executor
        return executor


def _amount(value: object, argument: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or math.isnan(value):
        raise InvalidArgumentError(f"RayExecutor({argument}=...) must be a number >= 0, got {value!r}")
    return float(value)


def _describe(pipeline: Pipeline, output_name: OutputNames | None) -> str:
    names = ", ".join(repr(step.name) for step in pipeline.plan(output_name).steps)
    return f"pipeline {pipeline.name!r} (nodes {names})"
