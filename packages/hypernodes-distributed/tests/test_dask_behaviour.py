"""The behaviour suite under DaskExecutor on a LocalCluster of worker processes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hypernodes import Executor
from hypernodes.distributed import DaskExecutor
from hypernodes.testing import ExecutorBehaviourSuite


@pytest.fixture(name="executor", scope="module")
def executor_fixture(dask_client: Any) -> Iterator[Executor]:
    with DaskExecutor(client=dask_client) as executor:
        yield executor


class TestDaskExecutor(ExecutorBehaviourSuite):
    """Every behaviour of the suite, each node or chunk of items a task on the cluster."""
