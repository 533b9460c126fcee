"""The core behaviour suite under RayExecutor, on the session's local Ray."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

from hypernodes.distributed import RayExecutor
from hypernodes.testing import ExecutorBehaviourSuite


@pytest.fixture(name="executor", scope="module")
def executor_fixture(local_ray: ModuleType) -> Iterator[RayExecutor]:
    with RayExecutor() as executor:
        yield executor


class TestRayExecutor(ExecutorBehaviourSuite):
    """Every behaviour of the suite, with runs and map chunks as Ray tasks."""
