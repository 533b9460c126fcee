"""``ReadySet``: the steps of one run whose inputs are ready, written once for every executor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hypernodes.engine.values import Values
from hypernodes.errors import HyperNodesError

if TYPE_CHECKING:
    from hypernodes._types import Outputs
    from hypernodes.engine.plan import Step
    from hypernodes.executor.request import RunRequest

__all__ = ["ReadySet"]


class ReadySet:
    """Track which steps of a run can start, as :class:`graphlib.TopologicalSorter` does.

    :meth:`get_ready` returns the steps that became ready since the last call; :meth:`done`
    marks a step finished (with its outputs) and releases the steps waiting for it;
    :meth:`is_active` says whether some step has not finished yet. The outputs are gathered
    in :attr:`values`, with their cache signatures, so that :meth:`inputs_for` can give a step
    exactly what it reads and :meth:`outputs` what the caller asked for. The dependency
    counts come from the plan (computed once per pipeline), so a ready set is cheap to make.

    Not thread safe, like ``graphlib``: an executor that calls it from several threads holds
    a lock around each call.

    Args:
        request: The run.

    Example:
        >>> from hypernodes import Pipeline, node
        >>> from hypernodes.executor import RunContext, RunRequest, run_step
        >>> @node(output_name="y")
        ... def double(x: int) -> int:
        ...     return 2 * x
        >>> @node(output_name="z")
        ... def inc(y: int) -> int:
        ...     return y + 1
        >>> pipeline = Pipeline(nodes=[double, inc])
        >>> request = RunRequest.of(pipeline, {"x": 3}, RunContext.for_pipeline(pipeline), None)
        >>> ready = ReadySet(request)
        >>> while ready.is_active():
        ...     for step in ready.get_ready():
        ...         ready.done(step, run_step(step, ready.inputs_for(step), request.ctx))
        >>> ready.outputs()
        {'y': 6, 'z': 7}
    """

    __slots__ = ("_dependents", "_finished", "_ready", "_request", "_steps", "_total", "_waiting", "values")

    def __init__(self, request: RunRequest) -> None:
        plan = request.plan
        self._request = request
        self._steps = plan.steps
        self._dependents = plan.dependents
        self._waiting = [len(step.dependencies) for step in plan.steps]
        self._ready: list[int] = list(plan.roots)
        self._total = len(plan.steps)
        self._finished = 0
        self.values = Values.merge(request.inputs)

    def get_ready(self) -> tuple[Step, ...]:
        """Return the steps that became ready since the last call (each step once)."""
        ready, self._ready = self._ready, []
        steps = self._steps
        return tuple(steps[index] for index in ready)

    def done(self, step: Step, outputs: Mapping[str, Any] | None = None) -> None:
        """Mark `step` finished; its `outputs` (from ``run_step``) join :attr:`values`.

        Raises:
            HyperNodesError: `step` was already marked done.
        """
        waiting = self._waiting
        if waiting[step.index] < 0:
            raise HyperNodesError(f"step {step.name!r} was marked done twice; this is a bug in the executor")
        waiting[step.index] = -1
        self._finished += 1
        if outputs is not None:
            self.values.add(outputs)
        for dependent in self._dependents[step.index]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                self._ready.append(dependent)

    def is_active(self) -> bool:
        """Return whether some step has not finished."""
        return self._finished < self._total

    def inputs_for(self, step: Step) -> Values:
        """Return the values `step` reads, with their signatures (what to send to a worker)."""
        values = self.values
        signatures = values.signatures
        return Values(
            {name: values[name] for name in step.parameters if name in values},
            {name: signatures[name] for name in step.parameters if name in signatures},
        )

    def outputs(self) -> Outputs:
        """Return the requested outputs (once every step is done)."""
        return self._request.select(self.values)
