"""What a diagram reads off a pipeline: types, defaults, bound values, exposed outputs (private).

Types come from the nodes' annotations as written (strings under ``from __future__ import
annotations``, otherwise a short form of the object), defaults and bound values as short
reprs, so one long value cannot stretch a picture.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, get_args

from hypernodes.graph.pipeline_node import PipelineNode

if TYPE_CHECKING:
    from hypernodes.graph.pipeline import Pipeline

__all__ = ["UNKNOWN", "bound_inputs", "default_text", "exposed_outputs", "input_type", "output_type", "short"]

_MAX_TEXT = 40  # longer types and values are cut, so one long repr cannot stretch the picture

UNKNOWN = object()
"""The value of a bound input whose pipeline lists only its name."""


def bound_inputs(owner: object) -> Mapping[str, object]:
    """Return the inputs bound on `owner` (a pipeline or a node), read from ``bound_inputs``.

    The attribute may hold a mapping of values or only the names; a name alone is drawn
    without its value.
    """
    bound = getattr(owner, "bound_inputs", None)
    if bound is None:
        return {}
    if isinstance(bound, Mapping):
        return dict(bound)
    return dict.fromkeys(bound, UNKNOWN)


def exposed_outputs(member: PipelineNode) -> dict[str, str]:
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


def short(text: str) -> str:
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
    return short(re.sub(r"(?:\b[A-Za-z_]\w*\.)+(?=[A-Za-z_])", "", text))  # typing.Optional -> Optional


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


def output_type(pipeline: Pipeline, name: str) -> str | None:
    """Return the type of output `name` of `pipeline`, from its producer's annotations."""
    producer = pipeline.producers[name]
    if isinstance(producer, PipelineNode):
        inner = next((o for o, outer in exposed_outputs(producer).items() if outer == name), None)
        found = None if inner is None else output_type(producer.pipeline, inner)
        return f"list[{found}]" if found and producer.map_over else found
    signature = _signature(producer.func)
    if signature is None:
        return None
    returned = _annotation_text(signature.return_annotation)
    if returned is None or isinstance(producer.output_name, str):
        return returned
    return _split_tuple(returned, len(producer.output_names))[producer.output_names.index(name)]


def input_type(pipeline: Pipeline, name: str) -> str | None:
    """Return the type the first node reading input `name` annotates it with."""
    for consumer in pipeline.consumers.get(name, ()):
        found: str | None
        if isinstance(consumer, PipelineNode):
            found = input_type(consumer.pipeline, consumer.inner_input_name(name))
            found = f"list[{found}]" if found and name in consumer.map_over else found
        else:
            signature = _signature(consumer.func)
            found = None if signature is None else _annotation_text(signature.parameters[name].annotation)
        if found:
            return found
    return None


def default_text(pipeline: Pipeline, name: str) -> str | None:
    """Return the default of optional input `name`, from the first node that declares one."""
    for consumer in pipeline.consumers.get(name, ()):
        if isinstance(consumer, PipelineNode):
            if name in consumer.optional:
                return default_text(consumer.pipeline, consumer.inner_input_name(name))
        elif name in consumer.defaults:
            return short(repr(consumer.defaults[name]))
    return None
