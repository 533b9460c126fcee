"""What every part of the behaviour suite shares (private): the configs it runs under.

Every config the suite builds goes through :meth:`SuiteBase.config`: the ``executor``
fixture's executor and the ``backend`` fixture's backend (``LocalBackend()`` when the test
module defines no ``backend`` fixture), so the same assertions also run under a backend such
as ``RemoteBackend``.
"""

from __future__ import annotations

from typing import Any

import pytest

from hypernodes.backend.base import Backend
from hypernodes.backend.local import LocalBackend
from hypernodes.config.runtime import RuntimeConfig
from hypernodes.executor.base import Executor

__all__ = ["SuiteBase"]


class SuiteBase:
    """Builds the suite's configs from the ``executor`` and optional ``backend`` fixtures."""

    _backend: Backend = LocalBackend()

    @pytest.fixture(autouse=True)
    def _use_backend_fixture(self, request: pytest.FixtureRequest) -> None:
        try:
            backend = request.getfixturevalue("backend")
        except pytest.FixtureLookupError:  # no backend fixture: run where the test runs
            return
        if not isinstance(backend, Backend):
            raise TypeError(f"the 'backend' fixture must return a Backend, got {backend!r}")
        self._backend = backend

    def config(self, executor: Executor, **fields: Any) -> RuntimeConfig:
        """Return a config running on `executor` under the suite's backend (with `fields`)."""
        return RuntimeConfig(backend=self._backend, executor=executor, **fields)
