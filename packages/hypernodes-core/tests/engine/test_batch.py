from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from hypernodes import CacheSpec, InlineExecutor, InvalidArgumentError, Pipeline, RuntimeConfig, node
from hypernodes.executor import MapRequest, RunContext, dumps, loads, run_batch, run_step_batch
from hypernodes.testing.recording import RecordingCallback


class BatchingExecutor(InlineExecutor):
    """A vectorising executor: maps through the nodes' batch forms when they have some."""

    def map_items(self, request: MapRequest) -> list[dict[str, Any]]:
        batched = run_batch(request)
        return super().map_items(request) if batched is None else batched


BATCHING = RuntimeConfig(executor=BatchingExecutor())


def make_double(calls: list[Any]) -> Any:
    def double_batch(x: list[int]) -> list[int]:
        calls.append(list(x))
        return [2 * v for v in x]

    @node(output_name="doubled", batch=double_batch)
    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    return double


def test_a_map_calls_the_batch_form_once_for_all_items() -> None:
    calls: list[Any] = []
    p = Pipeline(nodes=[make_double(calls)], config=BATCHING)
    assert p.map(inputs={"x": [1, 2, 3]}, map_over="x") == {"doubled": [2, 4, 6]}
    assert calls == [[1, 2, 3]]
    assert p.run(inputs={"x": 4}) == {"doubled": 8}  # a run uses the per-item function
    assert calls[-1] == 4


def test_steps_without_a_batch_form_run_per_item_between_batched_ones() -> None:
    calls: list[Any] = []

    @node(output_name="plus")
    def plus(doubled: int, step: int = 1) -> int:
        return doubled + step

    def scale_batch(plus: list[int], factor: list[int]) -> list[int]:
        calls.append(("scale", list(plus), list(factor)))
        return [p * f for p, f in zip(plus, factor)]

    @node(output_name="scaled", batch=scale_batch)
    def scale(plus: int, factor: int) -> int:
        return plus * factor

    p = Pipeline(nodes=[make_double(calls), plus, scale], config=BATCHING)
    out = p.map(inputs={"x": [1, 2], "factor": 10}, map_over="x")
    assert out == {"doubled": [2, 4], "plus": [3, 5], "scaled": [30, 50]}
    assert calls == [[1, 2], ("scale", [3, 5], [10, 10])]  # shared inputs arrive as lists too


def test_defaults_fill_the_lists_of_optional_inputs() -> None:
    seen: list[list[int]] = []

    def inc_batch(x: list[int], step: list[int]) -> list[int]:
        seen.append(list(step))
        return [v + s for v, s in zip(x, step)]

    inc = node(lambda x, step=5: x + step, output_name="y", batch=inc_batch)
    p = Pipeline(nodes=[inc], config=BATCHING)
    assert p.map(inputs={"x": [1, 2]}, map_over="x") == {"y": [6, 7]}
    assert p.map(inputs={"x": [1, 2], "step": [0, 1]}, map_over=["x", "step"]) == {"y": [1, 3]}
    assert seen == [[5, 5], [0, 1]]


def test_tuple_outputs_come_as_one_tuple_per_item() -> None:
    split = node(
        lambda x: divmod(x, 3), output_name=("q", "r"), batch=lambda x: [divmod(v, 3) for v in x]
    )
    assert Pipeline(nodes=[split], config=BATCHING).map(inputs={"x": [7, 9]}, map_over="x") == {
        "q": [2, 3],
        "r": [1, 0],
    }


def test_a_batch_form_may_return_any_sequence_or_iterable() -> None:
    double = node(lambda x: 2 * x, output_name="d", batch=lambda x: (2 * v for v in x))
    assert Pipeline(nodes=[double], config=BATCHING).map(inputs={"x": [1, 2]}, map_over="x") == {"d": [2, 4]}


def test_an_async_batch_form_is_awaited() -> None:
    async def double_batch(x: list[int]) -> list[int]:
        return [2 * v for v in x]

    double = node(lambda x: 2 * x, output_name="d", batch=double_batch)
    assert Pipeline(nodes=[double], config=BATCHING).map(inputs={"x": [1, 2]}, map_over="x") == {"d": [2, 4]}


@pytest.mark.parametrize(("returned", "got"), [([1], "1 result"), ([1, 2, 3], "3 results"), (7, "int, not a sequence")])
def test_a_batch_of_the_wrong_length_is_an_error_naming_the_node(returned: Any, got: str) -> None:
    bad = node(lambda x: x, output_name="y", name="embed", batch=lambda x: returned)
    p = Pipeline(nodes=[bad], name="p", config=BATCHING)
    with pytest.raises(InvalidArgumentError, match=f"node 'embed' returned {got} for a batch of 2 items") as info:
        p.map(inputs={"x": [1, 2]}, map_over="x")
    assert info.value.node_name == "embed"
    assert info.value.__notes__ == ["in node 'embed' of p, its batch form, called for map items 0, 1"]


def test_a_failing_batch_raises_its_own_error_and_reports_each_item() -> None:
    def broken(x: list[int]) -> list[int]:
        raise ValueError(f"bad batch {x}")

    recorder = RecordingCallback()
    p = Pipeline(nodes=[node(lambda x: x, output_name="y", name="embed", batch=broken)], name="p")
    with pytest.raises(ValueError, match=r"bad batch \[1, 2\]"):
        p.map(inputs={"x": [1, 2]}, map_over="x", config=BATCHING.replace(callbacks=[recorder]))
    assert [(e.item_index, e.subject) for e in recorder.hooks("on_node_error")] == [
        (0, ("embed", "ValueError")),
        (1, ("embed", "ValueError")),
    ]


