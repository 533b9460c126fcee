"""``SequentialExecutor``: one step and one item at a time, in the caller's thread."""

from __future__ import annotations

from typing import Any

from typing_extensions import override

from hypernodes.executor import InlineExecutor
from hypernodes.executors._base import LocalExecutor

__all__ = ["SequentialExecutor"]


class SequentialExecutor(InlineExecutor, LocalExecutor):
    """Run steps in dependency order and items in item order, in the caller's thread.

    Choose it to debug (plain tracebacks, breakpoints work, no concurrency), for runs too
    small to gain from parallelism, or inside code that must not start threads. It owns no
    resources, adds the least overhead and cannot deadlock. It is core's ``InlineExecutor``
    with an identity that survives pickling (shared by the executors of this package).

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
    def _arguments(self) -> dict[str, Any]:
        return {}

    @override
    def __repr__(self) -> str:
        return "SequentialExecutor()"
