"""The Function's body, run for real offline: here through Modal's ``.local()``, and in a separate process."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

import pytest

from hypernodes import CacheSpec, Pipeline, PipelineCallback, ProgressCallback, RuntimeConfig, node
from hypernodes.executor import RemoteTraceback
from hypernodes.modal import ModalBackend
from hypernodes.modal._container import EventSender, is_inside, run_in_container
from hypernodes.modal._session import LocalQueue


@node(output_name="doubled")
def double(x: int) -> int:
    return 2 * x


@node(output_name="total")
def plus_one(doubled: int) -> int:
    if doubled == 6:
        raise KeyError(f"no total for {doubled}")
    return doubled + 1


@node(output_name="where")
def where(x: int) -> dict[str, Any]:
    return {"pid": os.getpid(), "inside": is_inside()}


@node(output_name="released")
def wait_for_signal(x: int, signals: str) -> int:
    """Finish only once the caller saw this node's start event (a callback writes the signal file)."""
    signal = Path(signals) / f"{x}.go"
    deadline = time.monotonic() + 60
    while not signal.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the start event of item {x} never reached the caller")
        time.sleep(0.01)
    return x


class _Releaser(PipelineCallback):
    """In the caller: when wait_for_signal starts (as relayed from the container), release it."""

    def __init__(self, signals: Path) -> None:
        self.signals = signals
        self.events: list[tuple[str, Any]] = []

    def on_node_start(self, ctx: Any, node: str, inputs: dict[str, Any]) -> None:
        self.events.append(("start", node))
        if node == "wait_for_signal":
            (self.signals / f"{inputs['x']}.go").touch()

    def on_node_end(self, ctx: Any, node: str, outputs: Any, duration: float) -> None:
        self.events.append(("end", node))


pipeline = Pipeline(nodes=[double, plus_one], name="arith")


def test_a_run_goes_through_the_function_body(offline_backend: ModalBackend) -> None:
    out = pipeline.run(inputs={"x": 1}, config=RuntimeConfig(backend=offline_backend))
    assert out == {"doubled": 2, "total": 3}


def test_a_map_keeps_item_order_across_chunks(offline_backend: ModalBackend) -> None:
    offline_backend.items_per_call = 3
    out = pipeline.map(inputs={"x": [5, 1, 4, 2, 7, 0, 8]}, map_over="x", config=RuntimeConfig(backend=offline_backend))
    assert out["total"] == [11, 3, 9, 5, 15, 1, 17]


def test_the_separate_process_really_is_another_process(process_backend: ModalBackend) -> None:
    process_backend.items_per_call = 2
    out = Pipeline(nodes=[where]).map(inputs={"x": [1, 2]}, map_over="x", config=RuntimeConfig(backend=process_backend))
    assert all(entry["pid"] != os.getpid() and entry["inside"] for entry in out["where"])
    assert process_backend._session.processes == 1  # type: ignore[union-attr]  # both items in one call


def test_a_failing_item_raises_its_own_type_with_notes(offline_backend: ModalBackend) -> None:
    with pytest.raises(KeyError, match="no total for 6") as caught:
        pipeline.map(inputs={"x": [1, 3, 4]}, map_over="x", config=RuntimeConfig(backend=offline_backend))
    assert any("'plus_one'" in note and "map item 1" in note for note in caught.value.__notes__)
    assert isinstance(caught.value.__cause__, RemoteTraceback)  # the container's traceback


def test_events_reach_the_caller_while_the_node_runs(offline_backend: ModalBackend, tmp_path: Path) -> None:
    releaser = _Releaser(tmp_path)
    config = RuntimeConfig(backend=offline_backend, callbacks=[releaser])
    out = Pipeline(nodes=[wait_for_signal], name="gate").map(
        inputs={"x": [1, 2, 3], "signals": str(tmp_path)}, map_over="x", config=config
    )
    assert out == {"released": [1, 2, 3]}
    assert releaser.events.count(("end", "wait_for_signal")) == 3


def test_progress_counts_every_item_and_cache_hit(offline_backend: ModalBackend, tmp_path: Path) -> None:
    cache = CacheSpec(kind="disk", path=str(tmp_path / "cache"))
    runs = []
    for _ in range(2):
        bar = io.StringIO()
        config = RuntimeConfig(backend=offline_backend, cache=cache, callbacks=[ProgressCallback(file=bar)])
        Pipeline(nodes=[double], name="bars").map(inputs={"x": [1, 2, 3, 4]}, map_over="x", config=config)
        runs.append(bar.getvalue())
    assert "4/4" in runs[0] and "cached=0" in runs[0]
    assert "4/4" in runs[1] and "cached=4" in runs[1]  # the second run read what the first one wrote


def test_one_node_runs_on_the_backend_inside_a_local_pipeline(offline_backend: ModalBackend) -> None:
    on_modal = where.with_config(RuntimeConfig(backend=offline_backend))
    out = Pipeline(nodes=[double, on_modal]).run(inputs={"x": 2})
    assert out["doubled"] == 4 and out["where"]["inside"]


def test_a_nested_modal_level_runs_inside_the_container(offline_backend: ModalBackend) -> None:
    inner = Pipeline(nodes=[where], name="inner", config=RuntimeConfig(backend=ModalBackend(gpu="T4")))
    outer = Pipeline(nodes=[inner.as_node(name="nested")], name="outer")
    out = outer.run(inputs={"x": 1}, config=RuntimeConfig(backend=offline_backend))
    assert out["where"]["inside"]  # no second app session from inside the container


def test_the_event_sender_sends_everything_in_order_on_close() -> None:
    queue = LocalQueue()
    sender = EventSender(queue, "p")
    for number in range(1000):
        sender(str(number).encode())
    sender.close()
    received = []
    while batch := queue.get_many(100, block=False, partition="p"):
        received += batch
    assert received == [str(number).encode() for number in range(1000)]


class _Volume:
    """Records what the container body does with a mounted volume (Volume semantics are Modal's)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def reload(self) -> None:
        self.calls.append("reload")

    def commit(self) -> None:
        self.calls.append("commit")


def test_a_container_reloads_then_commits_its_volumes_even_when_the_run_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hypernodes.executor import dumps

    volume = _Volume()
    monkeypatch.setenv("MODAL_IS_REMOTE", "1")  # what Modal sets in its containers
    answer = run_in_container(None, shared=dumps("not a payload"), volumes=(volume,))
    assert volume.calls == ["reload", "commit"]
    assert answer  # the error travels back in the answer; the body never raises


def test_outside_a_container_volumes_are_left_alone() -> None:
    from hypernodes.executor import dumps

    volume = _Volume()
    run_in_container(None, shared=dumps("not a payload"), volumes=(volume,))
    assert volume.calls == []
