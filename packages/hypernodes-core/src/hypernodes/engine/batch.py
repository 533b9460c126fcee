"""Maps run by batch: each step over every item at once, through the node's batch form.

A node may carry a batch form (``@node(batch=...)``): the same computation over lists of
inputs, one result per item. :func:`run_batch` runs the items of a map step by step instead
of item by item: a step with a batch form is called once for every item that missed the
cache; the other steps run item by item. Per-item semantics are kept: each item is looked up
and stored in the cache on its own (cached items are taken out of the batch), node hooks fire
per item, and the map item hooks fire once per item.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any

from hypernodes.engine.node_call import fail, prepare, store
from hypernodes.engine.plan import FunctionStep
from hypernodes.engine.retry import call_node
from hypernodes.engine.values import Values
from hypernodes.errors import InvalidArgumentError

if TYPE_CHECKING:
    from hypernodes._types import Outputs
    from hypernodes.engine.context import RunContext
    from hypernodes.engine.plan import Step
    from hypernodes.executor.request import MapRequest

__all__ = ["is_batched", "run_batch", "run_step_batch"]


def is_batched(step: Step, ctx: RunContext) -> bool:
    """Return whether `step` runs through its batch form under `ctx` (a batch form, no timeout).

    A timeout limits one node call, which has no meaning for a call covering many items, so
    under a timeout the per-item function runs instead.
    """
    return type(step) is FunctionStep and step.batch is not None and ctx.config.timeout is None


def run_batch(request: MapRequest) -> list[Outputs] | None:
    """Run the items of `request` step by step, through the batch forms of its nodes.

    What a vectorising executor calls for a map (or a chunk of one). Steps with a batch form
    run once for all the items that missed the cache; the other steps run item by item, in
    this thread. Item hooks fire once per item, as ``run_item`` fires them.

    Returns:
        The outputs of each item, in item order; or None when no step of the plan would run
        through a batch form (the caller then runs the items as usual), or when the request
        has its own per-item runner (``CompositeExecutor``'s node executor).

    Raises:
        Exception: The first failure, as a per-item run raises it.
        InvalidArgumentError: A batch form returned a wrong number of results (naming the node).
    """
    ctx = request.ctx
    plan = request.plan
    if not request.items or request.runner is not None or not any(is_batched(s, ctx) for s in plan.steps):
        return None
    from hypernodes.engine.engine import ENGINE  # the engine's per-step path, for steps without a batch form

    first = request.first_index
    contexts = [ctx.for_item(first + position) for position in range(len(request.items))]
    values = [Values.merge(request.inputs, item) for item in request.items]
    dispatcher = ctx.dispatcher
    if dispatcher is not None:
        for item_ctx, item_values in zip(contexts, values):
            dispatcher.emit("on_map_item_start", item_ctx.callback_context, item_ctx.item_index)
            dispatcher.emit("on_pipeline_start", item_ctx.callback_context, item_values)
    started = perf_counter()
    execute = ENGINE.execute
    for step in plan.steps:
        if is_batched(step, ctx):
            for item_values, step_outputs in zip(values, run_step_batch(step, values, contexts)):
                item_values.add(step_outputs)
        else:
            for item_ctx, item_values in zip(contexts, values):
                execute(step, item_values, item_ctx, item_values)
    results: list[Outputs] = [{name: item_values[name] for name in plan.outputs} for item_values in values]
    if dispatcher is not None:
        duration = perf_counter() - started  # the items ran together: each took the whole time
        for item_ctx, outputs in zip(contexts, results):
            dispatcher.emit("on_pipeline_end", item_ctx.callback_context, outputs, duration)
            dispatcher.emit("on_map_item_end", item_ctx.callback_context, item_ctx.item_index, duration)
    return results


def run_step_batch(step: Step, sources: Sequence[Mapping[str, Any]], contexts: Sequence[RunContext]) -> list[Values]:
    """Run one step for several items at once; return each item's outputs (with signatures).

    The seam for executors that batch a step themselves (a Daft batch UDF): `sources` are
    the values each item's step reads (:class:`Values` carry their signatures), `contexts`
    each item's context (``map_ctx.for_item(index)``). Each item is looked up in the cache on
    its own; the batch form is called once, for the misses; each result is stored per item.
    A step without a batch form (or under a timeout) runs item by item, so this is always
    correct to call.

    Raises:
        Exception: What the batch form raised, noted with the node and the items.
        InvalidArgumentError: The batch form returned a wrong number of results.
    """
    targets = [Values() for _ in sources]
    if not sources:
        return targets
    if not is_batched(step, contexts[0]):
        from hypernodes.engine.engine import ENGINE  # the engine imports this module's users

        for source, item_ctx, target in zip(sources, contexts, targets):
            ENGINE.execute(step, source, item_ctx, target)
        return targets
    assert isinstance(step, FunctionStep) and step.batch is not None
    misses: list[tuple[int, dict[str, Any], str | None, float]] = []
    for position, (source, item_ctx) in enumerate(zip(sources, contexts)):
        known = source.signatures if isinstance(source, Values) else {}
        prepared = prepare(step, source, known, item_ctx, targets[position])
        if prepared is not None:  # None: served from the cache
            misses.append((position, *prepared))
    if not misses:
        return targets
    try:
        results = _call_batch(step, [kwargs for _, kwargs, _, _ in misses], contexts[misses[0][0]])
        for (position, _, signature, started), result in zip(misses, results):
            store(step, targets[position], result, signature, contexts[position], started)
    except BaseException as exc:
        _note_batch(exc, step, [contexts[position] for position, *_ in misses])
        for position, *_ in misses:
            fail(step, contexts[position], exc)  # on_node_error for each item of the batch
        raise
    return targets


def _call_batch(step: FunctionStep, calls: list[dict[str, Any]], ctx: RunContext) -> list[Any]:
    """Call the batch form with one list per parameter; check that it returned one result per call."""
    resources = {name for name, _ in step.resources}
    defaults = step.node.defaults
    columns: dict[str, Any] = {}
    for name in step.parameters:
        default = defaults.get(name)
        columns[name] = [kwargs.get(name, default) for kwargs in calls]
    for name in resources:
        columns[name] = calls[0][name]  # one built value, the same for every item of this worker
    batch = step.batch
    assert batch is not None
    config = ctx.config
    result = call_node(
        batch, columns, is_async=step.batch_is_async, retries=config.retries, timeout=None,
        node_name=step.name, where=ctx,
    )  # fmt: skip
    try:
        results = result if isinstance(result, list) else list(result)
    except TypeError:
        results = None
    if results is None or len(results) != len(calls):
        got = _count(len(results), "result") if results is not None else f"{type(result).__name__}, not a sequence"
        raise InvalidArgumentError(
            f"the batch form of node {step.name!r} returned {got} for a batch of {_count(len(calls), 'item')}; "
            "it must return one result per item, in item order (a list, or any sequence of that length)",
            node_name=step.name,
        )
    return results


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _note_batch(exc: BaseException, step: FunctionStep, contexts: list[RunContext]) -> None:
    """Note that `exc` comes from the batch form of `step`, called for the items of `contexts`."""
    notes = getattr(exc, "__notes__", None)
    if notes and any(note.startswith("in node ") for note in notes):
        return  # a deeper level (or a resource's build) said where already
    indices = [c.item_index for c in contexts]
    shown = ", ".join(str(i) for i in indices[:5]) + (f", ... ({len(indices)} items)" if len(indices) > 5 else "")
    where = contexts[0].location.rsplit(", map item", 1)[0]
    with contextlib.suppress(Exception):  # an exception that refuses notes still propagates unchanged
        exc.add_note(f"in node {step.name!r} of {where}, its batch form, called for map items {shown}")
