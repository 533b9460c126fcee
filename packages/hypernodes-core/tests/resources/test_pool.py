from __future__ import annotations

import pickle
import threading
from typing import Any

import pytest

from hypernodes import InlineExecutor, Pipeline, RuntimeConfig, node
from hypernodes.resources import Resource, ResourcePool


class Closable:
    def __init__(self, log: list[str], name: str) -> None:
        self.log = log
        self.name = name

    def close(self) -> None:
        self.log.append(f"close {self.name}")


class Exiting:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def __enter__(self) -> Exiting:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.log.append(f"exit {exc_info}")


def counted(calls: list[str], value: Any = None, name: str = "thing", **kwargs: Any) -> Resource[Any]:
    def build() -> Any:
        calls.append(threading.current_thread().name)
        return object() if value is None else value

    return Resource(build, name=name, **kwargs)


def test_get_builds_once_and_returns_the_same_value() -> None:
    calls: list[str] = []
    thing = counted(calls)
    pool = ResourcePool()
    assert pool.get(thing) is pool.get(thing)
    assert len(calls) == 1 and pool.built == ("thing",)


def test_concurrent_first_gets_build_once() -> None:
    calls: list[str] = []
    barrier = threading.Barrier(8)

    def slow_build() -> object:
        calls.append("build")
        return object()

    thing = Resource(slow_build, name="thing")
    pool = ResourcePool()
    seen: list[object] = []

    def worker() -> None:
        barrier.wait()
        seen.append(pool.get(thing))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["build"] and len({id(v) for v in seen}) == 1


def test_a_thread_unsafe_resource_gets_one_value_per_thread() -> None:
    calls: list[str] = []
    thing = counted(calls, thread_safe=False)
    pool = ResourcePool()
    values: dict[str, object] = {}

    def worker(name: str) -> None:
        values[name] = pool.get(thing)
        assert pool.get(thing) is values[name]

    threads = [threading.Thread(target=worker, args=(f"t{i}",), name=f"t{i}") for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(calls) == ["t0", "t1", "t2"] and len({id(v) for v in values.values()}) == 3


def test_close_tears_down_latest_first_and_is_idempotent() -> None:
    log: list[str] = []
    first = Resource(lambda: Closable(log, "first"), name="first")
    second = Resource(lambda: Exiting(log), name="second")
    plain = Resource(lambda: 42, name="plain")
    pool = ResourcePool()
    for declared in (first, second, plain):
        pool.get(declared)
    pool.close()
    assert log == ["exit (None, None, None)", "close first"]
    pool.close()
    assert len(log) == 2 and pool.built == ()


def test_a_closed_pool_builds_again() -> None:
    calls: list[str] = []
    thing = counted(calls)
    pool = ResourcePool()
    before = pool.get(thing)
    pool.close()
    assert pool.get(thing) is not before and len(calls) == 2


def test_every_thread_value_is_torn_down() -> None:
    log: list[str] = []
    names = iter(range(100))
    thing = Resource(lambda: Closable(log, f"c{next(names)}"), name="thing", thread_safe=False)
    pool = ResourcePool()
    threads = [threading.Thread(target=pool.get, args=(thing,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pool.close()
    assert sorted(log) == ["close c0", "close c1", "close c2"]


def test_a_failing_teardown_warns_and_the_others_still_run() -> None:
    log: list[str] = []

    class Broken:
        def close(self) -> None:
            raise OSError("disk gone")

    pool = ResourcePool()
    pool.get(Resource(lambda: Closable(log, "fine"), name="fine"))
    pool.get(Resource(Broken, name="broken"))
    with pytest.warns(RuntimeWarning, match=r"resource 'broken': its teardown raised OSError: disk gone"):
        pool.close()
    assert log == ["close fine"]


def test_a_failing_factory_keeps_nothing_and_is_tried_again() -> None:
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("model server down")
        return "model"

    thing = Resource(flaky, name="thing")
    pool = ResourcePool()
    with pytest.raises(ConnectionError):
        pool.get(thing)
    assert pool.built == ()
    assert pool.get(thing) == "model" and len(attempts) == 2


def test_a_pool_pickles_as_an_empty_pool() -> None:
    pool = ResourcePool()
    pool.get(Resource(lambda: threading.Lock(), name="lock"))  # not picklable, and not pickled
    copy = pickle.loads(pickle.dumps(pool))
    assert isinstance(copy, ResourcePool) and copy.built == ()


def test_shared_pools_are_one_per_key_per_process() -> None:
    assert ResourcePool.shared("key-a") is ResourcePool.shared("key-a")
    assert ResourcePool.shared("key-a") is not ResourcePool.shared("key-b")


def test_executors_own_a_pool_and_close_it() -> None:
    log: list[str] = []
    model = Resource(lambda: Closable(log, "model"), name="model")

    @node(output_name="y")
    def use(x: int, model: Closable = model) -> str:  # type: ignore[assignment]
        return f"{x}-{model.name}"

    with InlineExecutor() as executor:
        out = Pipeline(nodes=[use]).map(inputs={"x": [1, 2]}, map_over="x", config=RuntimeConfig(executor=executor))
        assert out == {"y": ["1-model", "2-model"]}
        assert executor.resource_pool.built == ("model",) and log == []
    assert log == ["close model"]


def test_a_factory_error_is_noted_with_the_node_and_the_resource() -> None:
    def broken() -> int:
        raise FileNotFoundError("weights.bin")

    model = Resource(broken, name="weights")

    @node(output_name="y")
    def use(x: int, model: int = model) -> int:  # type: ignore[assignment]
        return x + model

    p = Pipeline(nodes=[use], name="p", config=RuntimeConfig(executor=InlineExecutor()))
    with pytest.raises(FileNotFoundError) as info:
        p.map(inputs={"x": [1]}, map_over="x")
    assert info.value.__notes__ == [
        "in node 'use' of p, map item 0, building resource 'weights' (parameter 'model'); "
        "fix its factory (try it alone with resource.build())"
    ]
