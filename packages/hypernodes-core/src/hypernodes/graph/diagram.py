"""The neutral picture of a pipeline that ``to_dot``, ``to_mermaid`` and ``visualize`` draw.

:func:`build_diagram` walks a pipeline once and returns a :class:`Diagram`: its inputs
(required, optional with their defaults, bound), its nodes with their outputs, nested
pipelines as clusters expanded to a depth (one box beyond it), the edges between them by
name, and which nodes a request would run. The renderers in ``graph/diagram_text.py`` only
format it, so every format shows the same picture. Ids are built from names and the order
follows the pipeline's, so the same pipeline always gives the same text.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, get_args

from hypernodes.errors import InvalidArgumentError
from hypernodes.graph.pipeline_node import PipelineNode, did_you_mean

if TYPE_CHECKING:
    from hypernodes._types import OutputNames
    from hypernodes.config.runtime import RuntimeConfig
    from hypernodes.engine.plan import ExecutionPlan
    from hypernodes.graph.pipeline import AnyNode, Pipeline

__all__ = [
    "ORIENTS",
    "Diagram",
    "DiagramCluster",
    "DiagramEdge",
    "DiagramItem",
    "DiagramKind",
    "DiagramNode",
    "DiagramState",
    "Orient",
    "OutputRow",
    "build_diagram",
    "walk",
]

DiagramKind = Literal["input", "optional", "bound", "function", "pipeline"]
"""What a box stands for: an input (required, optional, bound), a function node, a collapsed pipeline."""
DiagramState = Literal["plain", "active", "inactive"]
"""``plain`` without ``output_name``; otherwise whether a run of that output would use it."""
Orient = Literal["TB", "LR", "BT", "RL"]
"""Which way the arrows point: top to bottom, left to right, and the reverses."""
ORIENTS: tuple[Orient, ...] = ("TB", "LR", "BT", "RL")

_MAX_TEXT = 40  # longer types and values are cut, so one long repr cannot stretch the picture


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


def build_diagram(
    pipeline: Pipeline,
    *,
    depth: int | None = 1,
    orient: Orient = "TB",
    show_types: bool = True,
    output_name: OutputNames | None = None,
    show_config: bool = False,
    config: RuntimeConfig | None = None,
) -> Diagram:
    """Describe `pipeline` as a :class:`Diagram`; the arguments are those of ``Pipeline.visualize``.

    Raises:
        InvalidArgumentError: `depth` is not a positive int or None, `orient` is unknown, or
            `output_name` names no output of the pipeline.
    """
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise InvalidArgumentError(
            f"depth must be a positive int (1 draws nested pipelines as one box) or None "
            f"(expand every level), got {depth!r}"
        )
    if orient not in ORIENTS:
        raise InvalidArgumentError(
            f"orient must be one of {', '.join(map(repr, ORIENTS))}, got {orient!r}."
            + did_you_mean(str(orient), ORIENTS)
        )
    plan = None if output_name is None else pipeline.plan(output_name)
    configs = {row.node: row.config for row in pipeline.explain(config)} if show_config else None
    builder = _Builder(depth=depth, show_types=show_types, configs=configs, highlight=plan is not None)
    requested = frozenset(plan.outputs) if plan is not None else frozenset()
    root = _Level(path=(), number=1, plan=plan, active=True, requested=requested, renames={})
    items, _ = builder.level(pipeline, root, {})
    return Diagram(title=pipeline.name, orient=orient, items=tuple(items), edges=tuple(builder.edges))


@dataclass(frozen=True, slots=True, kw_only=True)
class _Endpoint:
    """Where a name's value comes from: the box that makes it and the name it has there."""

    node_id: str
    name: str
    is_input: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class _Level:
    """One pipeline being drawn: where it sits, and what a request needs of it."""

    path: tuple[str, ...]  # node names from the root down to this level's pipeline node
    number: int  # 1 at the root
    plan: ExecutionPlan | None  # what the request runs here (None: no highlighting, or nothing)
    active: bool  # the request enters this level
    requested: frozenset[str]  # this level's output names the caller asked for, maybe renamed
    renames: Mapping[str, str]  # output -> the outer name the enclosing node exposes it under


