"""One run of a pipeline level as Ray tasks, one per node (private).

``RayExecutor.run_pipeline`` hands a run whose nodes can overlap to :class:`StepGraph`. Every
function node becomes a Ray task (:func:`~hypernodes.distributed._ray_tasks.run_step_task`)
whose arguments are the object references of the outputs of the nodes it reads (Ray resolves
them in the worker), so independent nodes run at once and values stay in the object store
between them; only the outputs the caller asked for come back. A step task returns two
objects: a small status, the only one the caller fetches to follow the run, and the step's
``Values`` pickled with their cache signatures, so that a downstream task chains signatures
instead of hashing the values again. A nested pipeline node, or a node with its own config,
runs from the caller (in a helper thread), so that its own executor schedules it: a nested
map fans out across the cluster, a node with ``RayExecutor(num_gpus=1)`` gets its GPU.

Every task runs core's run payload of the whole level (stored once in the object store), so
the context (the cache, the callback tokens) is rebuilt in the worker as for a whole run,
and events travel back through the relay of :mod:`~hypernodes.distributed._ray_tasks`.
"""

from __future__ import annotations

import concurrent.futures
import queue
from contextvars import copy_context
from typing import TYPE_CHECKING, Any

from hypernodes import SerializationError
from hypernodes.distributed._ray_tasks import WAIT_SLICE, EventRoute, crashed, remote, run_step_task
from hypernodes.executor import ConfiguredStep, EventReceiver, FunctionStep, ReadySet, RunPayload, Values, dumps, loads
from hypernodes.executor import run_step as run_step_here

if TYPE_CHECKING:
    from collections.abc import Mapping

    from hypernodes._types import Outputs
    from hypernodes.distributed._ray_tasks import StepStatus
    from hypernodes.executor import RunContext, RunRequest, Step

__all__ = ["StepGraph", "is_task_step"]

_HELPER_SLICE = 0.01  # seconds per ray.wait while a step runs from the caller (its end is noticed between waits)


def is_task_step(step: Step, ctx: RunContext) -> bool:
    """Return whether `step` runs as a task of its own (else from the caller, under its own config)."""
    return type(step) is FunctionStep or (type(step) is ConfiguredStep and ctx.locked)


