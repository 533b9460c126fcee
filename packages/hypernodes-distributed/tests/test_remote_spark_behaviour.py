"""The behaviour suite under RemoteBackend("spark"): every run and map shipped to the session's Spark.

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

pytestmark = pytest.mark.spark


@pytest.fixture(name="executor", scope="module")
def executor_fixture() -> Iterator[Executor]:
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


@pytest.fixture(name="backend", scope="module")
def backend_fixture(spark_session: Any) -> Iterator[Backend]:
    with RemoteBackend("spark", client=spark_session) as backend:
        yield backend


class TestRemoteSpark(ExecutorBehaviourSuite):
    """Every behaviour of the suite, each run (or chunk of items) a Spark task (HYPERNODES_SPARK)."""
