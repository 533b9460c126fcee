"""DaftExecutor on Daft's native runner: what Daft users hit, beyond the behaviour suite."""

from __future__ import annotations

import asyncio
import pickle
import threading
from collections import Counter
from typing import Any

import numpy as np
import pytest

from hypernodes import InvalidArgumentError, Pipeline, RuntimeConfig, node
from hypernodes.daft import DaftExecutor
from hypernodes.testing.recording import RecordingCallback

from .nodes import (
    Doc,
    Gauge,
    Point,
    make_array,
    make_doc,
    make_handle,
    make_nothing,
    make_point,
    make_ragged,
    make_records,
    summarize,
)


def on(executor: DaftExecutor, **fields: Any) -> RuntimeConfig:
    return RuntimeConfig(executor=executor, **fields)


# -- values of any type round-trip unchanged ----------------------------------------------------


def test_python_objects_round_trip_unchanged(executor: DaftExecutor) -> None:
    p = Pipeline(
        nodes=[make_point, make_doc, make_array, make_records, make_ragged, make_nothing, make_handle, summarize]
    )
    out = p.map(inputs={"x": [1, 2, 3]}, map_over="x", config=on(executor))
    assert out["point"] == [Point(1, -1), Point(2, -2), Point(3, -3)]
    assert all(type(doc) is Doc for doc in out["doc"])  # models, not dicts
    assert out["doc"][1] == Doc(text="doc 2", tags=["a", "a"])
    assert [type(a) for a in out["array"]] == [np.ndarray] * 3 and out["array"][2].dtype == np.float32
    assert np.array_equal(out["array"][2], np.arange(3, dtype=np.float32))
    assert out["records"][2] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert out["ragged"] == [{"x": 1}, {"x": 2, "extra": [2, "mixed"]}, {"x": 3}]  # not padded with None
    assert out["nothing"] == [None, None, None]
    assert [h.value for h in out["handle"]] == [1, 2, 3]  # holds a lock: never pickled
    assert out["summary"] == ["1:1:1:1:1", "2:2:2:2:2", "3:3:3:3:3"]


def test_the_same_objects_come_back(executor: DaftExecutor) -> None:
    marker = object()

    @node(output_name="same")
    def keep(x: int, thing: object) -> object:
        return thing

    out = Pipeline(nodes=[keep]).map(inputs={"x": [1, 2], "thing": marker}, map_over="x", config=on(executor))
    assert all(value is marker for value in out["same"])


def test_mapped_python_objects_reach_the_node_unchanged(executor: DaftExecutor) -> None:
    @node(output_name="kind")
    def kind(value: object) -> str:
        return type(value).__name__

    values = [Point(1, 2), {"a": 1}, None, [1, "x"], np.zeros(2)]
    out = Pipeline(nodes=[kind]).map(inputs={"value": values}, map_over="value", config=on(executor))
    assert out == {"kind": ["Point", "dict", "NoneType", "list", "ndarray"]}


@node(output_name="n")
def as_int(x: int) -> int:
    return x * 3


@node(output_name="f")
def as_float(n: int) -> float:
    return n / 2


@node(output_name="s")
def as_str(n: int) -> str:
    return "é" * (n % 4)


@node(output_name="b")
def as_bool(n: int) -> bool:
    return n % 2 == 0


@node(output_name="ints")
def as_list(n: int) -> list[int]:
    return list(range(n % 3))


@node(output_name="raw")
def as_bytes(s: str) -> bytes:
    return s.encode()


