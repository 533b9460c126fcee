"""``CompositeExecutor``: map items through one executor, each item's nodes through another."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from hypernodes import Executor, InvalidArgumentError
from hypernodes.executors._base import LocalExecutor, RunPipeline

if TYPE_CHECKING:
    from hypernodes import Pipeline, RunContext
    from hypernodes._types import Inputs, OutputNames, Outputs

__all__ = ["CompositeExecutor"]


class CompositeExecutor(LocalExecutor):
    """Schedule map items with `map_executor` and the nodes of each item with `node_executor`.

    Choose it when the two levels want different concurrency, e.g. threads across items and
    asyncio within an item whose nodes are concurrent ``async def`` calls::

        CompositeExecutor(map_executor=ThreadPoolExecutor(8), node_executor=AsyncExecutor())

    or worker processes across items, each item's independent nodes on threads in its
    worker. A single run (not a map) goes to `node_executor`. The composite owns both: its
    :meth:`close` closes them.

    Args:
        map_executor: Schedules the items of a map; an executor of this package.
        node_executor: Runs each item's pipeline (and every single run); any executor.

    Example:
        >>> from hypernodes import Pipeline, RuntimeConfig, node
        >>> from hypernodes.executors import AsyncExecutor, ThreadPoolExecutor
        >>> @node(output_name="doubled")
        ... async def double(x: int) -> int:
        ...     return 2 * x
        >>> with CompositeExecutor(map_executor=ThreadPoolExecutor(2), node_executor=AsyncExecutor()) as ex:
        ...     Pipeline(nodes=[double]).map(inputs={"x": [1, 2]}, map_over="x",
        ...                                  config=RuntimeConfig(executor=ex))
        {'doubled': [2, 4]}
    """

    def __init__(self, map_executor: LocalExecutor, node_executor: Executor) -> None:
        super().__init__()
        if not isinstance(map_executor, LocalExecutor):
            raise InvalidArgumentError(
                "CompositeExecutor(map_executor=...) needs an executor of hypernodes.executors "
                "(SequentialExecutor, AsyncExecutor, ThreadPoolExecutor, ProcessPoolExecutor or "
                f"CompositeExecutor), got {map_executor!r}"
            )
        if not isinstance(node_executor, Executor):
            raise InvalidArgumentError(
                f"CompositeExecutor(node_executor=...) needs an Executor such as AsyncExecutor(), got {node_executor!r}"
            )
        self.map_executor = map_executor
        self.node_executor = node_executor

    @override
    def run_pipeline(
        self, pipeline: Pipeline, inputs: Inputs, ctx: RunContext, output_name: OutputNames | None
    ) -> Outputs:
        return self.node_executor.run_pipeline(pipeline, inputs, ctx, output_name)

    @override
    def map_items_with(
        self,
        pipeline: Pipeline,
        items: Sequence[Inputs],
        inputs: Inputs,
        ctx: RunContext,
        output_name: OutputNames | None,
        run: RunPipeline | None,
    ) -> list[Outputs]:
        runner = self.node_executor.run_pipeline if run is None else run
        return self.map_executor.map_items_with(pipeline, items, inputs, ctx, output_name, runner)

    @override
    def close(self) -> None:
        self.map_executor.close()
        self.node_executor.close()

    @override
    def _arguments(self) -> dict[str, Any]:
        return {"map_executor": self.map_executor, "node_executor": self.node_executor}
