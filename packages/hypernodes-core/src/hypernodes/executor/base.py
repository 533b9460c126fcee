"""The ``Executor`` extension point: HOW nodes and map items are scheduled."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from hypernodes._types import Inputs, OutputNames, Outputs
    from hypernodes.engine.context import RunContext
    from hypernodes.graph.pipeline import Pipeline

__all__ = ["Executor"]


class Executor(abc.ABC):
    """Schedule the nodes of a run and the items of a map.

    An executor only decides what runs when and where; what running one node means (input
    resolution, cache, callbacks, retries, timeout, nested pipelines) is the
    :class:`~hypernodes.PipelineExecutionEngine`'s, which every executor calls. An executor
    owns its resources (pools, clients): it makes them on first use and frees them in
    :meth:`close`, which ``__exit__`` calls and which is safe to call several times.
    """

    @abc.abstractmethod
    def run_pipeline(
        self, pipeline: Pipeline, inputs: Inputs, ctx: RunContext, output_name: OutputNames | None
    ) -> Outputs:
        """Run `pipeline` once on validated `inputs`; return the outputs `output_name` selects."""

    @abc.abstractmethod
    def map_items(
        self,
        pipeline: Pipeline,
        items: Sequence[Inputs],
        inputs: Inputs,
        ctx: RunContext,
        output_name: OutputNames | None,
    ) -> list[Outputs]:
        """Run `pipeline` once per item (over the shared `inputs`); return outputs in item order."""

    def close(self) -> None:
        """Free the executor's resources. Safe to call several times."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
