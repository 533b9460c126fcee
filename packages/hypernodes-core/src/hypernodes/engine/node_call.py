"""One node call, in parts shared by the engine's sync and async paths.

``prepare`` resolves the inputs, looks the call up in the cache and fires ``on_node_start``;
the caller then calls the function (directly, or under retries and timeout); ``store`` keeps
the result, writes the cache and fires ``on_node_end``; ``fail`` annotates an exception and
fires ``on_node_error``. A call reads its inputs from a `source` mapping and writes its outputs
(and their signatures) into a `target` :class:`~hypernodes.engine.values.Values`; a run done in
one place passes the same object as both.
"""

from __future__ import annotations

import contextlib
import warnings
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final

from hypernodes.cache._hashing import UnhashableValueError, hash_value
from hypernodes.cache.base import MISSING
from hypernodes.errors import InvalidArgumentError
from hypernodes.resources.pool import fill_resources

if TYPE_CHECKING:
    from collections.abc import Mapping

    from hypernodes._types import Inputs
    from hypernodes.engine.context import RunContext
    from hypernodes.engine.plan import ExecutionPlan, FunctionStep, Step
    from hypernodes.engine.values import Values

__all__ = ["annotate", "fail", "prepare", "sign_broadcast", "store", "unpack"]

_NOTE_PREFIX: Final = "in node "


def prepare(
    step: FunctionStep, source: Mapping[str, Any], known: dict[str, str], ctx: RunContext, target: Values
) -> tuple[dict[str, Any], str | None, float] | None:
    """Resolve inputs and try the cache; return (kwargs, signature, start time), or None on a hit.

    On a miss, the step's resource parameters are filled from the executor's resource pool.

    `known` holds the signatures of `source`'s values known so far; hashed inputs are added.
    """
    signature = None
    cache = ctx.cache
    if cache is not None and step.cacheable:
        signature = call_signature(step, known, ctx, source)
        if signature is not None and not cache.refresh:
            cached = cache.get(signature)
            if cached is not MISSING:
                output = step.output
                if output is not None:  # one output, the common case: no dict to build
                    target[output] = cached
                    target.signatures[output] = f"{signature}:{output}"
                else:
                    unpack(step, target, cached)
                    target.signatures.update({name: f"{signature}:{name}" for name in step.output_names})
                if ctx.dispatcher is not None:
                    ctx.dispatcher.emit("on_node_cached", ctx.callback_context, step.name, signature)
                return None
    if step.has_optional:  # a miss (or no cache): the call's arguments
        kwargs = {p: source[p] for p in step.parameters if p in source}
    else:
        kwargs = {p: source[p] for p in step.parameters}
    if step.resources:  # after the cache lookup: a call served from the cache builds nothing
        fill_resources(step, kwargs, ctx)
    started = 0.0
    if ctx.dispatcher is not None:
        ctx.dispatcher.emit("on_node_start", ctx.callback_context, step.name, kwargs)
        started = perf_counter()
    return kwargs, signature, started


def store(
    step: FunctionStep,
    target: Values,
    result: Any,
    signature: str | None,
    ctx: RunContext,
    started: float,
) -> None:
    """Keep `result` in `target`, write it to the cache and fire ``on_node_end``."""
    unpack(step, target, result)
    if signature is not None:
        output = step.output
        if output is not None:  # one output, the common case: no dict to build
            target.signatures[output] = f"{signature}:{output}"
        else:
            target.signatures.update({name: f"{signature}:{name}" for name in step.output_names})
        try:
            ctx.cache.put(signature, result, node_name=step.name)  # type: ignore[union-attr]
        except Exception as exc:  # a cache that cannot store must not lose the computed result
            if ctx.run.warn_once("cache-put", step.name):
                warnings.warn(
                    f"node {step.name!r}: its output could not be cached ({type(exc).__name__}: {exc}); "
                    "the run goes on without caching it",
                    RuntimeWarning,
                    stacklevel=4,
                )
    if ctx.dispatcher is not None:
        outputs = {name: target[name] for name in step.output_names}
        ctx.dispatcher.emit("on_node_end", ctx.callback_context, step.name, outputs, perf_counter() - started)