def test_cached_items_are_taken_out_of_the_batch(tmp_path: Path) -> None:
    calls: list[Any] = []
    p = Pipeline(nodes=[make_double(calls)], name="p")
    config = BATCHING.replace(cache=CacheSpec(kind="disk", path=tmp_path))
    p.map(inputs={"x": [1, 2]}, map_over="x", config=config)
    assert p.map(inputs={"x": [3, 1, 4, 2]}, map_over="x", config=config) == {"doubled": [6, 2, 8, 4]}
    assert calls == [[1, 2], [3, 4]]
    assert p.map(inputs={"x": [4, 3]}, map_over="x", config=config) == {"doubled": [8, 6]}
    assert len(calls) == 2  # every item cached: the batch form is not called


def test_batch_and_per_item_results_share_cache_entries(tmp_path: Path) -> None:
    calls: list[Any] = []
    p = Pipeline(nodes=[make_double(calls)], name="p")
    spec = CacheSpec(kind="disk", path=tmp_path)
    p.map(inputs={"x": [1, 2]}, map_over="x", config=BATCHING.replace(cache=spec))
    assert p.map(inputs={"x": [1, 2]}, map_over="x", config=RuntimeConfig(executor=InlineExecutor(), cache=spec)) == {
        "doubled": [2, 4]
    }
    assert calls == [[1, 2]]


def test_hooks_fire_per_item_as_in_a_per_item_map() -> None:
    def record(config: RuntimeConfig) -> Counter[tuple[str, int | None]]:
        recorder = RecordingCallback()
        Pipeline(nodes=[make_double([])], name="p").map(
            inputs={"x": [1, 2, 3]}, map_over="x", config=config.replace(callbacks=[recorder])
        )
        return Counter((e.hook, e.item_index) for e in recorder.events)

    assert record(BATCHING) == record(RuntimeConfig(executor=InlineExecutor()))


def test_a_timeout_runs_the_per_item_function() -> None:
    calls: list[Any] = []
    p = Pipeline(nodes=[make_double(calls)], config=BATCHING.replace(timeout=10.0))
    assert p.map(inputs={"x": [1, 2]}, map_over="x") == {"doubled": [2, 4]}
    assert calls == [1, 2]


def test_retries_call_the_batch_form_again() -> None:
    attempts: list[int] = []

    def flaky(x: list[int]) -> list[int]:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return x

    p = Pipeline(nodes=[node(lambda x: x, output_name="y", batch=flaky)], config=BATCHING.replace(retries=2))
    assert p.map(inputs={"x": [1, 2]}, map_over="x") == {"y": [1, 2]}
    assert len(attempts) == 3


def test_run_batch_declines_plans_without_batch_forms_and_per_item_runners() -> None:
    calls: list[Any] = []
    plain = Pipeline(nodes=[node(lambda x: x, output_name="y")])
    ctx = RunContext.for_pipeline(plain)
    assert run_batch(MapRequest.of(plain, [{"x": 1}], {}, ctx, None)) is None
    batched = Pipeline(nodes=[make_double(calls)])
    request = MapRequest.of(batched, [{"x": 1}], {}, RunContext.for_pipeline(batched), None)
    assert run_batch(request.replace(runner=InlineExecutor().run_pipeline)) is None
    assert run_batch(request.replace(items=[])) is None
    assert run_batch(request) == [{"doubled": 2}] and calls == [[1]]


def test_run_step_batch_runs_steps_without_a_batch_form_per_item() -> None:
    inner = Pipeline(nodes=[node(lambda x: x + 1, output_name="y")], name="inner")
    outer = Pipeline(nodes=[inner], name="outer")
    ctx = RunContext.for_pipeline(outer, RuntimeConfig(executor=InlineExecutor()))
    (step,) = outer.plan().steps
    outputs = run_step_batch(step, [{"x": 1}, {"x": 5}], [ctx.for_item(0), ctx.for_item(1)])
    assert [dict(o) for o in outputs] == [{"y": 2}, {"y": 6}]
    assert run_step_batch(step, [], []) == []


def test_with_batch_checks_the_parameters() -> None:
    base = node(lambda text, lower=True: text, output_name="clean", name="clean")
    assert base.with_batch(lambda text, lower: text).batch is not None
    assert base.with_batch(lambda **columns: columns["text"]).batch is not None
    assert base.with_batch(None).batch is None
    with pytest.raises(InvalidArgumentError, match=r"node 'clean'.*does not take 'lower'"):
        base.with_batch(lambda text: text)
    with pytest.raises(InvalidArgumentError, match=r"requires 'model', which the node does not have"):
        base.with_batch(lambda text, lower, model: text)
    with pytest.raises(InvalidArgumentError, match="batch= needs a function"):
        base.with_batch("fast")  # type: ignore[arg-type]


def test_the_batch_form_is_kept_by_copies_and_is_part_of_the_code_hash() -> None:
    def fast(x: list[int]) -> list[int]:
        return x

    def faster(x: list[int]) -> list[int]:
        return list(x)

    base = node(lambda x: x, output_name="y", name="ident")
    with_fast = base.with_batch(fast)
    assert with_fast.with_name("other").batch is fast and with_fast.with_config(retries=1).batch is fast
    assert loads(dumps(with_fast)).batch([1]) == [1]
    assert len({base.code_hash, with_fast.code_hash, base.with_batch(faster).code_hash}) == 3
