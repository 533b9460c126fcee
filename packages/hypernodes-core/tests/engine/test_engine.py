from __future__ import annotations

import asyncio
import contextvars
from pathlib import Path

import pytest

from hypernodes import InlineExecutor, NodeTimeoutError, Pipeline, RuntimeConfig, node
from hypernodes.testing.nodes import async_add_one, double, read_calls, record_call, square

INLINE = RuntimeConfig(executor=InlineExecutor())
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


@node(output_name="seen")
def read_context(x: int) -> str:
    return request_id.get()


@node(output_name="seen")
async def read_context_async(x: int) -> str:
    await asyncio.sleep(0)
    return request_id.get()


def test_sync_run_with_async_nodes_works_inside_a_running_event_loop() -> None:
    p = Pipeline(nodes=[async_add_one], config=INLINE)

    async def handler() -> dict[str, list[int]]:  # like a Jupyter cell or an async web handler
        return p.map(inputs={"x": [1, 2]}, map_over="x")

    assert asyncio.run(handler()) == {"y": [2, 3]}


def test_async_node_may_itself_run_a_pipeline_with_async_nodes() -> None:
    inner = Pipeline(nodes=[async_add_one], config=INLINE)

    @node(output_name="z")
    async def outer_step(x: int) -> int:
        return int(inner.run(inputs={"x": x})["y"]) * 10

    assert Pipeline(nodes=[outer_step], config=INLINE).run(inputs={"x": 1}) == {"z": 20}


@pytest.mark.parametrize("reader", [read_context, read_context_async])
def test_nodes_see_the_callers_context_variables(reader: object) -> None:
    token = request_id.set("req-42")
    try:
        for config in (INLINE, INLINE.replace(timeout=5.0), INLINE.replace(retries=1)):
            assert Pipeline(nodes=[reader], config=config).run(inputs={"x": 1}) == {"seen": "req-42"}  # type: ignore[list-item]
    finally:
        request_id.reset(token)


def test_timeouts_are_retried(tmp_path: Path) -> None:
    log = str(tmp_path / "calls.log")

    @node(output_name="y")
    def slow_first(x: int) -> int:
        record_call(log, "call")
        if len(read_calls(log)) == 1:
            import time

            time.sleep(2)
        return x

    p = Pipeline(nodes=[slow_first], config=INLINE.replace(timeout=0.2, retries=1))
    assert p.run(inputs={"x": 3}) == {"y": 3}
    assert read_calls(log) == ["call", "call"]


def test_timeout_error_names_node_path_and_item() -> None:
    @node(output_name="y")
    async def stuck(x: int) -> int:
        await asyncio.sleep(5)
        return x

    inner = Pipeline(nodes=[stuck], name="inner").as_node(map_over="x", name="per_item")
    outer = Pipeline(nodes=[inner], name="prep", config=INLINE.replace(timeout=0.1))
    with pytest.raises(NodeTimeoutError) as info:
        outer.run(inputs={"x": [1]})
    assert str(info.value).startswith("node 'stuck' (prep > per_item, map item 0) ran past timeout=0.1s.")
    assert info.value.node_name == "stuck"


def test_plan_precomputes_steps_once() -> None:
    p = Pipeline(nodes=[double, square])
    plan = p.plan()
    assert [(s.name, s.parameters, s.output_names, s.dependencies) for s in plan.steps] == [
        ("double", ("x",), ("doubled",), ()),
        ("square", ("x",), ("squared",), ()),
    ]
    p.run(inputs={"x": 1}, config=INLINE)
    assert p.plan() is plan


def test_error_in_a_nested_map_names_every_item_on_the_path() -> None:
    from hypernodes.testing.nodes import explode

    inner = Pipeline(nodes=[explode], name="inner").as_node(map_over="x", name="per_x")
    outer = Pipeline(nodes=[inner], name="corpus", config=INLINE)
    with pytest.raises(ValueError) as info:
        outer.map(inputs={"x": [[1], [0, 2]]}, map_over="x")
    assert info.value.__notes__ == ["in node 'explode' of corpus[item 1] > per_x, map item 1"]


def test_callback_context_tells_nested_map_items_apart() -> None:
    from hypernodes.testing.recording import RecordingCallback

    recorder = RecordingCallback()
    inner = Pipeline(nodes=[double], name="inner").as_node(map_over="x", name="per_x")
    outer = Pipeline(nodes=[inner], name="corpus")
    outer.map(inputs={"x": [[1], [2, 3]]}, map_over="x", config=INLINE.replace(callbacks=[recorder]))
    seen: list[tuple[int | None, ...]] = []

    class Indices(RecordingCallback):
        def on_node_end(self, ctx, node, outputs, duration):  # type: ignore[no-untyped-def]
            seen.append(ctx.item_indices)

    outer.map(inputs={"x": [[1], [2, 3]]}, map_over="x", config=INLINE.replace(callbacks=[Indices()]))
    assert seen == [(0, 0), (1, 0), (1, 1)]


def test_listing_a_node_twice_says_so() -> None:
    from hypernodes import DependencyError

    with pytest.raises(DependencyError, match="listed twice"):
        Pipeline(nodes=[double, double])


def test_a_remote_backends_level_builds_no_cache_in_the_caller(tmp_path: Path) -> None:
    from hypernodes import CacheSpec, LocalBackend

    seen: list[object] = []

    class Elsewhere(LocalBackend):
        is_remote = True  # what ModalBackend and RemoteBackend say

        def run(self, pipeline, inputs, ctx, output_name):  # type: ignore[no-untyped-def]
            seen.append(ctx.cache)
            return super().run(pipeline, inputs, ctx, output_name)

    @node(output_name="y")
    def inc(x: int) -> int:
        return x + 1

    mount = tmp_path / "volume" / "cache"  # a volume's mount path: it exists only where the run executes
    config = RuntimeConfig(backend=Elsewhere(), cache=CacheSpec(kind="disk", path=mount))
    assert Pipeline(nodes=[inc]).run(inputs={"x": 1}, config=config) == {"y": 2}
    assert seen == [None] and not mount.exists()
