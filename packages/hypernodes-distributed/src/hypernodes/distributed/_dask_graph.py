"""One run of a pipeline level as a graph of Dask tasks, one per node (private).

``DaskExecutor.run_pipeline`` hands a run whose nodes can overlap to :class:`StepGraph`. Every
function node becomes a task (:func:`~hypernodes.distributed._dask_tasks.run_one_step`) fed by
the tasks of the nodes it reads, so independent nodes run at once and values stay on the
cluster between them; only the outputs the caller asked for come back. A nested pipeline
node, or a node with its own config, runs from the caller (in a helper thread), so that its
own executor schedules it: a nested map fans out across the cluster, a node with
``DaskExecutor.with_resources(...)`` goes to a worker that has them.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import uuid
from contextvars import copy_context
from typing import TYPE_CHECKING, Any

from hypernodes.distributed._dask_relay import EVENT_GRACE, TopicRelay, cancel, share, untyped
from hypernodes.distributed._dask_tasks import StepFailed, run_one_step
from hypernodes.distributed._shipping import ship_user_modules
from hypernodes.executor import ConfiguredStep, EventReceiver, FunctionStep, ReadySet, RunPayload, Values, dumps, loads
from hypernodes.executor import run_step as run_step_here

if TYPE_CHECKING:
    from collections.abc import Mapping

    from distributed import Client, Future
    from hypernodes._types import Outputs
    from hypernodes.executor import RunContext, RunRequest, Step

__all__ = ["StepGraph", "is_task_step"]

logger = logging.getLogger(__name__)


def is_task_step(step: Step, ctx: RunContext) -> bool:
    """Return whether `step` runs as a task of its own (else from the caller, under its own config)."""
    return type(step) is FunctionStep or (type(step) is ConfiguredStep and ctx.locked)


class StepGraph:
    """Run the steps of `request`, each function node as a Dask task; see the module docstring.

    Args:
        client: The cluster's client.
        key: The key of the ``DaskExecutor`` the tasks call back (see ``take_step_call``).
        request: The run.
        resources: What every task asks of its worker.
    """

    def __init__(self, client: Client, key: str, request: RunRequest, resources: Mapping[str, float] | None) -> None:
        self._client = client
        self._key = key
        self._request = request
        self._resources = dict(resources) if resources else None
        self._payload = RunPayload.of_run(request)
        self._receiver = EventReceiver(request.ctx)
        self._prefix = uuid.uuid4().hex[:12]
        self._done: queue.Queue[tuple[Step, Any]] = queue.Queue()  # finished steps, from any thread
        self._results: dict[int, Future[bytes] | bytes] = {}  # each finished step's outputs: on the cluster, or here
        self._collected = Values()  # the outputs the caller asked for
        self._ran: list[str] = []  # ids of the tasks that ran (their events are awaited)
        self._pending: list[Future[bytes]] = []
        self._helpers: concurrent.futures.ThreadPoolExecutor | None = None

    def run(self) -> Outputs:
        """Run every step; return the requested outputs, or raise the first node error."""
        request = self._request
        ship_user_modules(request.pipeline)
        shared = self._payload.encode(self._receiver)
        relay = TopicRelay(self._client, self._receiver) if self._receiver.wants_events else None
        self._topic = None if relay is None else relay.topic
        self._shared = share(self._client, shared, len(request.plan.steps))
        ready = ReadySet(request)
        wanted = set(request.plan.outputs)
        try:
            while ready.is_active():
                for step in ready.get_ready():
                    self._launch(step)
                step, future = self._done.get()
                self._finish(step, future, wanted)
                ready.done(step)
            return {name: self._collected[name] for name in request.plan.outputs}
        finally:
            cancel(self._client, [f for f in self._pending if not untyped(f).done()])
            if self._helpers is not None:
                self._helpers.shutdown(wait=False, cancel_futures=True)
            if relay is not None:
                if not relay.wait_for(self._ran, EVENT_GRACE):  # the run's outcome is known: warn, do not fail
                    logger.warning("some callback events did not arrive from the Dask workers within %ss", EVENT_GRACE)
                relay.close()

    def _launch(self, step: Step) -> None:
        ctx = self._request.ctx
        if is_task_step(step, ctx):
            upstream = [self._results[index] for index in step.dependencies]
            future = self._client.submit(
                run_one_step, self._topic, self._task_id(step), self._shared, self._key, step.index, *upstream,
                pure=False, resources=self._resources,
            )  # fmt: skip
            self._pending.append(future)
            untyped(future).add_done_callback(lambda f: self._done.put((step, f)))
            return
        # From the caller, under the step's own config: gather what it reads first.
        parts = [self._local(index) for index in step.dependencies]
        inputs = Values.merge(self._request.inputs, *parts)
        if self._helpers is None:
            self._helpers = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="hypernodes-dask-caller")
        helper = self._helpers.submit(copy_context().run, run_step_here, step, inputs, ctx)
        helper.add_done_callback(lambda f: self._done.put((step, f)))

    def _local(self, index: int) -> Values:
        result = self._results[index]
        values: Values = loads(result if isinstance(result, bytes) else result.result())
        return values

    def _finish(self, step: Step, future: Any, wanted: set[str]) -> None:
        if isinstance(future, concurrent.futures.Future):  # a step run from the caller
            values: Values = future.result()  # raises the node's own error
            self._results[step.index] = dumps(values)
            self._collected.add(values)
            return
        if future.status == "error":
            error = future.exception()
            if isinstance(error, StepFailed):
                self._ran.append(error.task_id)
                self._payload.decode(error.answer)  # raises the node's own error, with its notes
            raise error
        self._ran.append(self._task_id(step))
        self._results[step.index] = future
        if wanted.intersection(step.output_names):
            self._collected.add(loads(future.result()))

    def _task_id(self, step: Step) -> str:
        return f"{self._prefix}-{step.index}"