def test_native_columns_round_trip_exactly(executor: DaftExecutor) -> None:
    p = Pipeline(nodes=[as_int, as_float, as_str, as_bool, as_list, as_bytes])
    xs = [0, 1, 2, 2**40]
    out = p.map(inputs={"x": xs}, map_over="x", config=on(executor))
    expected = {
        "n": [x * 3 for x in xs],
        "f": [x * 3 / 2 for x in xs],
        "s": ["é" * (x * 3 % 4) for x in xs],
        "b": [x * 3 % 2 == 0 for x in xs],
        "ints": [list(range(x * 3 % 3)) for x in xs],
        "raw": [("é" * (x * 3 % 4)).encode() for x in xs],
    }
    assert out == expected
    for name, values in out.items():
        assert [type(v) for v in values] == [type(v) for v in expected[name]], name
    columns = executor._columns_of(p.plan(None))
    assert [c.native.name if c.native else None for c in columns] == [
        "int64", "float64", "string", "bool", "list[int64]", "binary",
    ]  # fmt: skip


def test_values_that_break_their_annotation_round_trip_too(executor: DaftExecutor) -> None:
    @node(output_name="y")
    def liar(x: int) -> int:
        return [np.int64(5), True, None, 2**70, "seven", 3][x]  # type: ignore[return-value]

    out = Pipeline(nodes=[liar]).map(inputs={"x": list(range(6))}, map_over="x", config=on(executor))
    assert out["y"] == [5, True, None, 2**70, "seven", 3]
    assert [type(v) for v in out["y"]] == [np.int64, bool, type(None), int, str, int]


def test_native_dtypes_off_keeps_every_value_in_python() -> None:
    with DaftExecutor(native_dtypes=False) as executor:
        p = Pipeline(nodes=[as_int, as_str])
        assert p.map(inputs={"x": [1, 2]}, map_over="x", config=on(executor)) == {"n": [3, 6], "s": ["ééé", "éé"]}
        assert all(c.native is None for c in executor._columns_of(p.plan(None)))


# -- maps -----------------------------------------------------------------------------------------


@node(output_name="label")
def label(word: str, count: int) -> str:
    return f"{word.upper()}x{count}"


def test_map_over_several_inputs_zip_and_product(executor: DaftExecutor) -> None:
    p = Pipeline(nodes=[label], config=on(executor))
    zipped = p.map(inputs={"word": ["a", "b"], "count": [1, 2]}, map_over=["word", "count"])
    assert zipped == {"label": ["Ax1", "Bx2"]}
    product = p.map(inputs={"word": ["a", "b"], "count": [1, 2, 3]}, map_over=["word", "count"], map_mode="product")
    assert product == {"label": ["Ax1", "Ax2", "Ax3", "Bx1", "Bx2", "Bx3"]}


def test_string_operations_and_list_returns(executor: DaftExecutor) -> None:
    @node(output_name="tokens")
    def tokenize(text: str) -> list[str]:
        return text.lower().split()

    @node(output_name="joined")
    def join(tokens: list[str], sep: str) -> str:
        return sep.join(reversed(tokens))

    p = Pipeline(nodes=[tokenize, join], config=on(executor))
    out = p.map(inputs={"text": ["Hello Daft World", "", "ÜBER  straße"], "sep": "|"}, map_over="text")
    assert out == {
        "tokens": [["hello", "daft", "world"], [], ["über", "straße"]],
        "joined": ["world|daft|hello", "", "straße|über"],
    }


def test_empty_map_gives_empty_lists(executor: DaftExecutor) -> None:
    p = Pipeline(nodes=[as_int, as_str], config=on(executor))
    assert p.map(inputs={"x": []}, map_over="x") == {"n": [], "s": []}


def test_output_name_prunes_the_columns(executor: DaftExecutor) -> None:
    p = Pipeline(nodes=[as_int, as_float, as_str], config=on(executor))
    assert p.map(inputs={"x": [1, 2]}, map_over="x", output_name="f") == {"f": [1.5, 3.0]}
    assert [c.step.name for c in executor._columns_of(p.plan("f"))] == ["as_int", "as_float"]


