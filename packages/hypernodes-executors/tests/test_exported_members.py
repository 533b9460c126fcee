from __future__ import annotations

import hypernodes
import hypernodes.executors


def test_all_is_pinned() -> None:
    assert hypernodes.executors.__all__ == [
        "AsyncExecutor",
        "CompositeExecutor",
        "ProcessPoolExecutor",
        "SequentialExecutor",
        "ThreadPoolExecutor",
    ]


def test_every_executor_is_importable_from_hypernodes() -> None:
    for name in hypernodes.executors.__all__:
        assert getattr(hypernodes, name) is getattr(hypernodes.executors, name)


def test_library_default_is_a_thread_pool_of_four() -> None:
    from hypernodes.config.runtime import default_executor

    executor = default_executor()
    assert isinstance(executor, hypernodes.executors.ThreadPoolExecutor)
    assert executor.max_workers == 4
