"""``RunFrame``: the values of one pipeline run while its steps execute."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hypernodes._types import Inputs
    from hypernodes.engine.context import RunContext
    from hypernodes.engine.plan import ExecutionPlan

__all__ = ["RunFrame"]


class RunFrame:
    """The values of one pipeline run (one call, one map item) while its steps execute.

    Steps write disjoint names, so executors may run independent steps of one frame in
    parallel threads.

    Attributes:
        plan: The plan being executed.
        ctx: The run context of this pipeline level.
        values: Inputs and computed outputs by name.
        signatures: Cache signatures of the values known so far, by name.
    """

    __slots__ = ("ctx", "plan", "signatures", "values")

    def __init__(self, plan: ExecutionPlan, ctx: RunContext, inputs: Inputs) -> None:
        self.plan = plan
        self.ctx = ctx
        self.values: dict[str, Any] = dict(inputs)
        self.signatures: dict[str, str] = {}
