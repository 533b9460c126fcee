"""``CompositeExecutor``: map items through one executor, each item's steps through another."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typing_extensions import override

from hypernodes import InvalidArgumentError
from hypernodes.executor import Executor
from hypernodes.executors._base import LocalExecutor

if TYPE_CHECKING:
    from hypernodes._types import Outputs
    from hypernodes.executor import MapRequest, RunRequest

__all__ = ["CompositeExecutor"]


class CompositeExecutor(LocalExecutor):
    """Schedule map items with `map_executor` and the steps of each item with `node_executor`.

    Choose it when the two levels want different concurrency, e.g. threads across items and
    asyncio within an item whose nodes are concurrent ``async def`` calls::

        CompositeExecutor(map_executor=ThreadPoolExecutor(8), node_executor=AsyncExecutor())

    or worker processes across items, each item's independent nodes on threads in its
    worker. A single run (not a map) goes to `node_executor`. The composite owns both: its
    :meth:`close` closes them.

    Args:
        map_executor: Schedules the items of a map; any executor whose ``map_items`` runs
            each item through ``request.runner`` (all of this package's do).
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

    def __init__(self, map_executor: Executor, node_executor: Executor) -> None:
        super().__init__()
        for argument, value, example in (
            ("map_executor", map_executor, "ThreadPoolExecutor(8)"),
            ("node_executor", node_executor, "AsyncExecutor()"),
        ):
            if not isinstance(value, Executor):
                raise InvalidArgumentError(
                    f"CompositeExecutor({argument}=...) needs an Executor such as {example}, got {value!r}"
                )
        self.map_executor = map_executor
        self.node_executor = node_executor

    @override
    def run_pipeline(self, request: RunRequest) -> Outputs:
        return self.node_executor.run_pipeline(request)

    @override
    def map_items(self, request: MapRequest) -> list[Outputs]:
        if request.runner is None:
            request = request.replace(runner=self.node_executor.run_pipeline)
        return self.map_executor.map_items(request)

    @override
    def close(self) -> None:
        self.map_executor.close()
        self.node_executor.close()
        self.close_resources()  # the node calls of its levels use the composite's own pool

    @override
    def _arguments(self) -> dict[str, Any]:
        return {"map_executor": self.map_executor, "node_executor": self.node_executor}