def unpack(step: FunctionStep, values: dict[str, Any], result: Any) -> None:
    """Store `result` under the step's output name(s), checking a tuple result's shape."""
    if step.single:
        values[step.output_names[0]] = result
        return
    names = step.output_names
    if not isinstance(result, tuple | list) or len(result) != len(names):
        got = (
            f"{type(result).__name__} of length {len(result)}"
            if isinstance(result, tuple | list)
            else type(result).__name__
        )
        raise InvalidArgumentError(
            f"node {step.name!r} declares output_name={names!r} but returned {got}; "
            f"return a tuple of {len(names)} values",
            node_name=step.name,
        )
    for name, value in zip(names, result):
        values[name] = value


def fail(step: Step, ctx: RunContext, exc: BaseException) -> None:
    """Annotate `exc` with where it happened and fire ``on_node_error``."""
    annotate(exc, step.name, ctx)
    if ctx.dispatcher is not None and isinstance(exc, Exception):
        ctx.dispatcher.emit("on_node_error", ctx.callback_context, step.name, exc)


def call_signature(step: FunctionStep, known: dict[str, str], ctx: RunContext, kwargs: Mapping[str, Any]) -> str | None:
    """Return the cache signature of a call reading `kwargs`, or None when an input cannot be hashed.

    `kwargs` is the call's source of values: a parameter absent from it takes its default.
    """
    shared = ctx.input_signatures
    signatures: list[str] = []
    every_input_given = not step.has_optional
    for name in step.parameters:
        signature = known.get(name)  # an upstream output's, or an input hashed by an earlier node
        if signature is not None and every_input_given:
            signatures.append(signature)
            continue
        present = every_input_given or name in kwargs
        if not present:
            signature = None  # the default's, hashed below
        if signature is None and present:
            signature = shared.get(name)
        if signature is None:
            value = kwargs[name] if present else step.node.defaults[name]
            try:
                signature = hash_value(value)
            except UnhashableValueError as exc:
                warn_unhashable(step, ctx, name, value, exc)
                return None
            if present:
                known[name] = signature
        signatures.append(signature)
    for _name, resource in step.resources:  # by name and version, never by value
        signatures.append(resource.signature)
    try:
        code_hash = step.node.code_hash
    except Exception as exc:  # a fingerprinting failure must not fail the run
        if ctx.run.warn_once("unhashable-code", step.name):
            warnings.warn(
                f"node {step.name!r}: its code refers to a value that cannot be hashed by content ({exc}), "
                f"so its calls are not cached. Pass @node(version=...) to stand for what hashing cannot see, "
                "or mark the node @node(cache=False).",
                RuntimeWarning,
                stacklevel=5,
            )
        return None
    return step.signer.sign(code_hash, signatures)


def warn_unhashable(step: Step, ctx: RunContext, name: str, value: object, exc: Exception) -> None:
    """Warn once per run that `name` of `step` cannot be hashed, so the call is not cached."""
    if ctx.run.warn_once("unhashable", step.name, name):
        warnings.warn(
            f"node {step.name!r}: input {name!r} ({type(value).__name__}) cannot be hashed by content "
            f"({exc}), so this call is not cached. Give the type a __cache_key__() method returning "
            "something hashable, or mark the node @node(cache=False).",
            RuntimeWarning,
            stacklevel=5,
        )


def sign_broadcast(plan: ExecutionPlan, inputs: Inputs, ctx: RunContext) -> None:
    """Hash the shared inputs of a map once, for every item's cache signatures."""
    shared = ctx.input_signatures
    for name, value in inputs.items():
        if name in plan.inputs and name not in shared:
            with contextlib.suppress(UnhashableValueError):  # reported by the node call that needs it
                shared[name] = hash_value(value)


def annotate(exc: BaseException, node_name: str, ctx: RunContext) -> None:
    """Add a note naming the node, pipeline path and map item, unless an inner level did."""
    notes = getattr(exc, "__notes__", None)
    if notes and any(note.startswith(_NOTE_PREFIX) for note in notes):
        return
    with contextlib.suppress(Exception):  # an exception that refuses notes still propagates unchanged
        exc.add_note(f"{_NOTE_PREFIX}{node_name!r} of {ctx.location}")
        exc._hypernodes_node_name = node_name  # type: ignore[attr-defined]  # for ItemFailure records
