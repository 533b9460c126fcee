"""What an executor is asked to do: one run of a pipeline level, or one map over items."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from hypernodes._types import Inputs, OutputNames, Outputs
    from hypernodes.engine.context import RunContext
    from hypernodes.engine.plan import ExecutionPlan
    from hypernodes.graph.pipeline import Pipeline

__all__ = ["MapRequest", "RunPipeline", "RunRequest"]

RunPipeline: TypeAlias = "Callable[[RunRequest], Outputs]"
"""Runs one pipeline level: an executor's ``run_pipeline``."""


@dataclass(slots=True)
class RunRequest:
    """Run one level of a pipeline once: the steps of `plan`, on validated `inputs`.

    Requests are built by the engine (one per run, one per map item) and must not be
    modified; derive a changed one with :meth:`replace`. (Not a frozen dataclass: one is
    built per map item, and freezing costs four times as much to build.)

    Attributes:
        pipeline: The pipeline.
        inputs: Its inputs (a :class:`~hypernodes.executor.Values` when they carry signatures).
        ctx: The context of this level (config, cache, callbacks, location).
        output_name: The requested outputs (None: all).
        plan: ``pipeline.plan(output_name)``: the steps to run and what they depend on.
    """

    pipeline: Pipeline
    inputs: Inputs
    ctx: RunContext
    output_name: OutputNames | None
    plan: ExecutionPlan

    @classmethod
    def of(cls, pipeline: Pipeline, inputs: Inputs, ctx: RunContext, output_name: OutputNames | None) -> RunRequest:
        """Return the request to run `pipeline` once (the plan is looked up, built once per pipeline)."""
        return cls(pipeline, inputs, ctx, output_name, pipeline.plan(output_name))

    def replace(self, **changes: Any) -> RunRequest:
        """Return a copy with `changes` applied."""
        return dataclasses.replace(self, **changes)

    def loose(self) -> tuple[Pipeline, Inputs, RunContext, OutputNames | None]:
        """Return ``(pipeline, inputs, ctx, output_name)``, the arguments of HyperNodes 0.1."""
        return self.pipeline, self.inputs, self.ctx, self.output_name

    def select(self, values: Inputs) -> Outputs:
        """Return the requested outputs from the `values` of a finished run."""
        return {name: values[name] for name in self.plan.outputs}


@dataclass(slots=True, kw_only=True)
class MapRequest:
    """Run a pipeline once per item: each item's values over the shared `inputs`.

    Attributes:
        pipeline: The mapped pipeline.
        items: The items' own values (the mapped inputs), one mapping per item.
        inputs: The values every item shares (broadcast inputs).
        ctx: The context of the mapping level; each item gets its own (:meth:`item`).
        output_name: The requested outputs (None: all).
        plan: ``pipeline.plan(output_name)``, shared by every item.
        first_index: The map index of ``items[0]`` (a chunk of a larger map starts later).
        runner: Runs each item's pipeline instead of the executor's own ``run_pipeline``
            (``CompositeExecutor`` sets it); None: the executor's own.
    """

    pipeline: Pipeline
    items: Sequence[Inputs]
    inputs: Inputs
    ctx: RunContext
    output_name: OutputNames | None
    plan: ExecutionPlan
    first_index: int = 0
    runner: RunPipeline | None = None

    @classmethod
    def of(
        cls,
        pipeline: Pipeline,
        items: Sequence[Inputs],
        inputs: Inputs,
        ctx: RunContext,
        output_name: OutputNames | None,
    ) -> MapRequest:
        """Return the request to map `pipeline` over `items`."""
        return cls(
            pipeline=pipeline, items=items, inputs=inputs, ctx=ctx, output_name=output_name,
            plan=pipeline.plan(output_name),
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.items)

    def loose(self) -> tuple[Pipeline, Sequence[Inputs], Inputs, RunContext, OutputNames | None]:
        """Return ``(pipeline, items, inputs, ctx, output_name)``, the arguments of HyperNodes 0.1."""
        return self.pipeline, self.items, self.inputs, self.ctx, self.output_name

    def replace(self, **changes: Any) -> MapRequest:
        """Return a copy with `changes` applied."""
        return dataclasses.replace(self, **changes)

    def chunk(self, start: int, stop: int) -> MapRequest:
        """Return the request for ``items[start:stop]`` (item indices stay those of this map)."""
        return dataclasses.replace(self, items=self.items[start:stop], first_index=self.first_index + start)

    def item(self, position: int) -> RunRequest:
        """Return the run of ``items[position]``, in its own context (no item hooks fire here)."""
        return RunRequest(
            self.pipeline,
            {**self.inputs, **self.items[position]},
            self.ctx.for_item(self.first_index + position),
            self.output_name,
            self.plan,
        )
