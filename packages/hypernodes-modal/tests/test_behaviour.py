"""The core behaviour suite through ModalBackend's offline path (``mode="local"``, Modal's ``Function.local``).

The suite is written for executors: it builds ``RuntimeConfig(executor=executor)`` itself. So
the ``executor`` fixture here is :class:`ThroughModal`, a test-only executor whose every level
in the caller is handed to ``ModalBackend(mode="local")`` — the payload is encoded, the
Function's real body runs it, events come back through the session queue, the answer is
decoded — and which, once inside that body, runs the level with a ThreadPoolExecutor, as a
container would with the default config.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hypernodes import Executor
from hypernodes.executor import MapRequest, ResourcePool, RunRequest
from hypernodes.executors import ThreadPoolExecutor
from hypernodes.modal import ModalBackend
from hypernodes.modal._container import is_inside
from hypernodes.testing import ExecutorBehaviourSuite


class ThroughModal(Executor):
    """Send each level to a ModalBackend from the caller; run it on `inner` inside the Function's body."""

    def __init__(self, inner: Executor, backend: ModalBackend | None = None) -> None:
        self.inner = inner
        self.backend = backend or ModalBackend(mode="local")
        self.calls = 0

    def run_pipeline(self, request: RunRequest) -> dict[str, Any]:
        if is_inside():
            return self.inner.run_pipeline(request)
        self.calls += 1
        return self.backend.run(request.pipeline, request.inputs, request.ctx, request.output_name)

    def map_items(self, request: MapRequest) -> list[dict[str, Any]]:
        if is_inside():
            return self.inner.map_items(request)
        self.calls += 1
        return self.backend.map(request.pipeline, request.items, request.inputs, request.ctx, request.output_name)

    @property
    def resource_pool(self) -> ResourcePool:
        # Inside the body the levels run on `inner`, the container's executor (one per process,
        # whatever the copies unpickled per call): resources are built once per container.
        return self.inner.resource_pool

    def close(self) -> None:
        self.backend.close()
        self.inner.close()

    def __reduce__(self) -> tuple[Any, ...]:
        # Inside the Function's body only `inner` is used; the backend stays in the caller.
        return (ThroughModal, (self.inner, _STAY_BEHIND))


_STAY_BEHIND = ModalBackend(mode="local")


@pytest.fixture(name="executor", scope="module")
def executor_fixture() -> Iterator[Executor]:
    with ThroughModal(ThreadPoolExecutor(max_workers=2)) as executor:
        yield executor


class TestThroughModalBackend(ExecutorBehaviourSuite):
    """Every behaviour of the suite, each level going through ModalBackend's Function body."""


def test_levels_really_go_through_the_backend(executor: ThroughModal) -> None:
    from hypernodes import Pipeline, RuntimeConfig
    from hypernodes.testing.nodes import double

    before = executor.calls
    out = Pipeline(nodes=[double]).map(inputs={"x": [1, 2]}, map_over="x", config=RuntimeConfig(executor=executor))
    assert out == {"doubled": [2, 4]}
    assert executor.calls == before + 1  # one map, one trip through the Function's body
