"""``LocalBackend``: run in this process, with the config's executor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from typing_extensions import override

from hypernodes.backend.base import Backend
from hypernodes.executor.request import MapRequest, RunRequest

if TYPE_CHECKING:
    from hypernodes._types import Inputs, OutputNames, Outputs
    from hypernodes.engine.context import RunContext
    from hypernodes.graph.pipeline import Pipeline

__all__ = ["LocalBackend"]


class LocalBackend(Backend):
    """Run pipelines in the calling process; scheduling is entirely the executor's.

    >>> LocalBackend()
    LocalBackend()
    """

    @override
    def run(
        self, pipeline: Pipeline, inputs: Inputs, ctx: RunContext, output_name: OutputNames | None
    ) -> Outputs:
        return ctx.config.executor.run_pipeline(RunRequest.of(pipeline, inputs, ctx, output_name))

    @override
    def map(
        self,
        pipeline: Pipeline,
        items: Sequence[Inputs],
        inputs: Inputs,
        ctx: RunContext,
        output_name: OutputNames | None,
    ) -> list[Outputs]:
        return ctx.config.executor.map_items(MapRequest.of(pipeline, items, inputs, ctx, output_name))

    def __repr__(self) -> str:
        return "LocalBackend()"

    def __eq__(self, other: object) -> bool:
        return type(other) is LocalBackend

    def __hash__(self) -> int:
        return hash(LocalBackend)
