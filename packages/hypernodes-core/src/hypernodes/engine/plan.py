"""Execution plans: which nodes a request needs, in which order, fed by what (built once)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from hypernodes.graph.pipeline import AnyNode, Pipeline, unknown_name_error
from hypernodes.graph.pipeline_node import PipelineNode

if TYPE_CHECKING:
    from hypernodes.config.runtime import RuntimeConfig

__all__ = ["ExecutionPlan", "Step", "build_plan"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One node of a plan, with everything a node call needs precomputed.

    Attributes:
        index: Position in :attr:`ExecutionPlan.steps`.
        node: The node (a ``Node`` or a ``PipelineNode``).
        name: The node's name.
        parameters: Input names, read from the run's values.
        has_optional: Whether some parameter has a default (and may be absent).
        output_names: Names the node's result is stored under.
        single: The node returns one value (not a tuple of outputs).
        dependencies: Indices of the steps producing this step's inputs.
        is_nested: The node is a nested pipeline node.
        is_async: The node's function is ``async def``.
        cacheable: The node's outputs may be cached.
        node_config: The node's own config, or None.
        inner_output_names: For nested nodes, the inner outputs this plan needs (None: all).
        solo: For nodes with their own config, a one-node pipeline to run under it.
        func: The node's function (None for nested nodes).
        output: The single output name (None for nested nodes and tuple outputs).
    """

    index: int
    node: AnyNode
    name: str
    parameters: tuple[str, ...]
    has_optional: bool
    output_names: tuple[str, ...]
    single: bool
    dependencies: tuple[int, ...]
    is_nested: bool
    is_async: bool
    cacheable: bool
    node_config: RuntimeConfig | None
    inner_output_names: tuple[str, ...] | None
    solo: Pipeline | None
    func: Callable[..., Any] | None
    output: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionPlan:
    """The steps one request runs, in dependency order.

    Attributes:
        pipeline: The planned pipeline.
        steps: The needed steps; each step's dependencies come earlier.
        outputs: The names returned to the caller.
        required_inputs: Input name -> names of the planned nodes that need it.
        inputs: Every input name a planned node reads (required or optional).
        dependents: For each step index, the indices of the steps that consume its outputs.
        is_plain: Every step is a sync function node with one output and no config of its own,
            so a run without cache, callbacks, retries or timeout can take the engine's fast loop.
    """

    pipeline: Pipeline
    steps: tuple[Step, ...]
    outputs: tuple[str, ...]
    required_inputs: Mapping[str, tuple[str, ...]]
    inputs: frozenset[str]
    dependents: tuple[tuple[int, ...], ...]
    is_plain: bool


def build_plan(pipeline: Pipeline, requested: tuple[str, ...] | None) -> ExecutionPlan:
    """Plan a run of `pipeline` returning `requested` outputs (all when None).

    Raises:
        InvalidArgumentError: A requested name is not an output of the pipeline.
    """
    producers = pipeline.producers
    if requested is None:
        needed: set[int] = {id(n) for n in pipeline.nodes}
        outputs = pipeline.output_names
    else:
        for name in requested:
            if name not in producers:
                raise unknown_name_error("output_name", name, pipeline, pipeline.output_names)
        outputs = tuple(dict.fromkeys(requested))
        needed = set()
        stack = [producers[name] for name in outputs]
        while stack:
            member = stack.pop()
            if id(member) in needed:
                continue
            needed.add(id(member))
            stack.extend(producers[p] for p in member.parameters if p in producers)
    members = [m for m in pipeline.order if id(m) in needed]
    # Which outputs of each planned node someone reads: downstream planned nodes or the caller.
    wanted: dict[int, set[str]] = {id(m): set() for m in members}
    for member in members:
        for parameter in member.parameters:
            if parameter in producers:
                wanted[id(producers[parameter])].add(parameter)
    for name in outputs:
        wanted[id(producers[name])].add(name)
    index_of = {id(m): i for i, m in enumerate(members)}
    steps = tuple(
        _make_step(i, member, producers, index_of, None if requested is None else wanted[id(member)])
        for i, member in enumerate(members)
    )
    required: dict[str, list[str]] = {}
    inputs: set[str] = set()
    for member in members:
        for parameter in member.parameters:
            if parameter in producers:
                continue
            inputs.add(parameter)
            if not _is_optional(member, parameter):
                required.setdefault(parameter, []).append(member.name)
    dependents: list[list[int]] = [[] for _ in steps]
    for step in steps:
        for dependency in step.dependencies:
            dependents[dependency].append(step.index)
    return ExecutionPlan(
        pipeline=pipeline,
        steps=steps,
        outputs=outputs,
        required_inputs=MappingProxyType({k: tuple(v) for k, v in required.items()}),
        inputs=frozenset(inputs),
        dependents=tuple(tuple(d) for d in dependents),
        is_plain=all(s.output is not None and not s.is_async and s.node_config is None for s in steps),
    )


def _is_optional(member: AnyNode, parameter: str) -> bool:
    if isinstance(member, PipelineNode):
        return parameter in member.optional
    return parameter in member.defaults


def _make_step(
    index: int,
    member: AnyNode,
    producers: Mapping[str, AnyNode],
    index_of: Mapping[int, int],
    wanted: set[str] | None,
) -> Step:
    dependencies = tuple(sorted({index_of[id(producers[p])] for p in member.parameters if p in producers}))
    if isinstance(member, PipelineNode):
        inner = None
        if wanted is not None:
            inner = tuple(o for o in member.pipeline.output_names if member.outer_output_name(o) in wanted)
        return Step(
            index=index,
            node=member,
            name=member.name,
            parameters=member.parameters,
            has_optional=bool(member.optional),
            output_names=member.output_names,
            single=False,
            dependencies=dependencies,
            is_nested=True,
            is_async=False,
            cacheable=False,
            node_config=member.config,
            inner_output_names=inner,
            solo=None,
            func=None,
            output=None,
        )
    solo = None
    if member.config is not None:
        solo = Pipeline(nodes=[member.with_config(None)], name=member.name)
    return Step(
        index=index,
        node=member,
        name=member.name,
        parameters=member.parameters,
        has_optional=bool(member.defaults),
        output_names=member.output_names,
        single=isinstance(member.output_name, str),
        dependencies=dependencies,
        is_nested=False,
        is_async=member.is_async,
        cacheable=member.cache,
        node_config=member.config,
        inner_output_names=None,
        solo=solo,
        func=member.func,
        output=member.output_names[0] if isinstance(member.output_name, str) else None,
    )
