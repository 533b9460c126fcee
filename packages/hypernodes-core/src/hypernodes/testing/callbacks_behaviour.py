"""Callback behaviour every executor must show (part of the behaviour suite)."""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import pytest

from hypernodes.callbacks.base import PipelineCallback
from hypernodes.callbacks.context import CallbackContext
from hypernodes.executor.base import Executor
from hypernodes.graph.pipeline import Pipeline
from hypernodes.testing._base import SuiteBase
from hypernodes.testing.nodes import clean, count, double, explode, square
from hypernodes.testing.recording import Event, RecordingCallback

__all__ = ["CallbackBehaviour"]


class _Raising(PipelineCallback):
    def on_node_end(self, ctx: CallbackContext, node: str, outputs: Any, duration: float) -> None:
        raise RuntimeError("callback bug")


class _Exiting(PipelineCallback):
    def on_map_item_end(self, ctx: CallbackContext, index: int, duration: float) -> None:
        raise SystemExit("callback calls sys.exit()")


class CallbackBehaviour(SuiteBase):
    """Hooks fire in the caller, once each, in order, with correct contexts, under any executor."""

    def test_run_fires_pipeline_and_node_hooks_in_order(self, executor: Executor) -> None:
        recorder = RecordingCallback()
        p = Pipeline(nodes=[clean, count], name="prep")
        p.run(inputs={"text": "A b"}, config=self.config(executor, callbacks=[recorder]))
        assert [(e.hook, e.subject) for e in recorder.events] == [
            ("on_pipeline_start", None),
            ("on_node_start", "clean"),
            ("on_node_end", "clean"),
            ("on_node_start", "count"),
            ("on_node_end", "count"),
            ("on_pipeline_end", None),
        ]
        assert {(e.path, e.depth, e.item_index) for e in recorder.events} == {(("prep",), 0, None)}
        assert len({e.run_id for e in recorder.events}) == 1

    def test_map_item_hooks_fire_once_per_item(self, executor: Executor) -> None:
        recorder = RecordingCallback()
        p = Pipeline(nodes=[double, square], name="p")
        p.map(
            inputs={"x": list(range(7))},
            map_over="x",
            config=self.config(executor, callbacks=[recorder]),
        )
        assert [e.subject for e in recorder.hooks("on_map_start")] == [7]
        assert len(recorder.hooks("on_map_end")) == 1
        assert sorted(e.subject for e in recorder.hooks("on_map_item_start")) == list(range(7))
        assert sorted(e.subject for e in recorder.hooks("on_map_item_end")) == list(range(7))
        assert all(e.item_index == e.subject for e in recorder.hooks("on_map_item_end"))
        ends = Counter((e.item_index, e.subject) for e in recorder.hooks("on_node_end"))
        assert ends == Counter({(i, name): 1 for i in range(7) for name in ("double", "square")})

    def test_per_node_start_precedes_end(self, executor: Executor) -> None:
        recorder = RecordingCallback()
        p = Pipeline(nodes=[double, square], name="p")
        p.map(
            inputs={"x": list(range(5))},
            map_over="x",
            config=self.config(executor, callbacks=[recorder]),
        )
        position = {(e.hook, e.item_index, e.subject): i for i, e in enumerate(recorder.events)}
        for i in range(5):
            for name in ("double", "square"):
                assert position[("on_node_start", i, name)] < position[("on_node_end", i, name)]
            assert position[("on_map_item_start", i, i)] < position[("on_map_item_end", i, i)]

    def test_nested_map_events_carry_path_depth_and_item(self, executor: Executor) -> None:
        recorder = RecordingCallback()
        inner = Pipeline(nodes=[clean], name="inner").as_node(
            input_mapping={"texts": "text"}, map_over="texts", name="per_doc"
        )
        outer = Pipeline(nodes=[inner], name="outer")
        outer.run(inputs={"texts": ["A", "B"]}, config=self.config(executor, callbacks=[recorder]))
        nested_start = recorder.hooks("on_nested_pipeline_start")
        assert [(e.path, e.depth, e.subject) for e in nested_start] == [(("outer",), 0, "per_doc")]
        inner_nodes = recorder.hooks("on_node_end")
        assert sorted((e.path, e.depth, e.item_index) for e in inner_nodes) == [
            (("outer", "per_doc"), 1, 0),
            (("outer", "per_doc"), 1, 1),
        ]
        assert [(e.path, e.subject) for e in recorder.hooks("on_map_start")] == [(("outer", "per_doc"), 2)]

    def test_node_error_hook_fires_and_error_propagates(self, executor: Executor) -> None:
        recorder = RecordingCallback()
        p = Pipeline(nodes=[explode], name="p")
        with pytest.raises(ValueError):
            p.run(inputs={"x": 2}, config=self.config(executor, callbacks=[recorder]))
        assert [e.subject for e in recorder.hooks("on_node_error")] == [("explode", "ValueError")]
        assert recorder.hooks("on_node_end") == []

    def test_map_end_fires_also_when_an_item_fails(self, executor: Executor) -> None:
        recorder = RecordingCallback()
        p = Pipeline(nodes=[explode], name="p")
        with pytest.raises(ValueError):
            p.map(inputs={"x": [1, 2, 3]}, map_over="x", config=self.config(executor, callbacks=[recorder]))
        assert len(recorder.hooks("on_map_start")) == len(recorder.hooks("on_map_end")) == 1
        assert [e.item_index for e in recorder.hooks("on_node_error")] == [1]

    def test_raising_callback_warns_once_and_the_run_goes_on(self, executor: Executor) -> None:
        recorder = RecordingCallback()
        p = Pipeline(nodes=[double, square], name="p")
        config = self.config(executor, callbacks=[_Raising(), recorder])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = p.map(inputs={"x": [1, 2, 3]}, map_over="x", config=config)
        assert out == {"doubled": [2, 4, 6], "squared": [1, 4, 9]}
        relevant = [w for w in caught if "callback bug" in str(w.message)]
        assert len(relevant) == 1 and issubclass(relevant[0].category, RuntimeWarning)
        assert len(recorder.hooks("on_node_end")) == 6  # the other callback still saw everything

    def test_callback_raising_system_exit_is_reported_and_later_maps_get_every_event(self, executor: Executor) -> None:
        p = Pipeline(nodes=[double, square], name="p")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = p.map(
                inputs={"x": [1, 2, 3]}, map_over="x", config=self.config(executor, callbacks=[_Exiting()])
            )
        assert out == {"doubled": [2, 4, 6], "squared": [1, 4, 9]}
        assert any("SystemExit" in str(w.message) for w in caught)
        recorder = RecordingCallback()  # the same executor still relays everything
        p.map(inputs={"x": [1, 2, 3]}, map_over="x", config=self.config(executor, callbacks=[recorder]))
        assert len(recorder.hooks("on_node_end")) == 6
        assert len(recorder.hooks("on_map_item_end")) == 3

    def test_callback_factories_are_made_once_per_run(self, executor: Executor) -> None:
        made: list[RecordingCallback] = []

        def factory() -> RecordingCallback:
            made.append(RecordingCallback())
            return made[-1]

        p = Pipeline(nodes=[double], name="p")
        config = self.config(executor, callbacks=[factory])
        p.map(inputs={"x": [1, 2, 3]}, map_over="x", config=config)
        p.run(inputs={"x": 1}, config=config)
        assert len(made) == 2
        assert len(made[0].hooks("on_node_end")) == 3 and len(made[1].hooks("on_node_end")) == 1

    def test_state_is_shared_by_the_callbacks_of_one_run(self, executor: Executor) -> None:
        recorder = RecordingCallback()
        p = Pipeline(nodes=[double], name="p")
        p.map(
            inputs={"x": [1, 2, 3]},
            map_over="x",
            config=self.config(executor, callbacks=[recorder]),
        )
        assert len(recorder.states) == 1

    # -- frames: where each event belongs ----------------------------------------------------------

    def test_frame_ids_link_every_level_to_the_one_that_started_it(self, executor: Executor) -> None:
        recorder = RecordingCallback()
        per_x = Pipeline(nodes=[double], name="inner").as_node(map_over="x", name="per_x")
        outer = Pipeline(nodes=[per_x], name="outer")
        outer.map(
            inputs={"x": [[1, 2], [3, 4], [5, 6], [7, 8]]},
            map_over="x",
            config=self.config(executor, callbacks=[recorder]),
        )
        root = recorder.hooks("on_map_start")[0]
        assert root.path == ("outer",) and root.parent_frame_id is None and root.frame_id

        def frames(hook: str, path: tuple[str, ...]) -> dict[str, Event]:
            return {e.frame_id: e for e in recorder.hooks(hook) if e.path == path}

        outer_items = frames("on_map_item_start", ("outer",))
        assert len(outer_items) == 4  # one frame per item, unique whichever process ran it
        assert {e.parent_frame_id for e in outer_items.values()} == {root.frame_id}
        nested_starts = frames("on_nested_pipeline_start", ("outer",))
        assert set(nested_starts) == set(outer_items)  # the nested node runs in its item's frame
        inner_maps = frames("on_map_start", ("outer", "per_x"))
        assert sorted(str(e.parent_frame_id) for e in inner_maps.values()) == sorted(outer_items)
        inner_items = frames("on_map_item_start", ("outer", "per_x"))
        assert len(inner_items) == 8
        assert sorted(str(e.parent_frame_id) for e in inner_items.values()) == sorted(2 * list(inner_maps))
        for event in recorder.hooks("on_node_end"):  # a node's frame is its item's, and leads up to the root
            inner_item = inner_items[event.frame_id]
            assert event.item_index == inner_item.subject
            outer_item = outer_items[str(inner_maps[str(inner_item.parent_frame_id)].parent_frame_id)]
            assert outer_item.parent_frame_id == root.frame_id
        assert len({root.frame_id, *outer_items, *inner_maps, *inner_items}) == 1 + 4 + 4 + 8

    def test_a_nested_pipelines_own_callbacks_get_its_events(self, executor: Executor) -> None:
        outer_recorder, inner_recorder = RecordingCallback(), RecordingCallback()
        inner = Pipeline(
            nodes=[double], name="inner", config=self.config(executor, callbacks=[inner_recorder])
        )
        outer = Pipeline(
            nodes=[inner, square], name="outer", config=self.config(executor, callbacks=[outer_recorder])
        )
        assert outer.map(inputs={"x": [1, 2]}, map_over="x") == {"doubled": [2, 4], "squared": [1, 4]}

        inner_hooks = Counter((e.hook, e.path, e.subject) for e in inner_recorder.events)
        assert inner_hooks == Counter(
            {
                ("on_pipeline_start", ("outer", "inner"), None): 2,
                ("on_node_start", ("outer", "inner"), "double"): 2,
                ("on_node_end", ("outer", "inner"), "double"): 2,
                ("on_pipeline_end", ("outer", "inner"), None): 2,
            }
        )
        assert {e.path for e in outer_recorder.events} == {("outer",)}  # none of the inner level's events
        assert len(outer_recorder.hooks("on_nested_pipeline_end")) == 2
        assert len(outer_recorder.hooks("on_node_end")) == 2  # square, once per item
        item_frames = {e.frame_id for e in outer_recorder.hooks("on_map_item_start")}
        inner_runs = inner_recorder.hooks("on_pipeline_start")
        assert {e.parent_frame_id for e in inner_runs} == item_frames  # linked across the two callbacks