class _Builder:
    """Walk a pipeline level by level, making ids, boxes and edges."""

    def __init__(
        self,
        *,
        depth: int | None,
        show_types: bool,
        configs: Mapping[str, RuntimeConfig] | None,
        highlight: bool,
    ) -> None:
        self.depth = depth
        self.show_types = show_types
        self.configs = configs
        self.highlight = highlight
        self.edges: list[DiagramEdge] = []
        self._ids: set[str] = set()

    def level(
        self, pipeline: Pipeline, level: _Level, sources: Mapping[str, _Endpoint]
    ) -> tuple[list[DiagramItem], dict[str, _Endpoint]]:
        """Draw one pipeline; return its items and where each of its outputs is made."""
        items: list[DiagramItem] = []
        available = dict(sources)
        bound = _bound_inputs(pipeline)
        for name in (*pipeline.root_args, *(b for b in bound if b not in pipeline.root_args)):
            if name not in available:
                box = self._input(pipeline, level, name, bound)
                items.append(box)
                available[name] = _Endpoint(node_id=box.id, name=name, is_input=True)
        planned = {id(step.node): step for step in level.plan.steps} if level.plan is not None else {}
        exits: dict[str, _Endpoint] = {}
        for member in pipeline.order:
            state = self._state(level.active and id(member) in planned)
            if isinstance(member, PipelineNode) and (self.depth is None or level.number < self.depth):
                step = planned.get(id(member))
                exposed = _exposed(member)
                inner = _Level(
                    path=(*level.path, member.name),
                    number=level.number + 1,
                    plan=member.pipeline.plan(step.inner_output_names) if step is not None else None,
                    active=state == "active",
                    requested=frozenset(o for o, outer in exposed.items() if outer in level.requested),
                    renames={o: outer for o, outer in exposed.items() if outer != o},
                )
                inner_sources = {member.inner_input_name(p): available[p] for p in member.parameters}
                inner_items, inner_exits = self.level(member.pipeline, inner, inner_sources)
                items.append(
                    DiagramCluster(
                        id=self._new_id("cluster", level.path, member.name),
                        title=member.name,
                        notes=self._notes(member, level.path, expanded=True),
                        mapped=bool(member.map_over),
                        state=state,
                        items=tuple(inner_items),
                    )
                )
                made = {outer: inner_exits[o] for o, outer in exposed.items()}
            else:
                box = self._member(member, level, state, pipeline)
                items.append(box)
                self._connect(member.parameters, box.id, available, state)
                made = {o: _Endpoint(node_id=box.id, name=o, is_input=False) for o in member.output_names}
            available.update(made)
            exits.update(made)
        return items, exits

    def _input(self, pipeline: Pipeline, level: _Level, name: str, bound: Mapping[str, object]) -> DiagramNode:
        kind: DiagramKind = "input"
        value = None
        if name in bound:
            kind, value = "bound", None if bound[name] is _UNKNOWN else _short(repr(bound[name]))
        elif name in pipeline.optional_args:
            kind, value = "optional", _default_text(pipeline, name)
        active = level.plan is not None and level.active and name in level.plan.inputs
        return DiagramNode(
            id=self._new_id("input", level.path, name),
            kind=kind,
            title=name,
            type_name=_input_type(pipeline, name) if self.show_types else None,
            value=value,
            state=self._state(active),
        )

    def _member(self, member: AnyNode, level: _Level, state: DiagramState, pipeline: Pipeline) -> DiagramNode:
        rows = tuple(
            OutputRow(
                name=o,
                type_name=_output_type(pipeline, o) if self.show_types else None,
                exposed_as=level.renames.get(o),
                requested=o in level.requested,
            )
            for o in member.output_names
        )
        return DiagramNode(
            id=self._new_id("node", level.path, member.name),
            kind="pipeline" if isinstance(member, PipelineNode) else "function",
            title=member.name,
            outputs=rows,
            notes=self._notes(member, level.path),
            mapped=isinstance(member, PipelineNode) and bool(member.map_over),
            state=state,
        )

    def _connect(
        self, parameters: tuple[str, ...], target: str, available: Mapping[str, _Endpoint], state: DiagramState
    ) -> None:
        for parameter in parameters:
            source = available[parameter]
            label = parameter if source.name == parameter else f"{source.name} → {parameter}"
            if source.is_input and source.name == parameter:
                label = ""  # the input's own box already says its name
            self.edges.append(DiagramEdge(source=source.node_id, target=target, label=label, state=state))

    def _notes(self, member: AnyNode, path: tuple[str, ...], expanded: bool = False) -> tuple[str, ...]:
        notes: list[str] = []
        if isinstance(member, PipelineNode):
            if member.name != member.pipeline.name:
                notes.append(f"pipeline {member.pipeline.name}")
            if member.map_over:
                over = ", ".join(member.map_over)
                notes.append(f"map over {over}" + (f" ({member.map_mode})" if len(member.map_over) > 1 else ""))
        if self.configs is not None and not expanded:  # an open frame's nodes say their own
            key = " > ".join((*path, member.name))
            inner = [c for name, c in self.configs.items() if name.startswith(key + " > ")]
            # A collapsed pipeline runs its nodes with their configs: list each one once.
            for config in inner if isinstance(member, PipelineNode) and inner else [self.configs[key]]:
                note = f"{_short(repr(config.executor))} on {_short(repr(config.backend))}"
                if note not in notes:
                    notes.append(note)
        return tuple(notes)

    def _state(self, active: bool) -> DiagramState:
        if not self.highlight:
            return "plain"
        return "active" if active else "inactive"

    def _new_id(self, kind: str, path: tuple[str, ...], name: str) -> str:
        base = kind + "_" + "__".join(re.sub(r"\W", "_", part) for part in (*path, name))
        candidate, suffix = base, 2
        while candidate in self._ids:
            candidate, suffix = f"{base}_{suffix}", suffix + 1
        self._ids.add(candidate)
        return candidate


