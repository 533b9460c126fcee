"""ProgressCallback, driven by hook calls in the order the engine makes them."""

from __future__ import annotations

import io
import pickle
import sys
import threading
import types
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from hypernodes.callbacks import _bars
from hypernodes.callbacks.context import CallbackContext
from hypernodes.callbacks.progress import ProgressCallback
from hypernodes.errors import InvalidArgumentError
from hypernodes.testing.contexts import item, nested, root


def run_nodes(cb: ProgressCallback, ctx: CallbackContext, nodes: Sequence[str], cached: Sequence[str] = ()) -> None:
    for name in nodes:
        if name in cached:
            cb.on_node_cached(ctx, name, "sig-" + name)
        else:
            cb.on_node_start(ctx, name, {})
            cb.on_node_end(ctx, name, {name: 1}, 0.01)


def run_pipeline(cb: ProgressCallback, ctx: CallbackContext, nodes: Sequence[str], cached: Sequence[str] = ()) -> None:
    cb.on_pipeline_start(ctx, {})
    run_nodes(cb, ctx, nodes, cached)
    cb.on_pipeline_end(ctx, {}, 0.03)


def run_item(
    cb: ProgressCallback, map_ctx: CallbackContext, index: int, nodes: Sequence[str], cached: Sequence[str] = ()
) -> None:
    ctx = item(map_ctx, index)
    cb.on_map_item_start(ctx, index)
    run_pipeline(cb, ctx, nodes, cached)
    cb.on_map_item_end(ctx, index, 0.03)


def start_item(cb: ProgressCallback, map_ctx: CallbackContext, index: int) -> CallbackContext:
    """Start item `index` of a map and its run, and return the item's context."""
    ctx = item(map_ctx, index)
    cb.on_map_item_start(ctx, index)
    cb.on_pipeline_start(ctx, {})
    return ctx


def lines(out: io.StringIO) -> list[str]:
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text  # log-file output: no redraws, no cursor moves
    return text.splitlines()


@pytest.fixture(name="out")
def out_fixture() -> io.StringIO:
    return io.StringIO()  # not a terminal: style="auto" writes plain lines


def test_map_bar_counts_items_not_node_calls(out: io.StringIO) -> None:
    cb = ProgressCallback(file=out)
    map_ctx = root("prep")
    cb.on_map_start(map_ctx, 5)
    for i in range(5):
        run_item(cb, map_ctx, i, ["clean", "count", "embed"])
    cb.on_map_end(map_ctx, 0.2)

    (line,) = lines(out)  # the items' pipeline runs have no bars of their own
    assert line.startswith("prep: 100%")
    assert "5/5" in line
    assert "cached=0, failed=0" in line


def test_map_bar_shows_items_served_from_cache_and_failed_items(out: io.StringIO) -> None:
    cb = ProgressCallback(file=out)
    map_ctx = root("prep")
    cb.on_map_start(map_ctx, 4)
    run_item(cb, map_ctx, 0, ["clean", "count"], cached=["clean", "count"])
    run_item(cb, map_ctx, 1, ["clean", "count"], cached=["clean", "count"])
    run_item(cb, map_ctx, 2, ["clean", "count"], cached=["clean"])  # partly cached: not counted
    failing = start_item(cb, map_ctx, 3)
    cb.on_node_start(failing, "clean", {})
    cb.on_node_error(failing, "clean", ValueError("bad text"))
    cb.on_map_end(map_ctx, 0.2)

    (line,) = lines(out)
    assert "4/4" in line
    assert "cached=2, failed=1" in line


def test_pipeline_bar_counts_executed_and_cached_nodes(out: io.StringIO) -> None:
    cb = ProgressCallback(file=out)
    run_pipeline(cb, root("prep"), ["clean", "count", "embed"], cached=["clean"])

    (line,) = lines(out)
    assert line.startswith("prep: 3 nodes [")
    assert "cached=1, failed=0" in line


def test_nested_pipeline_has_its_own_indented_bar_and_counts_as_one_node(out: io.StringIO) -> None:
    cb = ProgressCallback(file=out)
    run = root("prep")
    cb.on_pipeline_start(run, {})
    run_nodes(cb, run, ["clean"])
    cb.on_nested_pipeline_start(run, "inner")
    run_pipeline(cb, nested(run, "inner"), ["split", "embed"])
    cb.on_nested_pipeline_end(run, "inner", 0.02)
    cb.on_pipeline_end(run, {}, 0.05)

    assert [line.split(" [")[0] for line in lines(out)] == ["  inner: 2 nodes", "prep: 2 nodes"]


