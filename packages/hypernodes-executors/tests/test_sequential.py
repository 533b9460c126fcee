from __future__ import annotations

import pickle
import threading

from hypernodes import InlineExecutor, Pipeline, RuntimeConfig, node
from hypernodes.executors import SequentialExecutor


def test_runs_everything_in_the_calling_thread_in_order() -> None:
    calls: list[tuple[int, threading.Thread]] = []

    @node(output_name="y")
    def record(x: int) -> int:
        calls.append((x, threading.current_thread()))
        return x

    with SequentialExecutor() as executor:
        Pipeline(nodes=[record]).map(inputs={"x": [3, 1, 2]}, map_over="x", config=RuntimeConfig(executor=executor))
    assert calls == [(3, threading.main_thread()), (1, threading.main_thread()), (2, threading.main_thread())]


def test_is_cores_inline_executor_and_pickles() -> None:
    executor = SequentialExecutor()
    assert isinstance(executor, InlineExecutor)
    assert repr(pickle.loads(pickle.dumps(executor))) == "SequentialExecutor()"