def test_many_items_keep_their_order(executor: DaftExecutor) -> None:
    p = Pipeline(nodes=[as_int, as_str], config=on(executor))
    xs = list(range(3000))[::-1]
    assert p.map(inputs={"x": xs}, map_over="x", output_name="n") == {"n": [x * 3 for x in xs]}


def test_small_batches_keep_their_order() -> None:
    with DaftExecutor(batch_size=7) as executor:
        p = Pipeline(nodes=[as_int, as_float], config=on(executor))
        xs = list(range(100))
        assert p.map(inputs={"x": xs}, map_over="x", output_name="f") == {"f": [x * 1.5 for x in xs]}


# -- nesting --------------------------------------------------------------------------------------


def test_nested_mapped_pipeline_inside_a_map(executor: DaftExecutor) -> None:
    @node(output_name="length")
    def length(word: str) -> int:
        return len(word)

    @node(output_name="words")
    def split(sentence: str) -> list[str]:
        return sentence.split()

    per_word = Pipeline(nodes=[length], name="per_word").as_node(
        input_mapping={"words": "word"}, output_mapping={"length": "lengths"}, map_over="words", name="lengths"
    )

    @node(output_name="longest")
    def longest(lengths: list[int]) -> int:
        return max(lengths, default=0)

    recorder = RecordingCallback()
    p = Pipeline(nodes=[split, per_word, longest], name="doc")
    out = p.map(
        inputs={"sentence": ["a bb ccc", "", "dddd e"]},
        map_over="sentence",
        config=on(executor, callbacks=[recorder]),
    )
    assert out == {
        "words": [["a", "bb", "ccc"], [], ["dddd", "e"]],
        "lengths": [[1, 2, 3], [], [4, 1]],
        "longest": [3, 0, 4],
    }
    inner = Counter((e.path, e.item_index) for e in recorder.hooks("on_node_end") if e.subject == "length")
    # inner item indices: words 0-2 of sentence 0 and words 0-1 of sentence 2
    assert inner == Counter({(("doc", "lengths"), 0): 2, (("doc", "lengths"), 1): 2, (("doc", "lengths"), 2): 1})


def test_nested_pipeline_with_its_own_daft_executor_runs_inline(executor: DaftExecutor) -> None:
    inner = Pipeline(nodes=[as_int], name="inner", config=on(DaftExecutor(batch_size=1)))
    outer = Pipeline(nodes=[inner.as_node(map_over="x", name="per_x"), as_float.with_name("half")], name="outer")
    out = outer.map(inputs={"x": [[1, 2], [3]]}, map_over="x", config=on(executor), output_name="n")
    assert out == {"n": [[3, 6], [9]]}


# -- errors ---------------------------------------------------------------------------------------


class Refused(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"refused {code}")
        self.code = code


@node(output_name="checked")
def check(n: int) -> int:
    if n in (6, 12):
        raise Refused(n)
    return n


def test_the_first_failed_item_raises_its_own_exception_with_notes(executor: DaftExecutor) -> None:
    p = Pipeline(nodes=[as_int, check], name="strict", config=on(executor))
    with pytest.raises(Refused) as info:
        p.map(inputs={"x": [1, 4, 2, 3]}, map_over="x")
    assert info.value.code == 12  # item 1 (n=12) comes before item 2 (n=6)
    assert info.value.__notes__ == ["in node 'check' of strict, map item 1"]


def test_items_after_a_failure_do_not_run_their_downstream_nodes(executor: DaftExecutor) -> None:
    recorder = RecordingCallback()
    p = Pipeline(nodes=[as_int, check, as_str.with_name("after")], name="strict")
    with pytest.raises(Refused):
        p.map(inputs={"x": [2]}, map_over="x", config=on(executor, callbacks=[recorder]))
    assert [e.subject for e in recorder.hooks("on_node_error")] == [("check", "Refused")]
    assert recorder.hooks("on_map_item_end") == []


# -- callbacks ------------------------------------------------------------------------------------