class StepGraph:
    """Run the steps of `request`, each function node as a Ray task; see the module docstring.

    Args:
        key: The key of the ``RayExecutor`` the tasks call back (see ``take_step_call``).
        request: The run.
        options: The Ray options of every task (``num_cpus``, ``num_gpus``, ``resources``...).
    """

    def __init__(self, key: str, request: RunRequest, options: Mapping[str, Any]) -> None:
        self._key = key
        self._request = request
        self._options = dict(options)
        self._payload = RunPayload.of_run(request)
        self._results: dict[int, Any] = {}  # each finished step's outputs, as an object reference
        self._here: dict[int, Values] = {}  # the finished steps' outputs already in the caller
        self._collected = Values()  # the outputs the caller asked for
        self._running: dict[Any, Step] = {}  # status reference -> the step its task runs
        self._outputs_of: dict[Any, Any] = {}  # status reference -> the reference of the task's outputs
        self._done: queue.Queue[tuple[Step, concurrent.futures.Future[Values]]] = queue.Queue()  # from helpers
        self._from_caller = 0  # steps running from the caller
        self._answered = 0  # step tasks that ended (their events are awaited)
        self._failed = False  # a node raised: the run ends with its error
        self._helpers: concurrent.futures.ThreadPoolExecutor | None = None

    def run(self) -> Outputs:
        """Run every step; return the requested outputs, or raise the first node error.

        Raises:
            Exception: The first node's own error, with its notes.
            WorkerCrashedError: A worker died (or Ray lost the task) while running a step.
        """
        import ray

        request = self._request
        receiver = EventReceiver(request.ctx)
        shared = self._payload.encode(receiver)
        events = EventRoute(receiver)
        self._task = remote(run_step_task).options(num_returns=2, **self._options)
        self._task_args = (self._key, ray.put(shared))
        self._event_args = (events.box, events.channel, events.forwarded)
        ready = ReadySet(request)
        finished = False
        try:
            while ready.is_active():
                for step in ready.get_ready():
                    self._launch(step)
                for step in self._wait():
                    ready.done(step)
            finished = True
            return {name: self._collected[name] for name in request.plan.outputs}
        finally:
            interrupted = not finished and not self._failed  # Ctrl-C, a lost worker
            if interrupted:
                for ref in self._running:
                    ray.cancel(ref)  # queued ones never start; running ones get KeyboardInterrupt
            # After a node's error the other tasks are left to finish unobserved: cancelling a
            # task that is completing can crash the driver (see run_chunks).
            if self._helpers is not None:
                self._helpers.shutdown(wait=False, cancel_futures=True)
            events.close(self._answered, interrupted)

    def _launch(self, step: Step) -> None:
        ctx = self._request.ctx
        if is_task_step(step, ctx):
            upstream = [self._results[index] for index in step.dependencies]
            status, outputs = self._task.remote(*self._task_args, step.index, *self._event_args, *upstream)
            self._running[status] = step
            self._outputs_of[status] = outputs
            return
        # From the caller, under the step's own config: gather what it reads first.
        inputs = Values.merge(self._request.inputs, *(self._local(index) for index in step.dependencies))
        if self._helpers is None:
            self._helpers = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="hypernodes-ray-caller")
        helper = self._helpers.submit(copy_context().run, run_step_here, step, inputs, ctx)
        self._from_caller += 1
        helper.add_done_callback(lambda future: self._done.put((step, future)))

    def _local(self, index: int) -> Values:
        values = self._here.get(index)
        if values is None:
            import ray

            values = self._here[index] = loads(ray.get(self._results[index]))
        return values

    def _wait(self) -> list[Step]:
        """Wait until some steps finish; return them (raises the first node error)."""
        import ray

        finished: list[Step] = []
        while not finished:
            if self._running:
                # Ray lends a waiting task's CPU only inside ray.wait: wait there, in short slices
                # while a step runs from the caller, whose end arrives on the queue.
                timeout = _HELPER_SLICE if self._from_caller else WAIT_SLICE
                done, _ = ray.wait(list(self._running), num_returns=1, timeout=timeout)
                for ref in done:
                    finished.append(self._finish_task(ref))
            else:
                self._done.put(self._done.get())  # only steps from the caller run: wait for one
            while not self._done.empty():
                step, future = self._done.get_nowait()
                self._from_caller -= 1
                finished.append(self._finish_here(step, future))
        return finished

    def _finish_task(self, ref: Any) -> Step:
        import ray

        step = self._running.pop(ref)
        outputs = self._outputs_of.pop(ref)
        self._answered += 1
        try:
            status: StepStatus = ray.get(ref)
        except ray.exceptions.RayError as exc:
            raise crashed(exc, f"node {step.name!r} of pipeline {self._request.pipeline.name!r}") from exc
        if status[0] == "failed":
            self._failed = True
            self._payload.decode(status[1])  # raises the node's own error, with its notes
        elif status[0] == "unpicklable":
            self._failed = True
            raise SerializationError(status[2], node_name=status[1])
        self._results[step.index] = outputs
        if set(self._request.plan.outputs).intersection(step.output_names):
            self._collected.add(self._local(step.index))
        return step

    def _finish_here(self, step: Step, future: concurrent.futures.Future[Values]) -> Step:
        import ray

        try:
            values = future.result()  # the node's own error, raised in the helper
        except Exception:
            self._failed = True
            raise
        self._here[step.index] = values
        try:
            self._results[step.index] = ray.put(dumps(values))
        except Exception as exc:
            self._failed = True
            names = ", ".join(repr(name) for name in values)
            raise SerializationError(
                f"output(s) {names} of node {step.name!r} cannot be pickled to send them to the nodes downstream "
                f"on the Ray cluster ({type(exc).__name__}: {exc}). Return picklable values from this node.",
                node_name=step.name,
            ) from None
        self._collected.add(values)
        return step
