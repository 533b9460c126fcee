"""The behaviour suite under RemoteBackend("ray"): every run and map shipped to the session's local Ray.

On the cluster the config's executor, a ThreadPoolExecutor, runs each run (or chunk of items).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

from hypernodes import Backend, Executor, InvalidArgumentError, Pipeline, RuntimeConfig
from hypernodes.distributed import RemoteBackend
from hypernodes.executors import ThreadPoolExecutor
from hypernodes.testing import ExecutorBehaviourSuite
from hypernodes.testing.nodes import double


@pytest.fixture(name="executor", scope="module")
def executor_fixture() -> Iterator[Executor]:
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


@pytest.fixture(name="backend", scope="module")
def backend_fixture(local_ray: ModuleType) -> Iterator[Backend]:
    with RemoteBackend("ray") as backend:
        yield backend


class TestRemoteRay(ExecutorBehaviourSuite):
    """Every behaviour of the suite, each run (or chunk of items) a Ray task."""


def test_a_ray_remote_backend_takes_no_client(local_ray: ModuleType) -> None:
    backend = RemoteBackend("ray", client=object())
    with pytest.raises(InvalidArgumentError, match="takes no client="):
        Pipeline(nodes=[double]).run(inputs={"x": 1}, config=RuntimeConfig(backend=backend))
