"""The core behaviour suite under every executor of this package (see conftest.py)."""

from __future__ import annotations

from hypernodes.testing import ExecutorBehaviourSuite


class TestExecutors(ExecutorBehaviourSuite):
    """Every behaviour of the suite, under the ``executor`` fixture's executor."""
