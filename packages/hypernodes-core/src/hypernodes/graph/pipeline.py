"""``Pipeline``: a DAG of nodes wired by name, runnable once or over many items."""

from __future__ import annotations

import graphlib
import threading
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Self, TypeAlias

from hypernodes.config.runtime import UNSET, updated_setting
from hypernodes.errors import CycleError, DependencyError, InvalidArgumentError
from hypernodes.graph.node import Node
from hypernodes.graph.pictures import PipelinePictures
from hypernodes.graph.pipeline_node import MapMode, PipelineNode, did_you_mean
from hypernodes.graph.running import PipelineRuns

if TYPE_CHECKING:
    from hypernodes._types import OutputNames
    from hypernodes.config.resolution import ConfigExplanation
    from hypernodes.config.runtime import ConfigPatch, RuntimeConfig
    from hypernodes.engine.failures import ErrorPolicy
    from hypernodes.engine.plan import ExecutionPlan

__all__ = ["AnyNode", "Pipeline"]

AnyNode: TypeAlias = Node | PipelineNode
"""What a pipeline holds: function nodes and nested pipeline nodes."""


class Pipeline(PipelineRuns, PipelinePictures):
    """A DAG of nodes: a parameter named like another node's output consumes it.

    Parameters nobody produces are the pipeline's inputs (:attr:`root_args`). A pipeline is
    immutable; :meth:`with_config` returns a new one. Construction validates the graph, so a
    pipeline that exists has no cycle and no output produced twice.

    Args:
        nodes: Nodes, nested pipeline nodes, or pipelines (each wrapped with :meth:`as_node`).
        name: The pipeline's name, used in callbacks, errors and progress bars (default:
            ``pipeline[<outputs>]``).
        config: This pipeline's ``RuntimeConfig``; None inherits the enclosing pipeline's, or
            the ambient default.

    Raises:
        CycleError: The nodes form a cycle.
        DependencyError: Two nodes produce the same output.

    Example:
        >>> from hypernodes import node
        >>> @node(output_name="clean")
        ... def clean(text: str) -> str:
        ...     return text.strip().lower()
        >>> @node(output_name="n_words")
        ... def count(clean: str) -> int:
        ...     return len(clean.split())
        >>> p = Pipeline(nodes=[clean, count], name="prep")
        >>> p.root_args, p.run(inputs={"text": " A b "})
        (('text',), {'clean': 'a b', 'n_words': 2})
    """

    __slots__ = (
        "_function_nodes",
        "_plan_lock",
        "_plans",
        "_str_inputs",
        "bound_inputs",
        "config",
        "consumers",
        "name",
        "nodes",
        "optional_args",
        "order",
        "output_names",
        "producers",
        "root_args",
    )

    nodes: tuple[AnyNode, ...]
    name: str
    config: RuntimeConfig | ConfigPatch | None
    producers: Mapping[str, AnyNode]
    consumers: Mapping[str, tuple[AnyNode, ...]]
    order: tuple[AnyNode, ...]
    root_args: tuple[str, ...]
    optional_args: frozenset[str]
    output_names: tuple[str, ...]
    bound_inputs: Mapping[str, Any]
    _plans: dict[object, ExecutionPlan]
    _plan_lock: threading.Lock
    _function_nodes: tuple[Node, ...]  # every function node, nested pipelines' included
    _str_inputs: tuple[tuple[str, str], ...]  # (input, node): root inputs a node annotates as str

    def __init__(
        self,
        nodes: Sequence[Node | PipelineNode | Pipeline],
        name: str | None = None,
        config: RuntimeConfig | ConfigPatch | None = None,
        *,
        bound_inputs: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(nodes, Node | PipelineNode | Pipeline) or not isinstance(nodes, Sequence):
            raise InvalidArgumentError(
                "Pipeline(nodes=...) takes a list of nodes, e.g. Pipeline(nodes=[clean, count])"
            )
        members = tuple(_as_member(n) for n in nodes)
        producers: dict[str, AnyNode] = {}
        for member in members:
            for output in member.output_names:
                if output in producers and producers[output] is member:
                    raise DependencyError(
                        f"node {member.name!r} is listed twice in the nodes of pipeline {name or '(unnamed)'!r}; "
                        "list each node once",
                        node_name=member.name,
                    )
                if output in producers:
                    raise DependencyError(
                        f"output {output!r} is produced by two nodes, {producers[output].name!r} and "
                        f"{member.name!r}; give one of them another output_name"
                        + (" (or rename it with output_mapping)" if isinstance(member, PipelineNode) else ""),
                        node_name=member.name,
                    )
                producers[output] = member
        output_names = tuple(producers)
        pipeline_name = (
            name or "pipeline[" + ",".join(output_names[:4]) + (",..." if len(output_names) > 4 else "") + "]"
        )
        consumers: dict[str, list[AnyNode]] = {}
        for member in members:
            for parameter in member.parameters:
                consumers.setdefault(parameter, []).append(member)
        root_args = tuple(p for p in consumers if p not in producers)
        bound = dict(bound_inputs or {})
        for bound_name in bound:
            if bound_name not in root_args:
                error = unknown_name_error("input", bound_name, _Named(pipeline_name), root_args)
                error.input_name = bound_name
                raise error
        optional = frozenset(
            arg for arg in root_args if arg in bound or all(_has_default(m, arg) for m in consumers[arg])
        )
        set_ = object.__setattr__
        set_(self, "nodes", members)
        set_(self, "name", pipeline_name)
        set_(self, "config", config)
        set_(self, "producers", producers)
        set_(self, "consumers", {k: tuple(v) for k, v in consumers.items()})
        set_(self, "order", _topological_order(members, producers, pipeline_name))
        set_(self, "root_args", root_args)
        set_(self, "optional_args", optional)
        set_(self, "output_names", output_names)
        set_(self, "bound_inputs", MappingProxyType(bound))
        set_(self, "_plans", {})
        set_(self, "_plan_lock", threading.Lock())  # guards _plans (plans are built once per output set)
        set_(self, "_function_nodes", _function_nodes(members))
        set_(self, "_str_inputs", _str_inputs(root_args, consumers))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Pipeline is immutable; use with_config() to derive a new one ({name!r})")

    def __repr__(self) -> str:
        bound = f", bound={list(self.bound_inputs)!r}" if self.bound_inputs else ""
        return f"Pipeline(name={self.name!r}, nodes=[{', '.join(n.name for n in self.nodes)}]{bound})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.nodes, self.name, self.config, dict(self.bound_inputs)))

    # -- plans -------------------------------------------------------------------------------

    def plan(self, output_name: OutputNames | None = None) -> ExecutionPlan:
        """Return the execution plan for `output_name` (all outputs when None), built once.

        Raises:
            InvalidArgumentError: An output name is unknown (the message lists the available ones).
        """
        key = output_name if output_name is None or isinstance(output_name, str) else tuple(output_name)
        plan = self._plans.get(key)
        if plan is None:
            from hypernodes.engine.plan import build_plan  # the engine imports this module

            requested = None if key is None else ((key,) if isinstance(key, str) else key)
            plan = build_plan(self, requested)
            with self._plan_lock:
                plan = self._plans.setdefault(key, plan)
        return plan

    # -- derived pipelines -------------------------------------------------------------------

    def with_config(self, config: RuntimeConfig | ConfigPatch | None = UNSET, **changes: Any) -> Self:
        """Return a new pipeline with the same nodes and its own config; this one is unchanged.

        ``with_config(RuntimeConfig(...))`` replaces the config it would inherit;
        ``with_config(executor=ThreadPoolExecutor(8))`` patches it (the other fields come
        from the enclosing pipeline, ``RuntimeConfig.use`` or the default, at run time).
        """
        setting = updated_setting(self.config, config, changes, f"pipeline {self.name!r}")
        return type(self)(nodes=self.nodes, name=self.name, config=setting, bound_inputs=self.bound_inputs)

    def with_name(self, name: str) -> Self:
        """Return a new pipeline with the same nodes and config under another name."""
        return type(self)(nodes=self.nodes, name=name, config=self.config, bound_inputs=self.bound_inputs)

    def bind(self, **values: Any) -> Self:
        """Return a new pipeline whose inputs `values` default to these values.

        Inputs given to ``run``/``map`` override bound ones, and ``map`` broadcasts them to
        every item. Bind what stays fixed (a model name, a client, a threshold) once and map
        over the rest. As a nested pipeline, its bound inputs are optional for the outer one.

        Raises:
            InvalidArgumentError: A name is not an input of the pipeline.

        >>> from hypernodes import node
        >>> @node(output_name="y")
        ... def scale(x: int, factor: int) -> int:
        ...     return x * factor
        >>> p = Pipeline(nodes=[scale], name="p").bind(factor=10)
        >>> p.bound_inputs["factor"], p.run(inputs={"x": 2}), p.run(inputs={"x": 2, "factor": 3})
        (10, {'y': 20}, {'y': 6})
        """
        bound = {**self.bound_inputs, **values}
        return type(self)(nodes=self.nodes, name=self.name, config=self.config, bound_inputs=bound)

    def unbind(self, *names: str) -> Self:
        """Return a new pipeline without the bound values of `names` (all of them when none is named).

        Raises:
            InvalidArgumentError: A name is not bound.
        """
        for name in names:
            if name not in self.bound_inputs:
                bound = ", ".join(map(repr, self.bound_inputs)) or "(none)"
                raise InvalidArgumentError(
                    f"pipeline {self.name!r} has no bound input {name!r}; bound inputs: {bound}", input_name=name
                )
        kept = {k: v for k, v in self.bound_inputs.items() if names and k not in names}
        return type(self)(nodes=self.nodes, name=self.name, config=self.config, bound_inputs=kept)

    def as_node(
        self,
        input_mapping: Mapping[str, str] | None = None,
        output_mapping: Mapping[str, str] | None = None,
        map_over: str | Sequence[str] | None = None,
        name: str | None = None,
        map_mode: MapMode = "zip",
        on_error: ErrorPolicy = "raise",
    ) -> PipelineNode:
        """Wrap this pipeline as a node of another.

        Args:
            input_mapping: Outer name -> inner input name.
            output_mapping: Inner output name -> outer name. Exactly the mapped outputs are
                exposed (map a name to itself to keep it); the inner intermediates stay private.
            map_over: Outer input(s) to iterate over: the inner pipeline runs once per item
                and each exposed output becomes a list.
            name: The node's name (default: this pipeline's name).
            map_mode: ``"zip"`` or ``"product"`` when mapping over several inputs.
            on_error: With `map_over`, ``"continue"`` turns failed items into
                :class:`~hypernodes.ItemFailure` records (see :meth:`map`).
        """
        return PipelineNode(
            self,
            input_mapping=input_mapping,
            output_mapping=output_mapping,
            map_over=map_over,
            map_mode=map_mode,
            name=name,
            on_error=on_error,
        )

    def explain(self, config: RuntimeConfig | None = None) -> ConfigExplanation:
        """Tell which config each node will run with, and which level it came from.

        Args:
            config: The call-site config you would pass to ``run``/``map``, if any.

        Returns:
            Rows of (node, config, source); ``str()`` of the result is a readable table.
        """
        from hypernodes.config.resolution import explain  # resolution imports this module

        return explain(self, config)


def _function_nodes(members: tuple[AnyNode, ...]) -> tuple[Node, ...]:
    found: dict[int, Node] = {}  # by id: one node may sit in several nested pipelines
    for member in members:
        if isinstance(member, Node):
            found[id(member)] = member
        else:
            found.update((id(inner), inner) for inner in member.pipeline._function_nodes)
    return tuple(found.values())


def _str_inputs(root_args: tuple[str, ...], consumers: Mapping[str, list[AnyNode]]) -> tuple[tuple[str, str], ...]:
    """Return (input, node) for the root inputs that a function node annotates as ``str``."""
    found = []
    for name in root_args:
        for member in consumers[name]:
            annotations = getattr(member.func, "__annotations__", None) if isinstance(member, Node) else None
            if isinstance(annotations, dict) and annotations.get(name) in (str, "str"):
                found.append((name, member.name))
                break
    return tuple(found)


def _as_member(item: object) -> AnyNode:
    if isinstance(item, Node | PipelineNode):
        return item
    if isinstance(item, Pipeline):
        return item.as_node()
    hint = " Decorate it with @node." if callable(item) else ""
    raise InvalidArgumentError(
        f"Pipeline nodes must be Node, PipelineNode or Pipeline objects, got {type(item).__name__} {item!r}.{hint}"
    )


def _has_default(member: AnyNode, parameter: str) -> bool:
    if isinstance(member, PipelineNode):
        return parameter in member.optional
    return parameter in member.defaults


def _topological_order(
    members: tuple[AnyNode, ...], producers: Mapping[str, AnyNode], pipeline_name: str
) -> tuple[AnyNode, ...]:
    """Order nodes so that producers come first; ties keep the order the user gave."""
    position = {id(m): i for i, m in enumerate(members)}
    sorter: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
    for i, member in enumerate(members):
        sorter.add(i, *(position[id(producers[p])] for p in member.parameters if p in producers))
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = tuple(members[i].name for i in exc.args[1])
        raise CycleError(
            f"pipeline {pipeline_name!r} has a cycle: {' -> '.join(cycle)}; "
            "a node cannot consume (directly or not) its own output",
            cycle=cycle,
        ) from None
    order: list[int] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())  # stable: the user's order among ready nodes
        order.extend(ready)
        sorter.done(*ready)
    return tuple(members[i] for i in order)


def unknown_name_error(
    kind: str, name: str, pipeline: Pipeline | _Named, choices: Sequence[str]
) -> InvalidArgumentError:
    """Build the error for an unknown output or input name, listing the valid ones."""
    available = ", ".join(repr(c) for c in sorted(choices)) or "(none)"
    if kind == "output_name" and name in getattr(pipeline, "root_args", ()):
        return InvalidArgumentError(
            f"output_name {name!r} is an input of pipeline {pipeline.name!r}, not an output: run and map return "
            f"what nodes compute, never the inputs. Outputs: {available}; drop {name!r} from output_name "
            "(you passed its value yourself)",
            input_name=name,
        )
    return InvalidArgumentError(
        f"unknown {kind} {name!r} for pipeline {pipeline.name!r}; available: {available}."
        + did_you_mean(name, choices)
    )


class _Named:
    """A name for error messages, before the pipeline exists."""

    def __init__(self, name: str) -> None:
        self.name = name


def _rebuild(
    nodes: tuple[AnyNode, ...], name: str, config: RuntimeConfig | ConfigPatch | None, bound: dict[str, Any]
) -> Pipeline:
    return Pipeline(nodes=nodes, name=name, config=config, bound_inputs=bound)
