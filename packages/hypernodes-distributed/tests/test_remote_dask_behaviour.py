"""The behaviour suite under RemoteBackend("dask"): every run and map shipped to the session's LocalCluster.

On the cluster the config's executor, a ThreadPoolExecutor, runs each run (or chunk of items).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hypernodes import Backend, Executor
from hypernodes.distributed import RemoteBackend
from hypernodes.executors import ThreadPoolExecutor
from hypernodes.testing import ExecutorBehaviourSuite


@pytest.fixture(name="executor", scope="module")
def executor_fixture() -> Iterator[Executor]:
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


@pytest.fixture(name="backend", scope="module")
def backend_fixture(dask_client: Any) -> Iterator[Backend]:
    with RemoteBackend("dask", client=dask_client) as backend:
        yield backend


class TestRemoteDask(ExecutorBehaviourSuite):
    """Every behaviour of the suite, each run (or chunk of items) a task on the Dask cluster."""
