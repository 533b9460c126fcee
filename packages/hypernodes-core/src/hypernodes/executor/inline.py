"""``InlineExecutor``: run everything in the calling thread, one node and one item at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from typing_extensions import override

from hypernodes.engine.engine import ENGINE
from hypernodes.executor.base import Executor

if TYPE_CHECKING:
    from hypernodes._types import Inputs, OutputNames, Outputs
    from hypernodes.engine.context import RunContext
    from hypernodes.graph.pipeline import Pipeline

__all__ = ["InlineExecutor"]


class InlineExecutor(Executor):
    """Run nodes in dependency order and items in item order, in the caller's thread.

    This is core's executor, the default when hypernodes-executors is not installed. It has
    no resources, never deadlocks and adds the least overhead.
    """

    @override
    def run_pipeline(
        self, pipeline: Pipeline, inputs: Inputs, ctx: RunContext, output_name: OutputNames | None
    ) -> Outputs:
        return ENGINE.run_pipeline(pipeline, inputs, ctx, output_name)

    @override
    def map_items(
        self,
        pipeline: Pipeline,
        items: Sequence[Inputs],
        inputs: Inputs,
        ctx: RunContext,
        output_name: OutputNames | None,
    ) -> list[Outputs]:
        run_item = ENGINE.run_item
        return [run_item(pipeline, index, item, inputs, ctx, output_name) for index, item in enumerate(items)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
