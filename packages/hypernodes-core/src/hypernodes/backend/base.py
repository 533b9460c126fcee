"""The ``Backend`` extension point: WHERE a pipeline runs."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Self

if TYPE_CHECKING:
    from hypernodes._types import Inputs, OutputNames, Outputs
    from hypernodes.engine.context import RunContext
    from hypernodes.graph.pipeline import Pipeline

__all__ = ["Backend"]


class Backend(abc.ABC):
    """Decide where a pipeline runs; the executor of ``ctx.config`` decides how.

    A backend receives a pipeline whose inputs were already validated, and returns the
    outputs named by `output_name` (all outputs when None). Remote backends ship the pipeline,
    the inputs and a config whose backend is local to the target, and run it there with the
    same executor, cache spec and callbacks (events relayed back).

    Attributes:
        is_remote: The backend runs levels in another process or machine. The caller then
            does not build the level's cache (a ``CacheSpec`` is built where the run executes:
            a disk cache's directory may not even exist here, e.g. a Modal volume's mount).
    """

    is_remote: ClassVar[bool] = False

    @abc.abstractmethod
    def run(
        self, pipeline: Pipeline, inputs: Inputs, ctx: RunContext, output_name: OutputNames | None
    ) -> Outputs:
        """Run `pipeline` once on `inputs` and return its outputs."""

    @abc.abstractmethod
    def map(
        self,
        pipeline: Pipeline,
        items: Sequence[Inputs],
        inputs: Inputs,
        ctx: RunContext,
        output_name: OutputNames | None,
    ) -> list[Outputs]:
        """Run `pipeline` once per item (each item's values over the shared `inputs`).

        Returns:
            One outputs dict per item, in item order.
        """

    def close(self) -> None:
        """Free what the backend holds (a connection, an app session). Safe to call several times."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
