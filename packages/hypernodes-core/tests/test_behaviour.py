"""Core runs the executor-agnostic behaviour suite against in-process execution."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hypernodes import Executor, InlineExecutor
from hypernodes.testing import ExecutorBehaviourSuite


@pytest.fixture(name="executor")
def executor_fixture() -> Iterator[Executor]:
    with InlineExecutor() as executor:
        yield executor


@pytest.fixture(name="executor_factory")
def executor_factory_fixture() -> type[Executor]:
    return InlineExecutor


class TestInlineExecutor(ExecutorBehaviourSuite):
    pass
