"""``SequentialExecutor``: one node and one item at a time, in the caller's thread."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from hypernodes import InlineExecutor
from hypernodes.engine.engine import ENGINE
from hypernodes.executors._base import LocalExecutor, RunPipeline

if TYPE_CHECKING:
    from hypernodes import Pipeline, RunContext
    from hypernodes._types import Inputs, OutputNames, Outputs

__all__ = ["SequentialExecutor"]


class SequentialExecutor(InlineExecutor, LocalExecutor):
    """Run nodes in dependency order and items in item order, in the caller's thread.

    Choose it to debug (plain tracebacks, breakpoints work, no concurrency), for runs too
    small to gain from parallelism, or inside code that must not start threads. It owns no
    resources, adds the least overhead and cannot deadlock. It is core's ``InlineExecutor``
    with what the other executors of this package share (``CompositeExecutor`` support and
    identity across processes).

    >>> from hypernodes import Pipeline, RuntimeConfig, node
    >>> @node(output_name="doubled")
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> Pipeline(nodes=[double]).map(inputs={"x": [1, 2]}, map_over="x",
    ...                              config=RuntimeConfig(executor=SequentialExecutor()))
    {'doubled': [2, 4]}
    """

    def __init__(self) -> None:
        LocalExecutor.__init__(self)

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
        run_item = ENGINE.run_item
        return [
            run_item(pipeline, index, item, inputs, ctx, output_name, run) for index, item in enumerate(items)
        ]

    @override
    def _arguments(self) -> dict[str, Any]:
        return {}

    @override
    def __repr__(self) -> str:
        return "SequentialExecutor()"
