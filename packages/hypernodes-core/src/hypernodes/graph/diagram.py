"""The neutral picture of a pipeline that ``to_dot``, ``to_mermaid`` and ``visualize`` draw.

A :class:`Diagram` holds a pipeline's inputs (required, optional with their defaults, bound),
its nodes with their outputs, nested pipelines as clusters (or one box each, beyond the
depth drawn), the edges between them by name, and which nodes a request would run.
``graph/diagram_builder.py`` makes one from a pipeline and :class:`DiagramOptions`; the
renderers in ``graph/diagram_text.py`` only format it, so every format shows the same picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

from hypernodes.errors import InvalidArgumentError
from hypernodes.graph.pipeline_node import did_you_mean

if TYPE_CHECKING:
    from hypernodes._types import OutputNames
    from hypernodes.config.runtime import RuntimeConfig

__all__ = [
    "ORIENTS",
    "Diagram",
    "DiagramCluster",
    "DiagramEdge",
    "DiagramItem",
    "DiagramKind",
    "DiagramNode",
    "DiagramOptions",
    "DiagramState",
    "Orient",
    "OutputRow",
    "walk",
]

DiagramKind = Literal["input", "optional", "bound", "function", "pipeline"]
"""What a box stands for: an input (required, optional, bound), a function node, a collapsed pipeline."""
DiagramState = Literal["plain", "active", "inactive"]
"""``plain`` without ``output_name``; otherwise whether a run of that output would use it."""
Orient = Literal["TB", "LR", "BT", "RL"]
"""Which way the arrows point: top to bottom, left to right, and the reverses."""
ORIENTS: tuple[Orient, ...] = ("TB", "LR", "BT", "RL")


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputRow:
    """One output of a node, as its box lists it.

    Attributes:
        name: The output's name where it is produced.
        type_name: Its type from the return annotation, or None (unknown, or types hidden).
        exposed_as: The outer name a nested pipeline exposes it under, when renamed.
        requested: It is one of the outputs the caller asked for (``output_name``).
    """

    name: str
    type_name: str | None = None
    exposed_as: str | None = None
    requested: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DiagramNode:
    """One box: an input, a function node, or a nested pipeline drawn collapsed.

    Attributes:
        id: A stable id, unique in the diagram, made of the kind and the node's path.
        kind: What the box stands for.
        title: The input's or node's name.
        type_name: For inputs, the type annotated on the parameter that reads it.
        value: For optional and bound inputs, the default or bound value (a short repr).
        outputs: For nodes, their outputs in order.
        notes: Extra lines: what a mapped pipeline maps over, the config a node runs with.
        mapped: A collapsed pipeline that runs once per item.
        state: Whether a run of the requested outputs uses this box.
    """

    id: str
    kind: DiagramKind
    title: str
    type_name: str | None = None
    value: str | None = None
    outputs: tuple[OutputRow, ...] = ()
    notes: tuple[str, ...] = ()
    mapped: bool = False
    state: DiagramState = "plain"


@dataclass(frozen=True, slots=True, kw_only=True)
class DiagramCluster:
    """A nested pipeline drawn expanded: a frame around its own inputs and nodes.

    Attributes:
        id: A stable id starting with ``cluster_`` (Graphviz draws only such subgraphs as frames).
        title: The pipeline node's name.
        notes: Extra lines, as on :class:`DiagramNode`.
        mapped: The nested pipeline runs once per item.
        state: Whether a run of the requested outputs enters this pipeline.
        items: What the frame holds, in order.
    """

    id: str
    title: str
    notes: tuple[str, ...] = ()
    mapped: bool = False
    state: DiagramState = "plain"
    items: tuple[DiagramItem, ...] = ()


DiagramItem: TypeAlias = DiagramNode | DiagramCluster
"""What a diagram or a cluster holds."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DiagramEdge:
    """A value flowing from the box that makes it to a box that reads it.

    Attributes:
        source: The id of the input or node that makes the value.
        target: The id of the node that reads it.
        label: The value's name (``outer → inner`` when renamed on the way), or empty for an
            input read under its own name.
        state: ``active`` when the reading node would run for the requested outputs.
    """

    source: str
    target: str
    label: str
    state: DiagramState = "plain"


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagram:
    """The whole picture of one pipeline.

    Attributes:
        title: The pipeline's name.
        orient: Which way the arrows point.
        items: The top level's inputs, nodes and clusters, in order.
        edges: Every edge, in the order the reading nodes appear.
    """

    title: str
    orient: Orient
    items: tuple[DiagramItem, ...]
    edges: tuple[DiagramEdge, ...]

    def walk(self) -> list[DiagramItem]:
        """Return every node and cluster, depth first, in drawing order."""
        return walk(self.items)


def walk(items: tuple[DiagramItem, ...]) -> list[DiagramItem]:
    """Return `items` and everything inside their clusters, depth first, in drawing order."""
    found: list[DiagramItem] = []
    stack = list(reversed(items))
    while stack:
        item = stack.pop()
        found.append(item)
        if isinstance(item, DiagramCluster):
            stack.extend(reversed(item.items))
    return found


@dataclass(frozen=True, kw_only=True)
class DiagramOptions:
    """What a picture shows: the arguments of ``Pipeline.visualize``, ``to_dot`` and ``to_mermaid``.

    Attributes:
        depth: Levels to draw: 1 draws nested pipelines as one box each, None opens every level.
        orient: Which way the arrows point.
        show_types: Show annotated types.
        output_name: Highlight what a run of these outputs executes (a tuple when several).
        show_config: Show each node's executor and backend, from ``Pipeline.explain``.
        config: The call-site config that `show_config` explains.

    Raises:
        InvalidArgumentError: `depth` is not a positive int or None, or `orient` is unknown.

    >>> DiagramOptions(depth=None, output_name=["a", "b"]).output_name
    ('a', 'b')
    """

    depth: int | None = 1
    orient: Orient = "TB"
    show_types: bool = True
    output_name: OutputNames | None = None
    show_config: bool = False
    config: RuntimeConfig | None = None

    def __post_init__(self) -> None:
        depth = self.depth
        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
            raise InvalidArgumentError(
                f"depth must be a positive int (1 draws nested pipelines as one box) or None "
                f"(expand every level), got {depth!r}"
            )
        if self.orient not in ORIENTS:
            raise InvalidArgumentError(
                f"orient must be one of {', '.join(map(repr, ORIENTS))}, got {self.orient!r}."
                + did_you_mean(str(self.orient), ORIENTS)
            )
        if self.output_name is not None and not isinstance(self.output_name, str):
            object.__setattr__(self, "output_name", tuple(self.output_name))
