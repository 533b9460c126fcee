"""``build_diagram``: walk a pipeline once, level by level, into a :class:`Diagram`.

Ids are made of the kind and the node's path (``node_per_document__clean``) and the order
follows the pipeline's, so the same pipeline always gives the same diagram, and the same text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hypernodes.engine.plan import NestedStep  # a diagram reads plans; only Pipeline's methods import this module
from hypernodes.graph._diagram_facts import (
    UNKNOWN,
    bound_inputs,
    default_text,
    exposed_outputs,
    input_type,
    output_type,
    short,
)
from hypernodes.graph.diagram import (
    Diagram,
    DiagramCluster,
    DiagramEdge,
    DiagramItem,
    DiagramKind,
    DiagramNode,
    DiagramOptions,
    DiagramState,
    OutputRow,
)
from hypernodes.graph.pipeline_node import PipelineNode

if TYPE_CHECKING:
    from hypernodes.config.runtime import RuntimeConfig
    from hypernodes.engine.plan import ExecutionPlan
    from hypernodes.graph.pipeline import AnyNode, Pipeline

__all__ = ["build_diagram"]


def build_diagram(pipeline: Pipeline, options: DiagramOptions | None = None) -> Diagram:
    """Describe `pipeline` as a :class:`Diagram`, drawn as `options` say (default: the defaults).

    Raises:
        InvalidArgumentError: ``options.output_name`` names no output of the pipeline.
    """
    options = options or DiagramOptions()
    plan = None if options.output_name is None else pipeline.plan(options.output_name)
    configs = None
    if options.show_config:
        configs = {row.node: row.config for row in pipeline.explain(options.config)}
    builder = _Builder(depth=options.depth, show_types=options.show_types, configs=configs, highlight=plan is not None)
    requested = frozenset(plan.outputs) if plan is not None else frozenset()
    root = _Level(path=(), number=1, plan=plan, active=True, requested=requested, renames={})
    items, _ = builder.level(pipeline, root, {})
    return Diagram(title=pipeline.name, orient=options.orient, items=tuple(items), edges=tuple(builder.edges))


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
        bound = bound_inputs(pipeline)
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
                exposed = exposed_outputs(member)
                inner = _Level(
                    path=(*level.path, member.name),
                    number=level.number + 1,
                    plan=member.pipeline.plan(step.inner_output_names) if isinstance(step, NestedStep) else None,
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
            kind, value = "bound", None if bound[name] is UNKNOWN else short(repr(bound[name]))
        elif name in pipeline.optional_args:
            kind, value = "optional", default_text(pipeline, name)
        active = level.plan is not None and level.active and name in level.plan.inputs
        return DiagramNode(
            id=self._new_id("input", level.path, name),
            kind=kind,
            title=name,
            type_name=input_type(pipeline, name) if self.show_types else None,
            value=value,
            state=self._state(active),
        )

    def _member(self, member: AnyNode, level: _Level, state: DiagramState, pipeline: Pipeline) -> DiagramNode:
        rows = tuple(
            OutputRow(
                name=o,
                type_name=output_type(pipeline, o) if self.show_types else None,
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
                note = f"{short(repr(config.executor))} on {short(repr(config.backend))}"
                if note not in notes:
                    notes.append(note)
        return tuple(notes)

    def _state(self, active: bool) -> DiagramState:
        if not self.highlight:
            return "plain"
        return "active" if active else "inactive"

    def _new_id(self, kind: str, path: tuple[str, ...], name: str) -> str:
        # ASCII letters, digits and "_" only: an id both DOT and Mermaid take without quotes.
        base = kind + "_" + "__".join(re.sub(r"[^A-Za-z0-9_]", "_", part) for part in (*path, name))
        candidate, suffix = base, 2
        while candidate in self._ids:
            candidate, suffix = f"{base}_{suffix}", suffix + 1
        self._ids.add(candidate)
        return candidate
