"""``RecordingCallback``: a callback that keeps every event, for tests of any executor."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hypernodes.callbacks.base import PipelineCallback
from hypernodes.callbacks.context import CallbackContext

__all__ = ["Event", "RecordingCallback"]


@dataclass(frozen=True, slots=True)
class Event:
    """One hook call as recorded: the hook, where it fired, and its main argument."""

    hook: str
    path: tuple[str, ...]
    depth: int
    item_index: int | None
    subject: Any  # the node name, the map total or item index, or None
    run_id: str
    frame_id: str = ""
    parent_frame_id: str | None = None


class RecordingCallback(PipelineCallback):
    """Record every hook call (thread safe), so tests can assert on the sequence."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.states: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # guards events and states

    def _record(self, hook: str, ctx: CallbackContext, subject: Any = None) -> None:
        with self._lock:
            self.events.append(
                Event(hook, ctx.path, ctx.depth, ctx.item_index, subject, ctx.run_id, ctx.frame_id, ctx.parent_frame_id)
            )
            if not any(state is ctx.state for state in self.states):
                self.states.append(ctx.state)

    def hooks(self, hook: str) -> list[Event]:
        """Return the recorded events of `hook`, in order."""
        return [e for e in self.events if e.hook == hook]

    def on_pipeline_start(self, ctx: CallbackContext, inputs: Mapping[str, Any]) -> None:
        self._record("on_pipeline_start", ctx)

    def on_pipeline_end(self, ctx: CallbackContext, outputs: Mapping[str, Any], duration: float) -> None:
        self._record("on_pipeline_end", ctx)

    def on_node_start(self, ctx: CallbackContext, node: str, inputs: Mapping[str, Any]) -> None:
        self._record("on_node_start", ctx, node)

    def on_node_end(self, ctx: CallbackContext, node: str, outputs: Mapping[str, Any], duration: float) -> None:
        self._record("on_node_end", ctx, node)

    def on_node_cached(self, ctx: CallbackContext, node: str, signature: str) -> None:
        self._record("on_node_cached", ctx, node)

    def on_node_error(self, ctx: CallbackContext, node: str, error: BaseException) -> None:
        self._record("on_node_error", ctx, (node, type(error).__name__))

    def on_map_start(self, ctx: CallbackContext, total: int) -> None:
        self._record("on_map_start", ctx, total)

    def on_map_item_start(self, ctx: CallbackContext, index: int) -> None:
        self._record("on_map_item_start", ctx, index)

    def on_map_item_end(self, ctx: CallbackContext, index: int, duration: float) -> None:
        self._record("on_map_item_end", ctx, index)

    def on_map_end(self, ctx: CallbackContext, duration: float) -> None:
        self._record("on_map_end", ctx)

    def on_nested_pipeline_start(self, ctx: CallbackContext, node: str) -> None:
        self._record("on_nested_pipeline_start", ctx, node)

    def on_nested_pipeline_end(self, ctx: CallbackContext, node: str, duration: float) -> None:
        self._record("on_nested_pipeline_end", ctx, node)