_UNKNOWN = object()  # a bound input whose value the pipeline does not tell


def _bound_inputs(owner: object) -> Mapping[str, object]:
    """Return the inputs bound on `owner` (a pipeline or a node), read from ``bound_inputs``.

    The attribute may hold a mapping of values or only the names; a name alone is drawn
    without its value.
    """
    bound = getattr(owner, "bound_inputs", None)
    if bound is None:
        return {}
    if isinstance(bound, Mapping):
        return dict(bound)
    return dict.fromkeys(bound, _UNKNOWN)


def _exposed(member: PipelineNode) -> dict[str, str]:
    """Return inner output -> outer name for every output `member` exposes."""
    exposed: dict[str, str] = {}
    for inner in member.pipeline.output_names:
        try:
            outer = member.outer_output_name(inner)
        except KeyError:  # an inner output the node keeps private
            continue
        if outer in member.output_names:
            exposed[inner] = outer
    return exposed


def _short(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


def _annotation_text(annotation: object) -> str | None:
    """Return an annotation as a short readable string, or None when there is none."""
    if annotation is inspect.Parameter.empty:
        return None
    if isinstance(annotation, str):
        text = annotation
    elif isinstance(annotation, type) and not get_args(annotation):
        text = annotation.__qualname__
    else:
        text = repr(annotation)
    return _short(re.sub(r"(?:\b[A-Za-z_]\w*\.)+(?=[A-Za-z_])", "", text))  # typing.Optional -> Optional


def _signature(func: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):
        return None


def _split_tuple(text: str, count: int) -> tuple[str | None, ...]:
    """Split ``tuple[a, b]`` into its `count` items; unknown items are None."""
    match = re.fullmatch(r"\s*(?:tuple|Tuple)\[(.*)\]\s*", text)
    if match is None:
        return (None,) * count
    parts: list[str] = []
    depth, start, body = 0, 0, match.group(1)
    for i, char in enumerate(body):
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(body[start:i].strip())
            start = i + 1
    parts.append(body[start:].strip())
    return tuple(parts) if len(parts) == count else (None,) * count


def _output_type(pipeline: Pipeline, name: str) -> str | None:
    """Return the type of output `name` of `pipeline`, from its producer's annotations."""
    producer = pipeline.producers[name]
    if isinstance(producer, PipelineNode):
        inner = next((o for o, outer in _exposed(producer).items() if outer == name), None)
        found = None if inner is None else _output_type(producer.pipeline, inner)
        return f"list[{found}]" if found and producer.map_over else found
    signature = _signature(producer.func)
    if signature is None:
        return None
    returned = _annotation_text(signature.return_annotation)
    if returned is None or isinstance(producer.output_name, str):
        return returned
    return _split_tuple(returned, len(producer.output_names))[producer.output_names.index(name)]


def _input_type(pipeline: Pipeline, name: str) -> str | None:
    """Return the type the first node reading input `name` annotates it with."""
    for consumer in pipeline.consumers.get(name, ()):
        found: str | None
        if isinstance(consumer, PipelineNode):
            found = _input_type(consumer.pipeline, consumer.inner_input_name(name))
            found = f"list[{found}]" if found and name in consumer.map_over else found
        else:
            signature = _signature(consumer.func)
            found = None if signature is None else _annotation_text(signature.parameters[name].annotation)
        if found:
            return found
    return None


def _default_text(pipeline: Pipeline, name: str) -> str | None:
    """Return the default of optional input `name`, from the first node that declares one."""
    for consumer in pipeline.consumers.get(name, ()):
        if isinstance(consumer, PipelineNode):
            if name in consumer.optional:
                return _default_text(consumer.pipeline, consumer.inner_input_name(name))
        elif name in consumer.defaults:
            return _short(repr(consumer.defaults[name]))
    return None
