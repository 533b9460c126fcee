"""``PipelineCallback``: the hooks users override to observe runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypernodes.callbacks.context import CallbackContext

__all__ = ["HOOK_NAMES", "PipelineCallback"]


class PipelineCallback:
    """Observe pipeline runs; override only the hooks you need.

    Every hook does nothing by default and receives a :class:`CallbackContext` first. Hooks
    fire in the caller's process whatever the executor: events from worker threads,
    processes and cluster tasks are relayed back. A hook that raises is reported as a warning
    and never breaks the run. Hooks may be called from several threads at once (a thread pool
    runs items concurrently), so guard shared state with a lock.

    Example:
        >>> class CountNodes(PipelineCallback):
        ...     def __init__(self) -> None:
        ...         self.calls = 0
        ...     def on_node_end(self, ctx, node, outputs, duration):
        ...         self.calls += 1
    """

    def on_pipeline_start(self, ctx: CallbackContext, inputs: Mapping[str, Any]) -> None:
        """Call when a pipeline run (root or nested) starts, with its inputs."""

    def on_pipeline_end(self, ctx: CallbackContext, outputs: Mapping[str, Any], duration: float) -> None:
        """Call when a pipeline run ends successfully, with its outputs and its duration in seconds."""

    def on_node_start(self, ctx: CallbackContext, node: str, inputs: Mapping[str, Any]) -> None:
        """Call before a node's function is called (not for cache hits)."""

    def on_node_end(
        self, ctx: CallbackContext, node: str, outputs: Mapping[str, Any], duration: float
    ) -> None:
        """Call after a node's function returned, with its outputs by name."""

    def on_node_cached(self, ctx: CallbackContext, node: str, signature: str) -> None:
        """Call when a node's outputs come from the cache instead of a call."""

    def on_node_error(self, ctx: CallbackContext, node: str, error: BaseException) -> None:
        """Call when a node raised (after its retries were used up)."""

    def on_map_start(self, ctx: CallbackContext, total: int) -> None:
        """Call when a map over `total` items starts."""

    def on_map_item_start(self, ctx: CallbackContext, index: int) -> None:
        """Call when one map item starts."""

    def on_map_item_end(self, ctx: CallbackContext, index: int, duration: float) -> None:
        """Call when one map item finished successfully."""

    def on_map_end(self, ctx: CallbackContext, duration: float) -> None:
        """Call when a map ends, also when some of its items failed."""

    def on_nested_pipeline_start(self, ctx: CallbackContext, node: str) -> None:
        """Call when a nested pipeline node starts; `ctx` is the enclosing pipeline's."""

    def on_nested_pipeline_end(self, ctx: CallbackContext, node: str, duration: float) -> None:
        """Call when a nested pipeline node ends; `ctx` is the enclosing pipeline's."""


HOOK_NAMES: tuple[str, ...] = tuple(name for name in vars(PipelineCallback) if name.startswith("on_"))
"""Every hook name, in declaration order."""