def test_a_fully_cached_nested_pipeline_counts_as_a_cached_node(out: io.StringIO) -> None:
    cb = ProgressCallback(file=out)
    run = root("prep")
    cb.on_pipeline_start(run, {})
    cb.on_nested_pipeline_start(run, "inner")
    run_pipeline(cb, nested(run, "inner"), ["split", "embed"], cached=["split", "embed"])
    cb.on_nested_pipeline_end(run, "inner", 0.02)
    cb.on_pipeline_end(run, {}, 0.05)

    inner_line, outer_line = lines(out)
    assert "cached=2, failed=0" in inner_line
    assert outer_line.startswith("prep: 1 nodes") and "cached=1, failed=0" in outer_line


def test_items_whose_nested_pipeline_is_fully_cached_count_as_cached(out: io.StringIO) -> None:
    cb = ProgressCallback(file=out)
    map_ctx = root("corpus")
    cb.on_map_start(map_ctx, 3)
    for i in range(3):
        ctx = item(map_ctx, i)
        cb.on_map_item_start(ctx, i)
        cb.on_pipeline_start(ctx, {})
        cb.on_nested_pipeline_start(ctx, "per_doc")
        run_pipeline(cb, nested(ctx, "per_doc"), ["embed"], cached=["embed"] if i < 2 else ())
        cb.on_nested_pipeline_end(ctx, "per_doc", 0.01)
        cb.on_pipeline_end(ctx, {}, 0.01)
        cb.on_map_item_end(ctx, i, 0.01)
    cb.on_map_end(map_ctx, 0.1)

    (line,) = lines(out)  # the nested runs of items get no bars either
    assert "3/3" in line and "cached=2, failed=0" in line


def test_nested_map_has_a_bar_under_the_pipeline_bar(out: io.StringIO) -> None:
    cb = ProgressCallback(file=out)
    run = root("prep")
    cb.on_pipeline_start(run, {})
    cb.on_nested_pipeline_start(run, "per_doc")
    map_ctx = nested(run, "per_doc")
    cb.on_map_start(map_ctx, 3)
    for i in range(3):
        run_item(cb, map_ctx, i, ["embed"])
    cb.on_map_end(map_ctx, 0.1)
    cb.on_nested_pipeline_end(run, "per_doc", 0.1)
    cb.on_pipeline_end(run, {}, 0.1)

    first, second = lines(out)
    assert first.startswith("  per_doc: 100%") and "3/3" in first
    assert second.startswith("prep: 1 nodes")


def test_nested_map_in_concurrent_items_shares_one_bar(out: io.StringIO) -> None:
    cb = ProgressCallback(file=out)
    outer = root("prep")
    cb.on_map_start(outer, 2)
    items = [item(outer, i) for i in range(2)]
    inner_maps = [nested(ctx, "per_chunk") for ctx in items]
    for i, ctx in enumerate(items):  # both outer items are running when their inner maps run
        cb.on_map_item_start(ctx, i)
        cb.on_pipeline_start(ctx, {})
        cb.on_nested_pipeline_start(ctx, "per_chunk")
    for inner_map in inner_maps:
        cb.on_map_start(inner_map, 3)
    for j in range(3):
        for inner_map in inner_maps:
            run_item(cb, inner_map, j, ["embed"])
    for i, ctx in enumerate(items):
        cb.on_map_end(inner_maps[i], 0.1)
        cb.on_nested_pipeline_end(ctx, "per_chunk", 0.1)
        cb.on_pipeline_end(ctx, {}, 0.1)
        cb.on_map_item_end(ctx, i, 0.1)
    cb.on_map_end(outer, 0.2)

    inner_line, outer_line = lines(out)
    assert inner_line.startswith("  per_chunk: 100%") and "6/6" in inner_line
    assert outer_line.startswith("prep: 100%") and "2/2" in outer_line


