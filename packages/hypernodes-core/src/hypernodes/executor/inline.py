"""``InlineExecutor``: run everything in the calling thread, one step and one item at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from typing_extensions import override

from hypernodes.engine.engine import ENGINE
from hypernodes.executor.base import Executor

if TYPE_CHECKING:
    from hypernodes._types import Outputs
    from hypernodes.executor.request import MapRequest, RunRequest

__all__ = ["InlineExecutor"]


class InlineExecutor(Executor):
    """Run steps in dependency order and items in item order, in the caller's thread.

    This is core's executor, the default when hypernodes-executors is not installed. It has
    no resources, never deadlocks and adds the least overhead.
    """

    @override
    def run_pipeline(self, request: RunRequest) -> Outputs:
        return ENGINE.run_in_order(request)

    @override
    def map_items(self, request: MapRequest) -> list[Outputs]:
        run_item = ENGINE.run_item
        run = request.runner or ENGINE.run_in_order  # skips a call level per item
        return [run_item(request, position, run) for position in range(len(request.items))]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
