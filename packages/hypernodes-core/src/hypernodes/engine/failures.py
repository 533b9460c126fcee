"""``ItemFailure``: what a failed map item's outputs hold under ``on_error="continue"``."""

from __future__ import annotations

import pickle
import traceback as traceback_module
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ErrorPolicy", "ItemFailure", "failure_of"]

ErrorPolicy = Literal["raise", "continue"]
"""What a map does when an item fails: stop at the first failure, or finish the other items."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemFailure:
    """Stands in for every output of a map item that failed, under ``on_error="continue"``.

    The item's other outputs are not computed (the nodes after the failing one do not run),
    the successful items are cached as usual, and a rerun recomputes only the failed items.
    An ``ItemFailure`` is falsy, so ``[v for v in results if v]`` keeps the successes.

    Attributes:
        exception: What the node raised (with its notes), or, if it could not cross a
            process boundary, a ``RuntimeError`` with its text.
        node_name: The node that raised (None if the failure came from elsewhere).
        item_index: The item's position in the map.
        path: Pipeline names from the root to the mapped pipeline.
        traceback: The formatted traceback, as text.
    """

    exception: BaseException
    node_name: str | None
    item_index: int
    path: tuple[str, ...]
    traceback: str

    def __bool__(self) -> bool:
        return False

    @classmethod
    def of(cls, exception: BaseException, item_index: int, path: tuple[str, ...]) -> ItemFailure:
        """Return the record of `exception`, raised by map item `item_index` of the pipeline at `path`.

        The failing node is read from the note the engine added to the exception. Executors
        that run items themselves (instead of through ``run_item``) build their records so.
        """
        return cls(
            exception=exception,
            node_name=getattr(exception, "_hypernodes_node_name", None),
            item_index=item_index,
            path=path,
            traceback="".join(traceback_module.format_exception(exception)),
        )

    def __repr__(self) -> str:
        node = "" if self.node_name is None else f" in node {self.node_name!r}"
        return f"<ItemFailure item {self.item_index}{node}: {type(self.exception).__name__}: {self.exception}>"

    def __reduce__(self) -> tuple[Any, ...]:
        exception = self.exception
        try:
            pickle.dumps(exception)
        except Exception:  # it cannot travel: keep its text
            exception = RuntimeError(f"{type(exception).__name__}: {exception}")
        return (_rebuild, (exception, self.node_name, self.item_index, self.path, self.traceback))


def _rebuild(
    exception: BaseException, node_name: str | None, item_index: int, path: tuple[str, ...], traceback: str
) -> ItemFailure:
    return ItemFailure(exception=exception, node_name=node_name, item_index=item_index, path=path, traceback=traceback)


def failure_of(exception: BaseException, item_index: int, path: tuple[str, ...]) -> ItemFailure:
    """Return the record of `exception` (see :meth:`ItemFailure.of`)."""
    return ItemFailure.of(exception, item_index, path)
