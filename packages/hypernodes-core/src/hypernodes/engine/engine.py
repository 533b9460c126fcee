"""``PipelineExecutionEngine``: WHAT running one node means, written once for every executor.

The engine owns the plan, input resolution, cache lookup and store, callbacks, retries and
timeouts of one node call, and nested pipeline nodes (which recurse through their own
effective config's backend and executor). Executors only decide what runs when and where:
they call :meth:`PipelineExecutionEngine.run_pipeline` with a scheduler that calls
:meth:`~PipelineExecutionEngine.execute_step` for each step, and
:meth:`~PipelineExecutionEngine.run_item` for each map item.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final

from hypernodes.config.resolution import resolve_root
from hypernodes.engine.context import RunContext
from hypernodes.engine.frame import RunFrame
from hypernodes.engine.inputs import build_items, check_inputs, normalize_map_over
from hypernodes.engine.node_call import fail, prepare, sign_broadcast, store
from hypernodes.engine.retry import call_node, call_node_async
from hypernodes.errors import HyperNodesError

if TYPE_CHECKING:
    from hypernodes._types import Inputs, OutputNames, Outputs
    from hypernodes.config.runtime import RuntimeConfig
    from hypernodes.engine.plan import ExecutionPlan, Step
    from hypernodes.executor.base import Executor
    from hypernodes.graph.pipeline import Pipeline
    from hypernodes.graph.pipeline_node import MapMode, PipelineNode

__all__ = ["ENGINE", "PipelineExecutionEngine", "RunFrame"]


class PipelineExecutionEngine:
    """Run plans one node call at a time; stateless, so one instance serves every run."""

    # -- entry points used by Pipeline.run / Pipeline.map --------------------------------------

    def run_root(
        self, pipeline: Pipeline, inputs: Inputs, output_name: OutputNames | None, config: RuntimeConfig | None
    ) -> Outputs:
        """Validate and run `pipeline` as a root run (what ``Pipeline.run`` does)."""
        return self.run(pipeline, inputs, self.start_run(pipeline, inputs, output_name, config), output_name)

    def map_root(
        self,
        pipeline: Pipeline,
        inputs: Inputs,
        map_over: str | Sequence[str],
        map_mode: MapMode,
        output_name: OutputNames | None,
        config: RuntimeConfig | None,
    ) -> dict[str, list[Any]]:
        """Validate and map `pipeline` as a root run (what ``Pipeline.map`` does)."""
        items, broadcast, ctx = self.start_map(pipeline, inputs, map_over, map_mode, output_name, config)
        return self.map(pipeline, items, broadcast, ctx, output_name)

    def start_run(
        self,
        pipeline: Pipeline,
        inputs: Inputs,
        output_name: OutputNames | None,
        config: RuntimeConfig | None,
        executor: Executor | None = None,
    ) -> RunContext:
        """Validate a root run before any node runs, and return its context.

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
    ) -> tuple[list[dict[str, Any]], dict[str, Any], RunContext]:
        """Validate a root map and split its inputs; return the items, the shared inputs and the context."""
        owner = f"pipeline {pipeline.name!r}"
        names = normalize_map_over(map_over, owner)
        check_inputs(pipeline, pipeline.plan(output_name), inputs)
        items, broadcast = build_items(inputs, names, map_mode, owner)
        return items, broadcast, self._root_context(pipeline, config, executor)

    @staticmethod
    def _root_context(pipeline: Pipeline, config: RuntimeConfig | None, executor: Executor | None) -> RunContext:
        effective, locked = resolve_root(pipeline, config)
        if executor is not None and effective.executor is not executor:
            effective = effective.replace(executor=executor)
        return RunContext.root(pipeline.name, effective, locked=locked)

    # -- one level: through the level's backend ---------------------------------------------------

    def run(self, pipeline: Pipeline, inputs: Inputs, ctx: RunContext, output_name: OutputNames | None) -> Outputs:
        """Run `pipeline` once through ``ctx.config.backend``."""
        return ctx.config.backend.run(pipeline, inputs, ctx, output_name)

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

    def run_pipeline(
        self,
        pipeline: Pipeline,
        inputs: Inputs,
        ctx: RunContext,
        output_name: OutputNames | None,
        schedule: Callable[[RunFrame], None] | None = None,
    ) -> Outputs:
        """Run one pipeline level: pipeline hooks, the steps, the selected outputs.

        Args:
            pipeline: The pipeline.
            inputs: Its validated inputs.
            ctx: The context of this level.
            output_name: The outputs to return (None: all).
            schedule: Runs every step of the frame's plan by calling :meth:`execute_step`,
                each after its dependencies; None runs them one by one in plan order.
        """
        plan = pipeline.plan(output_name)
        frame = RunFrame(plan, ctx, inputs)
        dispatcher = None if ctx.transparent else ctx.dispatcher
        started = 0.0
        if dispatcher is not None:
            dispatcher.emit("on_pipeline_start", ctx.callback_context, inputs)
            started = perf_counter()
        if schedule is None:
            if plan.is_plain and ctx.plain_calls and ctx.cache is None and dispatcher is None:
                self._run_plain(plan, frame)
            else:
                execute = self.execute_step
                for step in plan.steps:
                    execute(step, frame)
        else:
            schedule(frame)
        values = frame.values
        outputs = {name: values[name] for name in plan.outputs}
        if dispatcher is not None:
            dispatcher.emit("on_pipeline_end", ctx.callback_context, outputs, perf_counter() - started)
        return outputs

    async def run_pipeline_async(
        self,
        pipeline: Pipeline,
        inputs: Inputs,
        ctx: RunContext,
        output_name: OutputNames | None,
        schedule: Callable[[RunFrame], Awaitable[None]],
    ) -> Outputs:
        """Async twin of :meth:`run_pipeline`; `schedule` awaits :meth:`execute_step_async` per step."""
        plan = pipeline.plan(output_name)
        frame = RunFrame(plan, ctx, inputs)
        dispatcher = None if ctx.transparent else ctx.dispatcher
        started = 0.0
        if dispatcher is not None:
            dispatcher.emit("on_pipeline_start", ctx.callback_context, inputs)
            started = perf_counter()
        await schedule(frame)
        values = frame.values
        outputs = {name: values[name] for name in plan.outputs}
        if dispatcher is not None:
            dispatcher.emit("on_pipeline_end", ctx.callback_context, outputs, perf_counter() - started)
        return outputs

    def run_item(
        self,
        pipeline: Pipeline,
        index: int,
        item: Inputs,
        inputs: Inputs,
        ctx: RunContext,
        output_name: OutputNames | None,
        run: Callable[[Pipeline, Inputs, RunContext, OutputNames | None], Outputs] | None = None,
    ) -> Outputs:
        """Run map item `index` (its values over the shared `inputs`) with item hooks.

        Args:
            pipeline: The mapped pipeline.
            index: The item's position in the map.
            item: The item's own values (the mapped inputs).
            inputs: The values shared by every item.
            ctx: The context of the mapping level; the item gets its own.
            output_name: The outputs to return (None: all).
            run: Runs the item's pipeline, e.g. another executor's ``run_pipeline``;
                None runs its nodes one by one in this thread.
        """
        item_ctx = ctx.for_item(index)
        merged = {**inputs, **item}
        dispatcher = item_ctx.dispatcher
        if dispatcher is None:
            return (run or self.run_pipeline)(pipeline, merged, item_ctx, output_name)
        callback_context = item_ctx.callback_context
        dispatcher.emit("on_map_item_start", callback_context, index)
        started = perf_counter()
        outputs = (run or self.run_pipeline)(pipeline, merged, item_ctx, output_name)
        dispatcher.emit("on_map_item_end", callback_context, index, perf_counter() - started)
        return outputs

    async def run_item_async(
        self,
        pipeline: Pipeline,
        index: int,
        item: Inputs,
        inputs: Inputs,
        ctx: RunContext,
        output_name: OutputNames | None,
        run: Callable[[Pipeline, Inputs, RunContext, OutputNames | None], Awaitable[Outputs]],
    ) -> Outputs:
        """Async twin of :meth:`run_item`: awaits `run` (an async executor's pipeline runner)."""
        item_ctx = ctx.for_item(index)
        merged = {**inputs, **item}
        dispatcher = item_ctx.dispatcher
        if dispatcher is None:
            return await run(pipeline, merged, item_ctx, output_name)
        callback_context = item_ctx.callback_context
        dispatcher.emit("on_map_item_start", callback_context, index)
        started = perf_counter()
        outputs = await run(pipeline, merged, item_ctx, output_name)
        dispatcher.emit("on_map_item_end", callback_context, index, perf_counter() - started)
        return outputs

    def _run_plain(self, plan: ExecutionPlan, frame: RunFrame) -> None:
        """Run a plain plan with nothing to check per node: build kwargs, call, store."""
        values = frame.values
        for step in plan.steps:
            try:
                if step.has_optional:
                    values[step.output] = step.func(**{p: values[p] for p in step.parameters if p in values})  # type: ignore[index,misc]
                else:
                    values[step.output] = step.func(**{p: values[p] for p in step.parameters})  # type: ignore[index,misc]
            except BaseException as exc:
                fail(step, frame.ctx, exc)
                raise

    def execute_step(self, step: Step, frame: RunFrame) -> None:
        """Execute one step of `frame`: cache lookup, hooks, the call (retries, timeout), store."""
        if step.is_nested:
            self._execute_nested(step, frame)
            return
        ctx = frame.ctx
        if step.node_config is not None and not ctx.locked:
            self._execute_with_node_config(step, frame)
            return
        prepared = prepare(step, frame)
        if prepared is None:
            return  # served from the cache
        kwargs, signature, started = prepared
        try:
            if ctx.plain_calls and not step.is_async:
                result = step.node.func(**kwargs)  # type: ignore[union-attr]
            else:
                config = ctx.config
                result = call_node(
                    step.node.func,  # type: ignore[union-attr]
                    kwargs,
                    is_async=step.is_async,
                    retries=config.retries,
                    timeout=config.timeout,
                    node_name=step.name,
                    location=ctx.location,
                )
            store(step, frame, result, signature, kwargs, started)
        except BaseException as exc:
            fail(step, ctx, exc)
            raise

    async def execute_step_async(self, step: Step, frame: RunFrame) -> None:
        """Async twin of :meth:`execute_step`: awaits async nodes, runs sync ones in a thread."""
        ctx = frame.ctx
        if step.is_nested or not step.is_async or (step.node_config is not None and not ctx.locked):
            await asyncio.to_thread(self.execute_step, step, frame)
            return
        prepared = prepare(step, frame)
        if prepared is None:
            return
        kwargs, signature, started = prepared
        try:
            config = ctx.config
            result = await call_node_async(
                step.node.func,  # type: ignore[union-attr]
                kwargs,
                is_async=True,
                retries=config.retries,
                timeout=config.timeout,
                node_name=step.name,
                location=ctx.location,
            )
            store(step, frame, result, signature, kwargs, started)
        except BaseException as exc:
            fail(step, ctx, exc)
            raise

    # -- nodes that run a pipeline ----------------------------------------------------------------

    def _execute_nested(self, step: Step, frame: RunFrame) -> None:
        node: PipelineNode = step.node  # type: ignore[assignment]
        ctx = frame.ctx
        values = frame.values
        inner_inputs = {node.inner_input_name(p): values[p] for p in step.parameters if p in values}
        own_config = node.config if node.config is not None else node.pipeline.config
        signatures: dict[str, str] = {}
        known, shared = frame.signatures, ctx.input_signatures
        for outer in step.parameters:
            if outer not in node.map_over:
                signature = known.get(outer) or shared.get(outer)
                if signature is not None:
                    signatures[node.inner_input_name(outer)] = signature
        nested_ctx = ctx.for_nested(node.name, own_config, signatures)
        dispatcher = ctx.dispatcher
        started = 0.0
        if dispatcher is not None:
            dispatcher.emit("on_nested_pipeline_start", ctx.callback_context, step.name)
            started = perf_counter()
        try:
            if node.map_over:
                mapped = tuple(node.inner_input_name(n) for n in node.map_over)
                items, broadcast = build_items(
                    inner_inputs, mapped, node.map_mode, f"node {step.name!r}", node_name=step.name
                )
                outputs: dict[str, Any] = self.map(node.pipeline, items, broadcast, nested_ctx, step.inner_output_names)
            else:
                outputs = self.run(node.pipeline, inner_inputs, nested_ctx, step.inner_output_names)
        except BaseException as exc:
            fail(step, ctx, exc)
            raise
        for inner_name, value in outputs.items():
            values[node.outer_output_name(inner_name)] = value
        if dispatcher is not None:
            dispatcher.emit("on_nested_pipeline_end", ctx.callback_context, step.name, perf_counter() - started)

    def _execute_with_node_config(self, step: Step, frame: RunFrame) -> None:
        """Run a node that has its own config as a one-node pipeline under that config."""
        values = frame.values
        kwargs = {p: values[p] for p in step.parameters if p in values}
        assert step.node_config is not None and step.solo is not None  # set together by build_plan
        outputs = self.run(step.solo, kwargs, frame.ctx.for_node_config(step.node_config), None)
        values.update(outputs)


ENGINE: Final = PipelineExecutionEngine()
"""The shared engine instance (it holds no state)."""
