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
from collections.abc import Callable, Mapping, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any

from hypernodes.engine.node_call import fail, prepare, store, unpack
from hypernodes.engine.plan import FunctionStep
from hypernodes.engine.retry import call_node
from hypernodes.engine.values import Values
from hypernodes.errors import InvalidArgumentError
from hypernodes.resources.pool import fill_resources

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
        through a batch form (the caller then runs the items as usual), when the request
        has its own per-item runner (``CompositeExecutor``'s node executor), or when the map
        keeps failures per item (``on_error="continue"``).

    Raises:
        Exception: The first failure, as a per-item run raises it.
        InvalidArgumentError: A batch form returned a wrong number of results (naming the node).
    """
    ctx = request.ctx
    plan = request.plan
    if (
        not request.items
        or request.runner is not None
        or ctx.on_error != "raise"  # failures kept per item: each item runs on its own
        or not any(is_batched(s, ctx) for s in plan.steps)
    ):
        return None
    from hypernodes.engine.engine import ENGINE  # the engine's per-step path, for steps without a batch form

    first = request.first_index
    made: list[RunContext | None] = [None] * len(request.items)

    def context(position: int) -> RunContext:  # made when needed: a plain batch needs none
        item_ctx = made[position]
        if item_ctx is None:
            item_ctx = made[position] = ctx.for_item(first + position)
        return item_ctx

    shared = request.inputs
    known = shared.signatures if isinstance(shared, Values) else None
    values = [Values({**shared, **item}, None if known is None else dict(known)) for item in request.items]
    dispatcher = ctx.dispatcher
    if dispatcher is not None:
        for position, item_values in enumerate(values):
            item_ctx = context(position)
            dispatcher.emit("on_map_item_start", item_ctx.callback_context, item_ctx.item_index)
            dispatcher.emit("on_pipeline_start", item_ctx.callback_context, item_values)
    started = perf_counter()
    execute = ENGINE.execute
    for step in plan.steps:
        if is_batched(step, ctx):
            _run_step(step, values, ctx, context, values)  # each item's outputs join its values
        else:
            for position, item_values in enumerate(values):
                execute(step, item_values, context(position), item_values)
    outputs = plan.outputs
    results: list[Outputs] = [{name: item_values[name] for name in outputs} for item_values in values]
    if dispatcher is not None:
        duration = perf_counter() - started  # the items ran together: each took the whole time
        for position, item_outputs in enumerate(results):
            item_ctx = context(position)
            dispatcher.emit("on_pipeline_end", item_ctx.callback_context, item_outputs, duration)
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
    if sources:
        _run_step(step, sources, contexts[0], contexts.__getitem__, targets)
    return targets


def _run_step(
    step: Step,
    sources: Sequence[Mapping[str, Any]],
    ctx: RunContext,
    context: Callable[[int], RunContext],
    targets: Sequence[Values],
) -> None:
    """Run `step` for every item: its outputs go to ``targets[i]`` (which may be ``sources[i]``).

    `ctx` is any item's context (the items of one map share config, cache and callbacks);
    ``context(i)`` returns item i's.
    """
    if not is_batched(step, ctx):
        from hypernodes.engine.engine import ENGINE  # the engine imports this module's users

        for position, (source, target) in enumerate(zip(sources, targets)):
            ENGINE.execute(step, source, context(position), target)
        return
    assert isinstance(step, FunctionStep)
    plain = ctx.dispatcher is None and (ctx.cache is None or not step.cacheable)
    if plain:  # nothing to look up, store or report per item: every item goes into the batch
        rows: Sequence[Mapping[str, Any]] = sources
        misses: list[tuple[int, str | None, float]] = [(position, None, 0.0) for position in range(len(sources))]
    else:
        rows, misses = [], []
        for position, (source, target) in enumerate(zip(sources, targets)):
            known = source.signatures if isinstance(source, Values) else {}
            prepared = prepare(step, source, known, context(position), target)
            if prepared is not None:  # None: served from the cache
                kwargs, signature, started = prepared
                rows.append(kwargs)
                misses.append((position, signature, started))
        if not misses:
            return
    try:
        results = _call_batch(step, rows, ctx)
        for (position, signature, started), result in zip(misses, results):
            if plain:
                unpack(step, targets[position], result)
            else:
                store(step, targets[position], result, signature, context(position), started)
    except BaseException as exc:
        _note_batch(exc, step, [context(position) for position, *_ in misses])
        for position, *_ in misses:
            fail(step, context(position), exc)  # on_node_error for each item of the batch
        raise


def _call_batch(step: FunctionStep, rows: Sequence[Mapping[str, Any]], ctx: RunContext) -> list[Any]:
    """Call the batch form with one list per parameter; check that it returned one result per row."""
    defaults = step.node.defaults
    columns: dict[str, Any] = {}
    for name in step.parameters:
        if name in defaults:
            default = defaults[name]
            columns[name] = [row.get(name, default) for row in rows]
        else:
            columns[name] = [row[name] for row in rows]
    if step.resources:  # one built value for every item (prepare already put them in its kwargs)
        first = rows[0]
        if all(name in first for name, _ in step.resources):
            columns.update({name: first[name] for name, _ in step.resources})
        else:
            fill_resources(step, columns, ctx)
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
    if results is None or len(results) != len(rows):
        got = _count(len(results), "result") if results is not None else f"{type(result).__name__}, not a sequence"
        raise InvalidArgumentError(
            f"the batch form of node {step.name!r} returned {got} for a batch of {_count(len(rows), 'item')}; "
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