def test_callback_counts_per_item(executor: DaftExecutor) -> None:
    recorder = RecordingCallback()
    p = Pipeline(nodes=[as_int, as_float, as_str], name="counts")
    p.map(inputs={"x": list(range(25))}, map_over="x", config=on(executor, callbacks=[recorder]))
    counts = Counter(e.hook for e in recorder.events)
    assert counts == Counter(
        {
            "on_map_start": 1, "on_map_end": 1, "on_map_item_start": 25, "on_map_item_end": 25,
            "on_pipeline_start": 25, "on_pipeline_end": 25, "on_node_start": 75, "on_node_end": 75,
        }
    )  # fmt: skip
    for i in range(25):
        events = [e.hook for e in recorder.events if e.item_index == i]
        assert events[0] == "on_map_item_start" and events[-1] == "on_map_item_end"


# -- concurrency ----------------------------------------------------------------------------------


@node(output_name="waited")
async def waited(x: int, gauge: Gauge) -> int:
    gauge.enter()
    try:
        for _ in range(3):
            await asyncio.sleep(0)  # every row of the batch gets in before any leaves
        return x
    finally:
        gauge.leave()


def test_async_rows_run_concurrently_up_to_the_limit() -> None:
    with DaftExecutor(max_concurrency=5) as executor:
        gauge = Gauge()
        p = Pipeline(nodes=[waited], config=on(executor))
        assert p.map(inputs={"x": list(range(20)), "gauge": gauge}, map_over="x") == {"waited": list(range(20))}
        assert gauge.peak == 5


def test_sync_rows_run_on_threads() -> None:
    barrier = threading.Barrier(3, timeout=30)  # breaks (an error) unless three rows wait at once

    @node(output_name="met")
    def meet(x: int, barrier: threading.Barrier) -> int:
        barrier.wait()
        return x

    with DaftExecutor(threads=3) as executor:
        p = Pipeline(nodes=[meet], config=on(executor))
        assert p.map(inputs={"x": [1, 2, 3], "barrier": barrier}, map_over="x") == {"met": [1, 2, 3]}


# -- the executor itself --------------------------------------------------------------------------


def test_invalid_arguments_are_named() -> None:
    with pytest.raises(InvalidArgumentError, match="runner"):
        DaftExecutor(runner="spark")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="address"):
        DaftExecutor(address="ray://x:10001")
    with pytest.raises(InvalidArgumentError, match="max_concurrency"):
        DaftExecutor(max_concurrency=0)
    with pytest.raises(InvalidArgumentError, match="use_process"):
        DaftExecutor(runner="ray", use_process=True)


def test_asking_for_another_runner_in_this_process_is_a_clear_error(executor: DaftExecutor) -> None:
    Pipeline(nodes=[as_int]).run(inputs={"x": 1}, config=on(executor))  # the native runner is chosen
    with pytest.raises(InvalidArgumentError, match="once per process"):
        Pipeline(nodes=[as_int]).run(inputs={"x": 1}, config=on(DaftExecutor(runner="ray")))


def test_pickles_as_its_arguments() -> None:
    executor = DaftExecutor(collect=False, threads=2, batch_size=8)
    copy = pickle.loads(pickle.dumps(executor))
    assert repr(copy) == repr(executor) == "DaftExecutor(collect=False, threads=2, batch_size=8)"


def test_collect_false_reads_partitions() -> None:
    with DaftExecutor(collect=False) as executor:
        p = Pipeline(nodes=[as_int, make_point.with_name("pt")], config=on(executor))
        out = p.map(inputs={"x": [1, 2]}, map_over="x")
        assert out == {"n": [3, 6], "point": [Point(1, -1), Point(2, -2)]}


def test_close_is_idempotent() -> None:
    executor = DaftExecutor(threads=2)
    Pipeline(nodes=[as_int]).map(inputs={"x": [1, 2]}, map_over="x", config=on(executor))
    executor.close()
    executor.close()