def test_nested_map_in_successive_items_accumulates_in_one_bar(out: io.StringIO) -> None:
    cb = ProgressCallback(file=out)
    outer = root("prep")
    cb.on_map_start(outer, 5)
    for i in range(5):  # one outer item after the other: the nested bar must not restart
        ctx = item(outer, i)
        cb.on_map_item_start(ctx, i)
        cb.on_pipeline_start(ctx, {})
        cb.on_nested_pipeline_start(ctx, "per_chunk")
        inner_map = nested(ctx, "per_chunk")
        cb.on_map_start(inner_map, 4)
        for j in range(4):
            run_item(cb, inner_map, j, ["embed"], cached=["embed"] if i == 0 else ())
        cb.on_map_end(inner_map, 0.1)
        cb.on_nested_pipeline_end(ctx, "per_chunk", 0.1)
        cb.on_pipeline_end(ctx, {}, 0.1)
        cb.on_map_item_end(ctx, i, 0.1)
    cb.on_map_end(outer, 0.2)

    inner_line, outer_line = lines(out)
    assert "20/20" in inner_line and "cached=4, failed=0" in inner_line
    assert "5/5" in outer_line and "cached=1, failed=0" in outer_line
    assert not cb._frames


def test_failed_run_ends_its_bar_and_keeps_nothing(out: io.StringIO) -> None:
    cb = ProgressCallback(file=out)
    run = root("prep")
    cb.on_pipeline_start(run, {})
    run_nodes(cb, run, ["clean"])
    cb.on_node_start(run, "count", {})
    cb.on_node_error(run, "count", RuntimeError("boom"))  # no on_pipeline_end follows
    cb.on_node_end(run, "late", {}, 0.01)  # a node that was still running: ignored

    (line,) = lines(out)
    assert line.startswith("prep: 2 nodes") and "failed=1" in line
    assert not cb._frames


def test_lines_mode_writes_a_line_per_interval(out: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(float(t) for t in range(1000))
    monkeypatch.setattr(_bars, "time", types.SimpleNamespace(monotonic=lambda: next(clock)))
    cb = ProgressCallback(file=out, interval=2.0)
    map_ctx = root("prep")
    cb.on_map_start(map_ctx, 4)
    for i in range(4):
        run_item(cb, map_ctx, i, ["clean"])
    cb.on_map_end(map_ctx, 0.1)

    counts = [line.split("| ")[1].split(" ")[0] for line in lines(out)]
    assert counts == ["2/4", "4/4", "4/4"]  # periodic lines, then the final one


def test_bars_style_draws_a_tqdm_bar(out: io.StringIO) -> None:
    cb = ProgressCallback(file=out, style="bars", interval=1e-9)
    map_ctx = root("prep")
    cb.on_map_start(map_ctx, 3)
    for i in range(3):
        run_item(cb, map_ctx, i, ["clean"], cached=["clean"] if i == 0 else ())
    cb.on_map_end(map_ctx, 0.1)

    text = out.getvalue()
    assert "\r" in text  # redrawn in place
    final = text.rsplit("\r", 1)[-1]
    assert "3/3" in final and "cached=1, failed=0" in final


@pytest.mark.parametrize("style", ["lines", "bars"])
def test_items_from_many_threads_are_all_counted(out: io.StringIO, style: str) -> None:
    cb = ProgressCallback(file=out, style=style)  # type: ignore[arg-type]
    n_items = 200
    map_ctx = root("prep")
    start_together = threading.Barrier(8)

    def work(index: int) -> None:
        if index < 8:
            start_together.wait()  # make the first items overlap for real
        run_item(cb, map_ctx, index, ["clean", "count"], cached=["clean"] if index % 2 else ())

    cb.on_map_start(map_ctx, n_items)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, reversed(range(n_items))))  # out of order too
    cb.on_map_end(map_ctx, 0.5)

    final = out.getvalue().replace("\r", "\n").splitlines()[-1]
    assert f"{n_items}/{n_items}" in final
    assert not cb._frames


def test_disabled_shows_nothing_and_keeps_nothing(out: io.StringIO) -> None:
    cb = ProgressCallback(enable=False, file=out)
    map_ctx = root("prep")
    cb.on_map_start(map_ctx, 2)
    for i in range(2):
        run_item(cb, map_ctx, i, ["clean"])
    cb.on_map_end(map_ctx, 0.1)
    run_pipeline(cb, root("prep", run="r2"), ["clean"])
    cb.close()

    assert out.getvalue() == ""
    assert not cb._frames


