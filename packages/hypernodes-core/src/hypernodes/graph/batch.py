"""Validation of a node's batch form (``@node(batch=...)``, ``Node.with_batch``), when the node is made."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from hypernodes.errors import InvalidArgumentError

__all__ = ["check_batch"]


def check_batch(batch: Callable[..., Any], node_name: str, names: Sequence[str]) -> None:
    """Fail unless `batch` can be called with the keyword arguments `names` (and needs no other).

    Raises:
        InvalidArgumentError: Naming the node and the parameters that do not match.
    """
    if not callable(batch):
        raise InvalidArgumentError(
            f"node {node_name!r}: batch= needs a function taking lists of the node's inputs, "
            f"got {type(batch).__name__}",
            node_name=node_name,
        )
    try:
        parameters = inspect.signature(batch).parameters
    except (TypeError, ValueError):
        return  # a builtin or C callable without a signature: trust it
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    missing = [] if takes_any else [n for n in names if n not in parameters or _is_positional_only(parameters[n])]
    extra = [
        p.name
        for p in parameters.values()
        if p.name not in names and p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"it does not take {', '.join(map(repr, missing))}")
        if extra:
            problems.append(f"it requires {', '.join(map(repr, extra))}, which the node does not have")
        raise InvalidArgumentError(
            f"the batch form of node {node_name!r} must take the node's parameters by name "
            f"({', '.join(map(repr, names))}), each as a list; {' and '.join(problems)}",
            node_name=node_name,
        )


def _is_positional_only(parameter: inspect.Parameter) -> bool:
    return parameter.kind is parameter.POSITIONAL_ONLY
