"""The core behaviour suite under DaftExecutor on Daft's native runner."""

from __future__ import annotations

from hypernodes.testing import ExecutorBehaviourSuite


class TestDaftExecutor(ExecutorBehaviourSuite):
    """Every behaviour of the suite, under ``DaftExecutor()``."""
