"""Execution plans: which nodes a request needs, in which order, fed by what (built once).

A plan is a tuple of steps in dependency order. A step is one of three kinds, so that no
step carries fields that do not apply to it:

* :class:`FunctionStep`: call a node's function (sync or ``async def``);
* :class:`ConfiguredStep`: a function node with a config of its own, run as a one-node
  pipeline under that config (or as its plain call when a call-site config is in force);
* :class:`NestedStep`: a nested pipeline node, run (or mapped) through its own config.

Plan facts that executors ask about on every run (the roots, how many dependencies each
step waits for, whether the plan is a chain) are computed here once, never per run.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from hypernodes.cache.signature import CallSigner
from hypernodes.graph.pipeline import AnyNode, Pipeline, unknown_name_error
from hypernodes.graph.pipeline_node import PipelineNode

if TYPE_CHECKING:
    from hypernodes.config.runtime import ConfigPatch, RuntimeConfig
    from hypernodes.graph.node import Node
    from hypernodes.resources.resource import Resource

__all__ = ["ConfiguredStep", "ExecutionPlan", "FunctionStep", "NestedStep", "Step", "build_plan"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One node of a plan, with what every kind of step has.

    Attributes:
        index: Position in :attr:`ExecutionPlan.steps`.
        node: The node (a ``Node`` or a ``PipelineNode``).
        name: The node's name.
        parameters: Input names, read from the run's values.
        has_optional: Whether some parameter has a default (and may be absent).
        output_names: Names the step's outputs are stored under.
        dependencies: Indices of the steps producing this step's inputs.
    """

    index: int
    node: AnyNode
    name: str
    parameters: tuple[str, ...]
    has_optional: bool
    output_names: tuple[str, ...]
    dependencies: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionStep(Step):
    """Call a function node.

    Attributes:
        func: The node's function.
        is_async: The function is ``async def``.
        single: The function returns one value (not a tuple of outputs).
        output: The single output name (None for tuple outputs).
        cacheable: The node's outputs may be cached.
        resources: ``(parameter, resource)`` pairs the engine fills in at call time.
        batch: The node's batch form (lists in, one result per item out), or None.
        batch_is_async: The batch form is ``async def``.
        signer: Signs a call from its parameters' signatures, then its resources'.
    """

    node: Node
    func: Callable[..., Any]
    is_async: bool
    single: bool
    output: str | None
    cacheable: bool
    resources: tuple[tuple[str, Resource[Any]], ...] = ()
    batch: Callable[..., Any] | None = None
    batch_is_async: bool = False
    signer: CallSigner


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfiguredStep(Step):
    """A function node with its own config: a one-node pipeline run under `config`.

    Attributes:
        config: The node's own config, or a patch of the config it inherits.
        solo: The one-node pipeline (the node without its config).
        call: The plain call, used when a call-site config applies to every level.
    """

    config: RuntimeConfig | ConfigPatch
    solo: Pipeline
    call: FunctionStep


@dataclass(frozen=True, slots=True, kw_only=True)
class NestedStep(Step):
    """Run a nested pipeline node (once, or mapped over its ``map_over`` inputs).

    Attributes:
        inner_output_names: The inner outputs this plan needs (None: all).
    """

    node: PipelineNode
    inner_output_names: tuple[str, ...] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionPlan:
    """The steps one request runs, in dependency order, and facts about their shape.

    Attributes:
        pipeline: The planned pipeline.
        steps: The needed steps; each step's dependencies come earlier.
        outputs: The names returned to the caller.
        required_inputs: Input name -> names of the planned nodes that need it.
        inputs: Every input name a planned node reads (required or optional).
        dependents: For each step index, the indices of the steps that consume its outputs.
        roots: The indices of the steps that depend on no other step.
        is_chain: At most one step can be ready at any time, so there is nothing to overlap.
        has_async: Some step calls an ``async def`` node (directly or with its own config).
        is_plain: Every step is a sync, single-output :class:`FunctionStep` without resource
            parameters, so a run without cache, callbacks, retries or timeout can take the
            engine's fast loop.
    """

    pipeline: Pipeline
    steps: tuple[Step, ...]
    outputs: tuple[str, ...]
    required_inputs: Mapping[str, tuple[str, ...]]
    inputs: frozenset[str]
    dependents: tuple[tuple[int, ...], ...]
    roots: tuple[int, ...]
    is_chain: bool
    has_async: bool
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
    roots = tuple(step.index for step in steps if not step.dependencies)
    return ExecutionPlan(
        pipeline=pipeline,
        steps=steps,
        outputs=outputs,
        required_inputs=MappingProxyType({k: tuple(v) for k, v in required.items()}),
        inputs=frozenset(inputs),
        dependents=tuple(tuple(d) for d in dependents),
        roots=roots,
        is_chain=len(steps) <= 1 or (len(roots) <= 1 and all(len(d) <= 1 for d in dependents)),
        has_async=any(
            (type(s) is FunctionStep and s.is_async) or (type(s) is ConfiguredStep and s.call.is_async) for s in steps
        ),
        is_plain=all(
            type(s) is FunctionStep and s.output is not None and not s.is_async and not s.resources for s in steps
        ),
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
        exposed = member.exposed_inner_outputs
        inner: tuple[str, ...] | None = None
        if wanted is not None:
            inner = tuple(o for o in exposed if member.outer_output_name(o) in wanted)
        elif len(exposed) < len(member.pipeline.output_names):
            inner = exposed  # private intermediates: run only what the exposed outputs need
        return NestedStep(
            index=index,
            node=member,
            name=member.name,
            parameters=member.parameters,
            has_optional=bool(member.optional),
            output_names=member.output_names,
            dependencies=dependencies,
            inner_output_names=inner,
        )
    single = isinstance(member.output_name, str)
    call = FunctionStep(
        index=index,
        node=member,
        name=member.name,
        parameters=member.parameters,
        has_optional=bool(member.defaults),
        output_names=member.output_names,
        dependencies=dependencies,
        func=member.func,
        is_async=member.is_async,
        single=single,
        output=member.output_names[0] if single else None,
        cacheable=member.cache,
        resources=tuple(member.resources.items()),
        batch=member.batch,
        batch_is_async=member.batch is not None and inspect.iscoroutinefunction(member.batch),
        signer=CallSigner((*member.parameters, *member.resources)),
    )
    if member.config is None:
        return call
    return ConfiguredStep(
        index=index,
        node=member,
        name=member.name,
        parameters=member.parameters,
        has_optional=call.has_optional,
        output_names=member.output_names,
        dependencies=dependencies,
        config=member.config,
        solo=Pipeline(nodes=[member.with_config(None)], name=member.name),
        call=call,
    )
