"""Validate a call's inputs and expand ``map`` inputs into items (before any node runs)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hypernodes.errors import DependencyError, InvalidArgumentError
from hypernodes.graph.pipeline import unknown_name_error

if TYPE_CHECKING:
    from hypernodes._types import Inputs
    from hypernodes.engine.plan import ExecutionPlan
    from hypernodes.graph.pipeline import Pipeline

__all__ = ["build_items", "check_error_policy", "check_inputs", "normalize_map_over", "with_bound"]


def check_inputs(pipeline: Pipeline, plan: ExecutionPlan, names: Mapping[str, Any] | frozenset[str]) -> None:
    """Fail unless `names` are known inputs of `pipeline` and cover what `plan` requires.

    Raises:
        InvalidArgumentError: An input name is not an input of the pipeline.
        DependencyError: A required input is missing.
    """
    if not isinstance(names, Mapping | frozenset | set):
        raise InvalidArgumentError(f"inputs must be a mapping of input names to values, got {type(names).__name__}")
    root_args = pipeline.root_args
    for name in names:
        if not isinstance(name, str):
            raise InvalidArgumentError(
                f"input names must be strings; got {type(name).__name__} {name!r} among the inputs of pipeline "
                f"{pipeline.name!r}, whose inputs are: {', '.join(map(repr, root_args)) or '(none)'}"
            )
        if name not in pipeline.consumers or name in pipeline.producers:
            if name in pipeline.producers:
                raise InvalidArgumentError(
                    f"{name!r} is an output of node {pipeline.producers[name].name!r}, not an input of "
                    f"pipeline {pipeline.name!r}; its inputs are: {', '.join(map(repr, root_args)) or '(none)'}",
                    input_name=name,
                )
            error = unknown_name_error("input", name, pipeline, root_args)
            error.input_name = name
            raise error
    for name, needed_by in plan.required_inputs.items():
        if name not in names:
            nodes = ", ".join(repr(n) for n in needed_by)
            raise DependencyError(
                f"pipeline {pipeline.name!r} is missing required input {name!r} "
                f"(needed by node{'s' if len(needed_by) > 1 else ''} {nodes}). "
                f"Pass it in inputs={{{name!r}: ...}} or give the parameter a default.",
                node_name=needed_by[0],
                input_name=name,
            )


def with_bound(pipeline: Pipeline, inputs: Inputs) -> Inputs:
    """Return `inputs` over the pipeline's bound inputs (run-time inputs win)."""
    bound = pipeline.bound_inputs
    if not bound or not isinstance(inputs, Mapping):  # a bad `inputs` is reported by check_inputs
        return inputs
    return {**bound, **inputs}


def check_error_policy(on_error: object, owner: str) -> None:
    """Fail unless `on_error` is ``"raise"`` or ``"continue"``."""
    if on_error not in ("raise", "continue"):
        raise InvalidArgumentError(
            f"on_error of {owner} must be 'raise' (stop at the first failing item) or 'continue' "
            f"(finish the other items; failed ones become ItemFailure records), got {on_error!r}"
        )


def normalize_map_over(map_over: str | Sequence[str], owner: str) -> tuple[str, ...]:
    """Return `map_over` as a non-empty tuple of names."""
    names = (map_over,) if isinstance(map_over, str) else tuple(map_over)
    if not names:
        raise InvalidArgumentError(f"map_over of {owner} names no input; pass the input name(s) to iterate over")
    return names


def build_items(
    inputs: Inputs,
    map_over: tuple[str, ...],
    map_mode: str,
    owner: str,
    *,
    node_name: str | None = None,
    outer_names: Mapping[str, str] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Split `inputs` into per-item values and shared (broadcast) values.

    Args:
        inputs: The values by (inner) input name.
        map_over: The (inner) names to iterate over.
        map_mode: ``"zip"`` or ``"product"``.
        owner: Who maps, for messages (``"pipeline 'p'"``, ``"node 'per_item'"``).
        node_name: The nested pipeline node that maps, if any (set on errors).
        outer_names: Inner name -> the name the user passed, for a nested pipeline node
            whose ``input_mapping`` renames a mapped input; messages use the user's names.

    Raises:
        InvalidArgumentError: A mapped input is missing, is not a non-string sequence, or
            (``zip``) the lengths differ.
    """
    outer = outer_names or {}

    def shown(name: str) -> str:
        passed = outer.get(name, name)
        return repr(passed) if passed == name else f"{passed!r} (inner input {name!r})"

    columns: list[Sequence[Any]] = []
    for name in map_over:
        if name not in inputs:
            raise InvalidArgumentError(
                f"map_over of {owner} names {shown(name)}, but inputs has no {outer.get(name, name)!r}; "
                "pass a list for it",
                node_name=node_name,
                input_name=outer.get(name, name),
            )
        values = inputs[name]
        if isinstance(values, str | bytes | bytearray | Mapping) or not isinstance(values, Sequence):
            if (
                not isinstance(values, str | bytes | bytearray | Mapping)
                and hasattr(values, "__len__")
                and hasattr(values, "__getitem__")
            ):
                values = list(values)  # array-likes (numpy, pandas) that are not registered Sequences
            else:
                raise InvalidArgumentError(
                    f"{owner} maps over {shown(name)}, which must be a non-string sequence (list, tuple, range, "
                    f"array), got {type(values).__name__}",
                    node_name=node_name,
                    input_name=outer.get(name, name),
                )
        columns.append(values)
    broadcast = {k: v for k, v in inputs.items() if k not in map_over}
    if map_mode == "product":
        items = [dict(zip(map_over, combo)) for combo in itertools.product(*columns)]
    elif map_mode == "zip":
        lengths = {name: len(column) for name, column in zip(map_over, columns)}
        if len(set(lengths.values())) > 1:
            lengths_shown = ", ".join(f"{outer.get(k, k)}={v}" for k, v in lengths.items())
            raise InvalidArgumentError(
                f"{owner} zips inputs of different lengths ({lengths_shown}); pass equal-length lists, "
                "or use map_mode='product' for every combination",
                node_name=node_name,
            )
        if len(map_over) == 1:
            (name,) = map_over
            items = [{name: value} for value in columns[0]]
        else:
            items = [dict(zip(map_over, row)) for row in zip(*columns)]
    else:
        raise InvalidArgumentError(f"map_mode of {owner} must be 'zip' or 'product', got {map_mode!r}")
    return items, broadcast
