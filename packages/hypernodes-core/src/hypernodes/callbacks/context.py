"""The ``CallbackContext`` every hook receives first."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CallbackContext"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackContext:
    """Where in a run a hook fires.

    Attributes:
        run_id: Identifies the root run (the outermost ``run`` or ``map`` call).
        pipeline: Name of the pipeline the event belongs to.
        path: Pipeline names from the root to this pipeline, root first.
        depth: Nesting depth; 0 at the root.
        item_index: The map item being processed (innermost map), or None outside a map.
        item_indices: For each level of ``path``, the map item being run at that level (None
            where the level is not a map item); tells apart the items of nested maps.
        state: A dict shared by all callbacks of one run, for their own bookkeeping.
    """

    run_id: str
    pipeline: str
    path: tuple[str, ...]
    depth: int = 0
    item_index: int | None = None
    item_indices: tuple[int | None, ...] = ()
    state: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