def test_disabled_does_not_need_tqdm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm.std", None)
    ProgressCallback(enable=False)


def test_missing_tqdm_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm.std", None)
    with pytest.raises(ImportError, match=r'pip install "hypernodes-core\[progress\]"'):
        ProgressCallback()


def test_close_ends_bars_left_open_by_an_interrupted_run(out: io.StringIO) -> None:
    cb = ProgressCallback(file=out)
    map_ctx = root("prep")
    cb.on_map_start(map_ctx, 3)
    run_item(cb, map_ctx, 0, ["clean"])  # then KeyboardInterrupt: no more hooks

    cb.close()
    cb.close()  # a second close does nothing

    (line,) = lines(out)
    assert "1/3" in line


@pytest.mark.parametrize(("kwargs", "match"), [({"style": "fancy"}, "'fancy'"), ({"interval": 0}, "interval=0")])
def test_invalid_arguments_are_rejected(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        ProgressCallback(**kwargs)  # type: ignore[arg-type]


def test_a_pickled_copy_draws_nothing(out: io.StringIO) -> None:
    cb = ProgressCallback(file=out)
    cb.on_map_start(root("prep"), 3)  # an open bar and a lock do not stop pickling

    copy = pickle.loads(pickle.dumps(cb))

    assert isinstance(copy, ProgressCallback) and not copy._enabled


def test_failure_in_a_nested_map_ends_every_bar_it_crossed(out: io.StringIO) -> None:
    cb = ProgressCallback(file=out)
    run = root("prep")
    cb.on_pipeline_start(run, {})
    cb.on_nested_pipeline_start(run, "per_doc")
    map_ctx = nested(run, "per_doc")
    cb.on_map_start(map_ctx, 3)
    run_item(cb, map_ctx, 0, ["embed"])
    failing = start_item(cb, map_ctx, 1)
    error = RuntimeError("boom")
    cb.on_node_error(failing, "embed", error)
    cb.on_node_error(run, "per_doc", error)  # the map raised through its node: no on_map_end

    inner, outer = lines(out)
    assert inner.startswith("  per_doc:") and "2/3" in inner and "failed=1" in inner
    assert outer.startswith("prep: 1 nodes") and "failed=1" in outer
    assert not cb._frames


def test_failure_in_a_nested_map_of_an_item_counts_once_at_each_level(out: io.StringIO) -> None:
    cb = ProgressCallback(file=out)
    outer = root("prep")
    cb.on_map_start(outer, 2)
    run_item(cb, outer, 0, ["clean"])
    ctx = start_item(cb, outer, 1)
    cb.on_nested_pipeline_start(ctx, "per_chunk")
    inner_map = nested(ctx, "per_chunk")
    cb.on_map_start(inner_map, 2)
    run_item(cb, inner_map, 0, ["embed"])
    failing = start_item(cb, inner_map, 1)
    cb.on_nested_pipeline_start(failing, "deeper")
    error = RuntimeError("boom")
    cb.on_node_error(nested(failing, "deeper"), "embed", error)  # a level this callback never saw start
    cb.on_node_error(failing, "deeper", error)
    cb.on_map_end(inner_map, 0.1)  # the engine ends every map, also a failed one
    cb.on_node_error(ctx, "per_chunk", error)
    cb.on_map_end(outer, 0.2)

    inner_line, outer_line = lines(out)
    assert inner_line.startswith("  per_chunk:") and "2/2" in inner_line and "failed=1" in inner_line
    assert "2/2" in outer_line and "cached=0, failed=1" in outer_line
    assert not cb._frames


def test_close_ends_shared_nested_bars_too(out: io.StringIO) -> None:
    cb = ProgressCallback(file=out)
    outer = root("prep")
    cb.on_map_start(outer, 3)
    ctx = start_item(cb, outer, 0)
    inner_map = nested(ctx, "per_chunk")
    cb.on_map_start(inner_map, 4)
    run_item(cb, inner_map, 0, ["embed"])  # then KeyboardInterrupt

    cb.close()

    inner_line, outer_line = lines(out)
    assert "1/4" in inner_line and "0/3" in outer_line
    assert not cb._frames
