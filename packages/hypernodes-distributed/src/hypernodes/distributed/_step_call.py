"""``StepCall``: one step of a run, handed by a cluster step task to its executor (private).

A Dask or Ray step task runs core's run payload with the config's executor, which finds the
``StepCall`` its task left for it (``take_step_call``) and runs only that step, on the run's
inputs and the upstream steps' outputs (``Values``, with their cache signatures).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hypernodes.executor import Values, run_step

if TYPE_CHECKING:
    from hypernodes.executor import RunRequest

__all__ = ["StepCall"]


class StepCall:
    """One step of a run, handed by its step task to the executor that core's payload runs."""

    __slots__ = ("index", "key", "name", "upstream", "values")

    def __init__(self, key: str, index: int, upstream: tuple[Mapping[str, Any], ...]) -> None:
        self.key = key
        self.index = index
        self.upstream = upstream
        self.name = f"step {index}"
        self.values: Values | None = None

    def run(self, request: RunRequest) -> dict[str, Any]:
        """Run the step of `request` on its inputs and the upstream steps' outputs; keep its outputs."""
        step = request.plan.steps[self.index]
        self.name = step.name
        self.values = run_step(step, Values.merge(request.inputs, *self.upstream), request.ctx)
        return {}  # the outputs travel as the task's result, with their signatures
