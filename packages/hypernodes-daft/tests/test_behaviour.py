"""The core behaviour suite under DaftExecutor on Daft's native runner, in-process and with processes."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator

import pytest

from hypernodes.daft import DaftExecutor
from hypernodes.testing import ExecutorBehaviourSuite

# With processes, the suite takes about two minutes (Daft starts UDF processes per query): the
# daft_process nox session runs it (HYPERNODES_DAFT_MODES=use_process), the daft session does not.
MODES = os.environ.get("HYPERNODES_DAFT_MODES", "in-process").split(",")


@pytest.fixture(name="executor_factory", scope="module", params=MODES)
def executor_factory_fixture(request: pytest.FixtureRequest) -> Callable[[], DaftExecutor]:
    """Make fresh executors of the selected mode (the suite's teardown test closes what it makes)."""
    return functools.partial(DaftExecutor, use_process=request.param == "use_process")


@pytest.fixture(name="executor", scope="module")
def executor_fixture(executor_factory: Callable[[], DaftExecutor]) -> Iterator[DaftExecutor]:
    with executor_factory() as executor:
        yield executor


class TestDaftExecutor(ExecutorBehaviourSuite):
    """Every behaviour of the suite, under ``DaftExecutor()`` and ``DaftExecutor(use_process=True)``."""
