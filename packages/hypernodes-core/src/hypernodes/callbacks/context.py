"""The ``CallbackContext`` every hook receives first."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CallbackContext"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackContext:
    """Where in a run a hook fires.

    Every level of a run (the root run, each map item, each nested pipeline run, a nested
    map) is a *frame* with its own id; ``parent_frame_id`` names the frame that started it,
    so a callback can place an event without guessing, whichever thread, process or cluster
    task it came from:

    * a map item's parent is the frame of the map (the level whose ``on_map_start`` fired);
    * a nested pipeline's (or nested map's) parent is the frame that ran the nested node,
      and ``path[-1]`` is that node's name.

    Attributes:
        run_id: Identifies the root run (the outermost ``run`` or ``map`` call).
        pipeline: Name of the pipeline the event belongs to.
        path: Pipeline names from the root to this pipeline, root first.
        depth: Nesting depth; 0 at the root.
        item_index: The map item being processed (innermost map), or None outside a map.
        item_indices: For each level of ``path``, the map item being run at that level (None
            where the level is not a map item); tells apart the items of nested maps.
        frame_id: Identifies this level of the run (unique across processes).
        parent_frame_id: The frame that started this one; None at the root.
        state: A dict shared by all callbacks of one run, for their own bookkeeping.
    """

    run_id: str
    pipeline: str
    path: tuple[str, ...]
    depth: int = 0
    item_index: int | None = None
    item_indices: tuple[int | None, ...] = ()
    frame_id: str = ""
    parent_frame_id: str | None = None
    state: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
