from __future__ import annotations

import pickle
import threading
from typing import Any

import pytest

from hypernodes import CallbackContext, Pipeline, PipelineCallback, RuntimeConfig, node
from hypernodes.callbacks.base import HOOK_NAMES
from hypernodes.callbacks.dispatch import CallbackDispatcher
from hypernodes.callbacks.relay import (
    RelayDispatcher,
    RelayedCallbacks,
    UnpicklableValue,
    decode_event,
    encode_event,
    replay,
)
from hypernodes.executor import RunContext, RunRequest, run_in_order

EVERY_HOOK = RelayedCallbacks(7, frozenset(HOOK_NAMES))
CTX = CallbackContext(run_id="r1", pipeline="p", path=("p",), depth=0, item_index=3, state={"worker": "copy"})


class _Recorder(PipelineCallback):
    def __init__(self) -> None:
        self.calls: list[tuple[str, CallbackContext, tuple[Any, ...]]] = []

    def on_node_end(self, ctx: CallbackContext, node: str, outputs: Any, duration: float) -> None:
        self.calls.append(("on_node_end", ctx, (node, outputs, duration)))

    def on_map_item_start(self, ctx: CallbackContext, index: int) -> None:
        self.calls.append(("on_map_item_start", ctx, (index,)))


def test_relay_dispatcher_forwards_the_hooks_the_caller_listens_to_with_its_token() -> None:
    events: list[tuple[int, str, CallbackContext, tuple[Any, ...]]] = []
    relay = RelayDispatcher(
        lambda token, hook, ctx, args: events.append((token, hook, ctx, args)),
        RelayedCallbacks(3, frozenset({"on_node_end"})),
    )
    assert relay.wants("on_node_end") and not relay.wants("on_node_cached")
    relay.emit("on_node_end", CTX, "clean", {"clean": "a"}, 0.5)
    relay.emit("on_node_cached", CTX, "clean", "sig")
    assert events == [(3, "on_node_end", CTX, ("clean", {"clean": "a"}, 0.5))]


def test_a_failing_sink_warns_once_and_never_raises() -> None:
    def broken(token: int, hook: str, ctx: CallbackContext, args: tuple[Any, ...]) -> None:
        raise OSError("pipe closed")

    relay = RelayDispatcher(broken, EVERY_HOOK)
    with pytest.warns(RuntimeWarning, match="could not be relayed.*pipe closed"):
        relay.emit("on_map_item_start", CTX, 1)
    relay.emit("on_map_item_start", CTX, 2)  # reported once; no second warning, no exception


def test_events_round_trip_without_the_workers_state() -> None:
    token, hook, ctx, args = decode_event(encode_event(7, "on_node_end", CTX, ("clean", {"clean": "a"}, 0.5)))
    assert (token, hook, args) == (7, "on_node_end", ("clean", {"clean": "a"}, 0.5))
    assert (ctx.run_id, ctx.path, ctx.item_index) == ("r1", ("p",), 3)
    assert ctx.state == {}


def test_unpicklable_values_become_placeholders_and_the_rest_survives() -> None:
    lock = threading.Lock()
    blob = encode_event(7, "on_node_end", CTX, ("make", {"lock": lock, "n": 2}, 0.1))
    _, _, _, (name, outputs, duration) = decode_event(blob)
    assert (name, outputs["n"], duration) == ("make", 2, 0.1)
    placeholder = outputs["lock"]
    assert isinstance(placeholder, UnpicklableValue)
    assert placeholder.type_name == "lock"
    assert "unlocked" in repr(placeholder)


def test_a_custom_dumps_is_used() -> None:
    seen: list[object] = []

    def dumps(value: object) -> bytes:
        seen.append(value)
        return pickle.dumps(value)

    encode_event(7, "on_map_item_start", CTX, (1,), dumps)
    assert seen


def test_replay_attaches_the_callers_state() -> None:
    recorder = _Recorder()
    caller_state: dict[str, Any] = {"caller": True}
    _, hook, ctx, args = decode_event(encode_event(7, "on_map_item_start", CTX, (3,)))
    replay(CallbackDispatcher([recorder]), hook, ctx, args, caller_state)
    replay(CallbackDispatcher([recorder]), "on_node_cached", ctx, ("n", "sig"), caller_state)  # nobody listens
    assert len(recorder.calls) == 1
    _, replayed, replayed_args = recorder.calls[0]
    assert replayed.state is caller_state
    assert replayed_args == (3,)


def test_a_worker_context_relays_instead_of_calling_callbacks() -> None:
    recorder = _Recorder()
    events: list[str] = []

    @node(output_name="y")
    def identity(x: int) -> int:
        return x

    config = RuntimeConfig(callbacks=[EVERY_HOOK])  # what a worker's config holds in place of callbacks
    root = RunContext.root("p", config, locked=True)
    worker = root.for_worker(lambda token, hook, ctx, args: events.append(hook))
    assert isinstance(worker.dispatcher, RelayDispatcher)
    pipeline = Pipeline(nodes=[identity], name="p")
    run_in_order(RunRequest.of(pipeline, {"x": 1}, worker, None))
    assert events == ["on_node_start", "on_node_end"]  # pipeline hooks fire in the caller, around the executor
    assert recorder.calls == []
