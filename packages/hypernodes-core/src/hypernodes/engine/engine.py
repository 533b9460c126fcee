"""``PipelineExecutionEngine``: WHAT running one node means, written once for every executor.

The engine owns the plan, input resolution, cache lookup and store, callbacks, retries and
timeouts of one node call, and nested pipeline nodes (which recurse through their own
effective config's backend and executor). It fires the pipeline and map hooks around what it
hands to a backend, so executors only decide what runs when and where, through the public
API of :mod:`hypernodes.executor`: :meth:`~PipelineExecutionEngine.run_step` runs one step and
returns its outputs, :meth:`~PipelineExecutionEngine.run_item` runs one map item (with its
hooks), :meth:`~PipelineExecutionEngine.run_in_order` runs a whole level in this thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final, TypeVar

from hypernodes.config.resolution import resolve_config, resolve_nested, resolve_root
from hypernodes.engine.context import RunContext
from hypernodes.engine.failures import failure_of
from hypernodes.engine.inputs import build_items, check_error_policy, check_inputs, normalize_map_over, with_bound
from hypernodes.engine.node_call import fail, prepare, sign_broadcast, store
from hypernodes.engine.plan import ConfiguredStep, FunctionStep, NestedStep
from hypernodes.engine.retry import call_node, call_node_async
from hypernodes.engine.values import Values
from hypernodes.errors import HyperNodesError
from hypernodes.executor.request import MapRequest, RunRequest

if TYPE_CHECKING:
    from hypernodes._types import Inputs, OutputNames, Outputs
    from hypernodes.config.runtime import RuntimeConfig
    from hypernodes.engine.failures import ErrorPolicy
    from hypernodes.engine.plan import ExecutionPlan, Step
    from hypernodes.executor.base import Executor
    from hypernodes.executor.request import RunPipeline
    from hypernodes.graph.pipeline import Pipeline
    from hypernodes.graph.pipeline_node import MapMode

__all__ = ["ENGINE", "Offload", "PipelineExecutionEngine"]

T = TypeVar("T")

Offload = Callable[..., Awaitable[Any]]
"""``await offload(function, *args)`` runs sync `function` off the event loop (default: a thread)."""


class PipelineExecutionEngine:
    """Run plans one node call at a time; stateless, so one instance serves every run."""

    # -- entry points used by Pipeline.run / Pipeline.map --------------------------------------

    def run_root(
        self,
        pipeline: Pipeline,
        inputs: Inputs,
        output_name: OutputNames | None,
        config: RuntimeConfig | None,
        executor: Executor | None = None,
    ) -> Outputs:
        """Validate and run `pipeline` as a root run (what ``Pipeline.run`` does).

        `executor`, if given, runs the root level whatever the resolved config says (an
        executor's own entry points, such as ``AsyncExecutor.run_async``).
        """
        inputs = with_bound(pipeline, inputs)
        ctx = self.start_run(pipeline, inputs, output_name, config, executor)
        return self.run(pipeline, inputs, ctx, output_name)

    def map_root(
        self,
        pipeline: Pipeline,
        inputs: Inputs,
        map_over: str | Sequence[str],
        map_mode: MapMode,
        output_name: OutputNames | None,
        config: RuntimeConfig | None,
        executor: Executor | None = None,
        on_error: ErrorPolicy = "raise",
    ) -> dict[str, list[Any]]:
        """Validate and map `pipeline` as a root run (what ``Pipeline.map`` does); see :meth:`run_root`."""
        items, broadcast, ctx = self.start_map(
            pipeline, with_bound(pipeline, inputs), map_over, map_mode, output_name, config, executor, on_error
        )
        return self.map(pipeline, items, broadcast, ctx, output_name)

    def start_run(
        self,
        pipeline: Pipeline,
        inputs: Inputs,
        output_name: OutputNames | None,
        config: RuntimeConfig | None,
        executor: Executor | None = None,
    ) -> RunContext:
        """Validate a root run before any node runs, and return its context (`inputs` include bound ones).

        Args:
            pipeline: The pipeline to run.
            inputs: The caller's inputs.
            output_name: The requested outputs (None: all).
            config: The call-site config, if any.
            executor: Run the root level on this executor whatever the resolved config says
                (an executor's own entry points, such as ``AsyncExecutor.run_async``).
        """
        check_inputs(pipeline, pipeline.plan(output_name), inputs)
        return self._root_context(pipeline, config, executor)

    def start_map(
        self,
        pipeline: Pipeline,
        inputs: Inputs,
        map_over: str | Sequence[str],
        map_mode: MapMode,
        output_name: OutputNames | None,
        config: RuntimeConfig | None,
        executor: Executor | None = None,
        on_error: ErrorPolicy = "raise",
    ) -> tuple[list[dict[str, Any]], dict[str, Any], RunContext]:
        """Validate a root map and split its inputs; return the items, the shared inputs and the context."""
        owner = f"pipeline {pipeline.name!r}"
        check_error_policy(on_error, owner)
        names = normalize_map_over(map_over, owner)
        check_inputs(pipeline, pipeline.plan(output_name), inputs)
        items, broadcast = build_items(inputs, names, map_mode, owner)
        return items, broadcast, self._root_context(pipeline, config, executor, on_error)

    @staticmethod
    def _root_context(
        pipeline: Pipeline, config: RuntimeConfig | None, executor: Executor | None, on_error: ErrorPolicy = "raise"
    ) -> RunContext:
        effective, locked = resolve_root(pipeline, config)
        if executor is not None and effective.executor is not executor:
            effective = effective.replace(executor=executor)
        return RunContext.root(pipeline.name, effective, locked=locked, on_error=on_error)

    # -- one level: through the level's backend, with its hooks --------------------------------

    def run(self, pipeline: Pipeline, inputs: Inputs, ctx: RunContext, output_name: OutputNames | None) -> Outputs:
        """Run `pipeline` once through ``ctx.config.backend``, firing the pipeline hooks here."""
        dispatcher = None if ctx.transparent else ctx.dispatcher
        if dispatcher is None:
            return ctx.config.backend.run(pipeline, inputs, ctx, output_name)
        dispatcher.emit("on_pipeline_start", ctx.callback_context, inputs)
        started = perf_counter()
        outputs = ctx.config.backend.run(pipeline, inputs, ctx, output_name)
        dispatcher.emit("on_pipeline_end", ctx.callback_context, outputs, perf_counter() - started)
        return outputs

    def map(
        self,
        pipeline: Pipeline,
        items: Sequence[Inputs],
        inputs: Inputs,
        ctx: RunContext,
        output_name: OutputNames | None,
    ) -> dict[str, list[Any]]:
        """Map `pipeline` over `items` through ``ctx.config.backend``; return lists by output name."""
        plan = pipeline.plan(output_name)
        dispatcher = ctx.dispatcher
        started = 0.0
        if dispatcher is not None:
            dispatcher.emit("on_map_start", ctx.callback_context, len(items))
            started = perf_counter()
        try:
            if ctx.cache is not None and inputs:
                sign_broadcast(plan, inputs, ctx)
            results = ctx.config.backend.map(pipeline, items, inputs, ctx, output_name) if items else []
        finally:  # also when items failed, so progress bars and spans are closed
            if dispatcher is not None:
                dispatcher.emit("on_map_end", ctx.callback_context, perf_counter() - started)
        if len(results) != len(items):
            raise HyperNodesError(
                f"the executor returned {len(results)} results for {len(items)} map items of "
                f"pipeline {pipeline.name!r}; this is a bug in {type(ctx.config.executor).__name__}"
            )
        return {name: [result[name] for result in results] for name in plan.outputs}

    # -- what executors call ----------------------------------------------------------------------

    def run_in_order(self, request: RunRequest) -> Outputs:
        """Run every step of `request` in this thread, in plan order; return the requested outputs.

        This is what an executor does that has nothing to overlap (and what the default
        executors do for a chain). A plain plan without cache, callbacks, retries or timeout
        takes a fast loop that only builds arguments and calls functions.
        """
        plan = request.plan
        ctx = request.ctx
        if plan.is_plain and ctx.plain_calls and ctx.cache is None and ctx.dispatcher is None:
            plain = dict(request.inputs)  # no cache: no signatures to carry
            self._run_plain(plan, plain, ctx)
            return {name: plain[name] for name in plan.outputs}
        values = Values.merge(request.inputs)
        execute = self.execute
        for step in plan.steps:
            execute(step, values, ctx, values)
        return {name: values[name] for name in plan.outputs}

    def run_item(self, request: MapRequest, position: int, run: RunPipeline) -> Outputs:
        """Run ``request.items[position]`` through `run` with the item and pipeline hooks.

        Under the map's ``on_error="continue"`` a failing item returns ``ItemFailure``
        records instead of raising.

        Args:
            request: The map.
            position: The item's position in ``request.items`` (its map index is
                ``request.first_index + position``).
            run: Runs the item's pipeline level: an executor's ``run_pipeline``.
        """
        item = request.item(position)
        ctx = item.ctx
        if ctx.dispatcher is None and ctx.on_error == "raise":
            return run(item)
        started = _item_started(item)
        try:
            outputs = run(item)
        except Exception as exc:
            if ctx.on_error == "raise":
                raise
            return self._failed(item, exc)
        _item_ended(item, outputs, started)
        return outputs

    async def run_item_async(
        self, request: MapRequest, position: int, run: Callable[[RunRequest], Awaitable[Outputs]]
    ) -> Outputs:
        """Async twin of :meth:`run_item`: awaits `run` (an async executor's level runner)."""
        item = request.item(position)
        ctx = item.ctx
        if ctx.dispatcher is None and ctx.on_error == "raise":
            return await run(item)
        started = _item_started(item)
        try:
            outputs = await run(item)
        except Exception as exc:
            if ctx.on_error == "raise":
                raise
            return self._failed(item, exc)
        _item_ended(item, outputs, started)
        return outputs

    @staticmethod
    def _failed(item: RunRequest, error: Exception) -> Outputs:
        """Return the outputs of a failed item under ``on_error="continue"``: one record for each."""
        ctx = item.ctx
        failure = failure_of(error, ctx.item_index or 0, ctx.path)
        return dict.fromkeys(item.plan.outputs, failure)

    def run_step(self, step: Step, inputs: Mapping[str, Any], ctx: RunContext) -> Values:
        """Run one step and return its outputs (with their cache signatures).

        Cache lookup and store, the node hooks, retries and timeout all happen inside; a
        nested pipeline step runs (or maps) its pipeline through that level's own config.

        Args:
            step: A step of the plan being run.
            inputs: The values the step reads (at least its required parameters). With
                :class:`Values`, their signatures chain into the cache signature instead of
                the values being hashed again.
            ctx: The context of the level the step belongs to.

        Raises:
            Exception: What the node raised, annotated with where it happened.
        """
        outputs = Values()
        self.execute(step, inputs, ctx, outputs)
        return outputs

    async def run_step_async(
        self, step: Step, inputs: Mapping[str, Any], ctx: RunContext, offload: Offload | None = None
    ) -> Values:
        """Async twin of :meth:`run_step`: awaits ``async def`` nodes on the running loop.

        Every other step (sync nodes, nested pipelines, nodes with their own config) runs
        through ``await offload(run_step, step, inputs, ctx)``; the default offload is
        :func:`asyncio.to_thread`. An executor passes its own to choose the threads.
        """
        outputs = Values()
        if self.awaits(step, ctx):
            await self._execute_async(step, inputs, ctx, outputs)
            return outputs
        result: Values = await (offload or asyncio.to_thread)(self.run_step, step, inputs, ctx)
        return result

    @staticmethod
    def awaits(step: Step, ctx: RunContext) -> bool:
        """Return whether `step` is awaited on the event loop (an ``async def`` node call)."""
        if type(step) is FunctionStep:
            return step.is_async
        return type(step) is ConfiguredStep and ctx.locked and step.call.is_async

    def execute(self, step: Step, source: Mapping[str, Any], ctx: RunContext, target: Values) -> None:
        """Run `step` reading `source` and writing its outputs into `target` (may be `source`)."""
        if type(step) is not FunctionStep:
            if type(step) is NestedStep:
                self._execute_nested(step, source, ctx, target)
                return
            assert type(step) is ConfiguredStep
            if not ctx.locked:
                self._execute_configured(step, source, ctx, target)
                return
            step = step.call
        known = source.signatures if isinstance(source, Values) else {}
        prepared = prepare(step, source, known, ctx, target)
        if prepared is None:
            return  # served from the cache
        kwargs, signature, started = prepared
        func = step.func
        try:
            if ctx.plain_calls and not step.is_async:
                result = func(**kwargs)
            else:
                config = ctx.config
                result = call_node(
                    func,
                    kwargs,
                    is_async=step.is_async,
                    retries=config.retries,
                    timeout=config.timeout,
                    node_name=step.name,
                    where=ctx,
                )
            store(step, target, result, signature, ctx, started)
        except BaseException as exc:
            fail(step, ctx, exc)
            raise

    async def _execute_async(self, step: Step, source: Mapping[str, Any], ctx: RunContext, target: Values) -> None:
        call: FunctionStep = step.call if type(step) is ConfiguredStep else step  # type: ignore[assignment]
        known = source.signatures if isinstance(source, Values) else {}
        prepared = prepare(call, source, known, ctx, target)
        if prepared is None:
            return
        kwargs, signature, started = prepared
        try:
            config = ctx.config
            result = await call_node_async(
                call.func,
                kwargs,
                is_async=True,
                retries=config.retries,
                timeout=config.timeout,
                node_name=call.name,
                where=ctx,
            )
            store(call, target, result, signature, ctx, started)
        except BaseException as exc:
            fail(call, ctx, exc)
            raise

    def _run_plain(self, plan: ExecutionPlan, values: dict[str, Any], ctx: RunContext) -> None:
        """Run a plain plan with nothing to check per node: build kwargs, call, store."""
        for step in plan.steps:
            try:
                if step.has_optional:
                    values[step.output] = step.func(**{p: values[p] for p in step.parameters if p in values})  # type: ignore[attr-defined]
                else:
                    values[step.output] = step.func(**{p: values[p] for p in step.parameters})  # type: ignore[attr-defined]
            except BaseException as exc:
                fail(step, ctx, exc)
                raise

    # -- nodes that run a pipeline ----------------------------------------------------------------

    def _execute_nested(self, step: NestedStep, source: Mapping[str, Any], ctx: RunContext, target: Values) -> None:
        node = step.node
        inner_inputs = {node.inner_input_name(p): source[p] for p in step.parameters if p in source}
        if node.has_bound:  # bound values are defaults: what the outer level passes wins
            inner_inputs = {**node.inner_bound_inputs, **inner_inputs}
        signatures: dict[str, str] = {}
        known = source.signatures if isinstance(source, Values) else {}
        shared = ctx.input_signatures
        for outer in step.parameters:
            if outer not in node.map_over:
                signature = known.get(outer) or shared.get(outer)
                if signature is not None:
                    signatures[node.inner_input_name(outer)] = signature
        config = resolve_nested(node, ctx.config, locked=ctx.locked)
        nested_ctx = ctx.for_nested(node.name, config, signatures, node.on_error)
        dispatcher = ctx.dispatcher
        started = 0.0
        if dispatcher is not None:
            dispatcher.emit("on_nested_pipeline_start", ctx.callback_context, step.name)
            started = perf_counter()
        try:
            if node.map_over:
                mapped = tuple(node.inner_input_name(n) for n in node.map_over)
                items, broadcast = build_items(
                    inner_inputs, mapped, node.map_mode, f"node {step.name!r}", node_name=step.name,
                    outer_names={node.inner_input_name(n): n for n in node.map_over},
                )  # fmt: skip
                outputs: dict[str, Any] = self.map(node.pipeline, items, broadcast, nested_ctx, step.inner_output_names)
            else:
                outputs = self.run(node.pipeline, inner_inputs, nested_ctx, step.inner_output_names)
        except BaseException as exc:
            fail(step, ctx, exc)
            raise
        for inner_name, value in outputs.items():
            target[node.outer_output_name(inner_name)] = value
        if dispatcher is not None:
            dispatcher.emit("on_nested_pipeline_end", ctx.callback_context, step.name, perf_counter() - started)

    def _execute_configured(
        self, step: ConfiguredStep, source: Mapping[str, Any], ctx: RunContext, target: Values
    ) -> None:
        """Run a node that has its own config as a one-node pipeline under that config."""
        kwargs = {p: source[p] for p in step.parameters if p in source}
        config = resolve_config(step.config, ctx.config)
        target.update(self.run(step.solo, kwargs, ctx.for_node_config(config), None))


def _item_started(item: RunRequest) -> float:
    """Fire the start hooks of a map item (the item's and its pipeline's); return the start time."""
    ctx = item.ctx
    dispatcher = ctx.dispatcher
    if dispatcher is not None:
        dispatcher.emit("on_map_item_start", ctx.callback_context, ctx.item_index)
        dispatcher.emit("on_pipeline_start", ctx.callback_context, item.inputs)
    return perf_counter()


def _item_ended(item: RunRequest, outputs: Outputs, started: float) -> None:
    """Fire the end hooks of a map item that succeeded."""
    ctx = item.ctx
    dispatcher = ctx.dispatcher
    if dispatcher is not None:
        duration = perf_counter() - started
        dispatcher.emit("on_pipeline_end", ctx.callback_context, outputs, duration)
        dispatcher.emit("on_map_item_end", ctx.callback_context, ctx.item_index, duration)


ENGINE: Final[PipelineExecutionEngine] = PipelineExecutionEngine()
"""The shared engine instance (it holds no state)."""
