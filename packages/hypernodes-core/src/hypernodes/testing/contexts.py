"""Callback contexts shaped as the engine makes them, for tests that drive a callback's hooks by hand.

Each level of a run is a frame: a map item's parent frame is its map's, a nested level's
parent frame is the one that ran its node. Frame ids are readable here: a root is named
after its run and pipeline (``"r1:prep"``), a map item after its map's frame and index
(``"r1:prep[1]"``), a nested level after its parent frame and node (``"r1:prep[1]/per_doc"``).

>>> ctx = nested(item(root("prep"), 1), "per_doc")
>>> ctx.path, ctx.item_index, ctx.frame_id, ctx.parent_frame_id
(('prep', 'per_doc'), 1, 'r1:prep[1]/per_doc', 'r1:prep[1]')
"""

from __future__ import annotations

import dataclasses

from hypernodes.callbacks.context import CallbackContext

__all__ = ["item", "nested", "root"]


def root(name: str, run: str = "r1") -> CallbackContext:
    """Return the context of a root run (or root map) of pipeline `name`."""
    return CallbackContext(run_id=run, pipeline=name, path=(name,), frame_id=f"{run}:{name}")


def item(map_ctx: CallbackContext, index: int) -> CallbackContext:
    """Return the context of item `index` of the map whose context is `map_ctx`."""
    return dataclasses.replace(
        map_ctx,
        item_index=index,
        item_indices=(*map_ctx.item_indices[:-1], index) if map_ctx.item_indices else (index,),
        frame_id=f"{map_ctx.frame_id}[{index}]",
        parent_frame_id=map_ctx.frame_id,
    )


def nested(ctx: CallbackContext, node: str) -> CallbackContext:
    """Return the context of the nested pipeline (or nested map) that node `node` of `ctx` runs."""
    return dataclasses.replace(
        ctx,
        pipeline=node,
        path=(*ctx.path, node),
        depth=ctx.depth + 1,
        item_indices=(*ctx.item_indices, None),
        frame_id=f"{ctx.frame_id}/{node}",
        parent_frame_id=ctx.frame_id,
    )
