"""``PipelineNode``: a whole pipeline used as one node of another, optionally mapped."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Self

from hypernodes.config.runtime import UNSET, updated_setting
from hypernodes.errors import InvalidArgumentError

if TYPE_CHECKING:
    from hypernodes.config.runtime import ConfigPatch, RuntimeConfig
    from hypernodes.engine.failures import ErrorPolicy
    from hypernodes.graph.pipeline import Pipeline

__all__ = ["MapMode", "PipelineNode", "did_you_mean"]

MapMode = Literal["zip", "product"]


def did_you_mean(name: str, choices: Sequence[str]) -> str:
    """Return `` Did you mean 'x'?`` for the closest of `choices`, or an empty string."""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
    return f" Did you mean {by_lower[close[0]]!r}?" if close else ""


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names) or "(none)"


class PipelineNode:
    """Run an inner pipeline as one node, renaming its inputs and outputs.

    With `map_over`, the node runs the inner pipeline once per item of the named outer
    inputs, and each exposed output is a list in item order. Build it with
    :meth:`Pipeline.as_node`, or put a ``Pipeline`` straight into another's ``nodes``.

    Attributes:
        pipeline: The inner pipeline.
        name: The node's name (default: the inner pipeline's name).
        input_mapping: Outer input name -> inner input name.
        output_mapping: Inner output name -> outer output name. When given, exactly these
            outputs are exposed (map a name to itself to keep it); the others stay private.
        map_over: Outer input names mapped over (empty: no map).
        map_mode: ``"zip"`` or ``"product"``.
        parameters: The outer input names, in the inner pipeline's ``root_args`` order.
        optional: The outer inputs that every inner consumer has a default for.
        output_names: The exposed outer output names.
        config: A node-level config override, or None.
    """

    __slots__ = (
        "_inner_of_outer",
        "_outer_of_inner_output",
        "bound_inputs",
        "config",
        "inner_bound_inputs",
        "input_mapping",
        "map_mode",
        "map_over",
        "name",
        "on_error",
        "optional",
        "output_mapping",
        "output_names",
        "parameters",
        "pipeline",
    )

    pipeline: Pipeline
    name: str
    input_mapping: Mapping[str, str]
    output_mapping: Mapping[str, str]
    map_over: tuple[str, ...]
    map_mode: MapMode
    config: RuntimeConfig | ConfigPatch | None
    on_error: ErrorPolicy
    bound_inputs: Mapping[str, Any]
    inner_bound_inputs: Mapping[str, Any]
    parameters: tuple[str, ...]
    optional: frozenset[str]
    output_names: tuple[str, ...]
    _inner_of_outer: Mapping[str, str]
    _outer_of_inner_output: Mapping[str, str]

    cache = True  # the inner nodes are cached one by one, each under its own rules
    is_async = False
    version = None

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        input_mapping: Mapping[str, str] | None = None,
        output_mapping: Mapping[str, str] | None = None,
        map_over: str | Sequence[str] | None = None,
        map_mode: MapMode = "zip",
        name: str | None = None,
        config: RuntimeConfig | ConfigPatch | None = None,
        on_error: ErrorPolicy = "raise",
        bound_inputs: Mapping[str, Any] | None = None,
    ) -> None:
        node_name = name or pipeline.name
        input_mapping = dict(input_mapping or {})
        output_mapping = dict(output_mapping or {})
        inner_args = pipeline.root_args
        for outer, inner in input_mapping.items():
            if inner not in inner_args:
                raise InvalidArgumentError(
                    f"input_mapping of node {node_name!r} maps {outer!r} to {inner!r}, which is not an "
                    f"input of pipeline {pipeline.name!r}; its inputs: {_quoted(inner_args)}."
                    + did_you_mean(inner, inner_args),
                    node_name=node_name,
                    input_name=inner,
                )
        outer_of_inner = {inner: outer for outer, inner in input_mapping.items()}
        if len(outer_of_inner) != len(input_mapping):
            raise InvalidArgumentError(
                f"input_mapping of node {node_name!r} maps two outer names to one inner input",
                node_name=node_name,
            )
        for inner_out in output_mapping:
            if inner_out not in pipeline.output_names:
                raise InvalidArgumentError(
                    f"output_mapping of node {node_name!r} renames {inner_out!r}, which is not an output "
                    f"of pipeline {pipeline.name!r}; its outputs: {_quoted(pipeline.output_names)}."
                    + did_you_mean(inner_out, pipeline.output_names),
                    node_name=node_name,
                )
        parameters = tuple(outer_of_inner.get(arg, arg) for arg in inner_args)
        if isinstance(map_over, str):
            map_over = (map_over,)
        map_over = tuple(map_over or ())
        for mapped in map_over:
            if mapped not in parameters:
                raise InvalidArgumentError(
                    f"map_over of node {node_name!r} names {mapped!r}, which is not one of its inputs: "
                    f"{_quoted(parameters)}." + did_you_mean(mapped, parameters),
                    node_name=node_name,
                    input_name=mapped,
                )
        if map_mode not in ("zip", "product"):
            raise InvalidArgumentError(
                f"map_mode of node {node_name!r} must be 'zip' or 'product', got {map_mode!r}",
                node_name=node_name,
            )
        if on_error not in ("raise", "continue"):
            raise InvalidArgumentError(
                f"on_error of node {node_name!r} must be 'raise' or 'continue', got {on_error!r}", node_name=node_name
            )
        bound = dict(bound_inputs or {})
        for outer_name in bound:
            if outer_name not in parameters:
                raise InvalidArgumentError(
                    f"node {node_name!r} cannot bind {outer_name!r}, which is not one of its inputs: "
                    f"{_quoted(parameters)}." + did_you_mean(outer_name, parameters),
                    node_name=node_name,
                    input_name=outer_name,
                )
        inner_of = {outer_of_inner.get(a, a): a for a in inner_args}
        # What the inner level gets when the outer one passes nothing: the inner pipeline's
        # bound inputs, then this node's (both lose to what the outer level passes).
        inner_bound = {**pipeline.bound_inputs, **{inner_of[k]: v for k, v in bound.items()}}
        set_ = object.__setattr__
        set_(self, "pipeline", pipeline)
        set_(self, "on_error", on_error)
        set_(self, "bound_inputs", MappingProxyType(bound))
        set_(self, "inner_bound_inputs", MappingProxyType(inner_bound))
        set_(self, "name", node_name)
        set_(self, "input_mapping", MappingProxyType(input_mapping))
        set_(self, "output_mapping", MappingProxyType(output_mapping))
        set_(self, "map_over", map_over)
        set_(self, "map_mode", map_mode)
        set_(self, "config", config)
        set_(self, "parameters", parameters)
        set_(
            self,
            "optional",
            (frozenset(outer_of_inner.get(arg, arg) for arg in pipeline.optional_args) | frozenset(bound))
            - frozenset(map_over),
        )
        # With an output_mapping, exactly the mapped outputs are exposed: the inner
        # intermediates stay private (two nested pipelines may both have a `tmp`).
        exposed = {o: output_mapping[o] for o in pipeline.output_names if o in output_mapping} if output_mapping else {
            o: o for o in pipeline.output_names
        }
        if len(set(exposed.values())) != len(exposed):
            raise InvalidArgumentError(
                f"output_mapping of node {node_name!r} maps two inner outputs to one outer name",
                node_name=node_name,
            )
        set_(self, "output_names", tuple(exposed.values()))
        set_(self, "_inner_of_outer", MappingProxyType(inner_of))
        set_(self, "_outer_of_inner_output", MappingProxyType(exposed))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"PipelineNode is immutable; use with_config() to derive a new one ({name!r})")

    def __repr__(self) -> str:
        mapped = f", map_over={self.map_over!r}" if self.map_over else ""
        bound = f", bound={list(self.bound_inputs)!r}" if self.bound_inputs else ""
        return f"PipelineNode({self.name!r}, inputs={self.parameters!r}, outputs={self.output_names!r}{mapped}{bound})"

    @property
    def has_bound(self) -> bool:
        """Whether the inner level gets bound values (of the inner pipeline or of this node)."""
        return bool(self.inner_bound_inputs)

    def bind(self, **values: Any) -> Self:
        """Return a copy whose outer inputs `values` default to these values (see ``Pipeline.bind``)."""
        return type(self)(self.pipeline, **{**self._kwargs(), "bound_inputs": {**self.bound_inputs, **values}})

    def unbind(self, *names: str) -> Self:
        """Return a copy without the bound values of `names` (all of them when none is named)."""
        for name in names:
            if name not in self.bound_inputs:
                raise InvalidArgumentError(
                    f"node {self.name!r} has no bound input {name!r}; bound inputs: {_quoted(list(self.bound_inputs))}",
                    node_name=self.name,
                    input_name=name,
                )
        kept = {k: v for k, v in self.bound_inputs.items() if names and k not in names}
        return type(self)(self.pipeline, **{**self._kwargs(), "bound_inputs": kept})

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.pipeline, self._kwargs()))

    @property
    def output_name(self) -> tuple[str, ...]:
        """The exposed outer output names (same as :attr:`output_names`)."""
        return self.output_names

    @property
    def defaults(self) -> Mapping[str, Any]:
        """Always empty: optional inner inputs are simply not passed (see :attr:`optional`)."""
        return MappingProxyType({})

    def inner_input_name(self, outer: str) -> str:
        """Return the inner input name fed by outer input `outer`."""
        return self._inner_of_outer[outer]

    def outer_output_name(self, inner: str) -> str:
        """Return the outer name under which inner output `inner` is exposed."""
        return self._outer_of_inner_output[inner]

    @property
    def exposed_inner_outputs(self) -> tuple[str, ...]:
        """The inner outputs this node exposes (all of them without an ``output_mapping``)."""
        return tuple(self._outer_of_inner_output)

    def with_config(self, config: RuntimeConfig | ConfigPatch | None = UNSET, **changes: Any) -> Self:
        """Return a copy of this node with its own config (a whole config, or field changes: see ``Node``)."""
        setting = updated_setting(self.config, config, changes, f"node {self.name!r}")
        return type(self)(self.pipeline, **{**self._kwargs(), "config": setting})

    def _kwargs(self) -> dict[str, Any]:
        return {
            "input_mapping": dict(self.input_mapping),
            "output_mapping": dict(self.output_mapping),
            "map_over": self.map_over,
            "map_mode": self.map_mode,
            "name": self.name,
            "config": self.config,
            "on_error": self.on_error,
            "bound_inputs": dict(self.bound_inputs),
        }


def _rebuild(pipeline: Pipeline, kwargs: dict[str, Any]) -> PipelineNode:
    return PipelineNode(pipeline, **kwargs)
