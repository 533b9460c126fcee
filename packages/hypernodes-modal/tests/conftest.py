"""Fixtures of the hypernodes-modal tests: offline ModalBackends, and a guard that keeps Modal off the network.

No Modal account exists here, so every test points Modal's client at 127.0.0.1 (an address
where nothing answers) unless ``HYPERNODES_MODAL_REMOTE=1`` opts in to the real cloud
(test_remote.py). Offline, a ModalBackend runs its Function's real body either in this
process (``mode="local"``, Modal's ``Function.local``) or in a separate Python process fed
the bytes a container gets (:class:`container_process.ProcessSession`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # container_process, modal_objects

REMOTE = os.environ.get("HYPERNODES_MODAL_REMOTE") == "1"
if not REMOTE:
    os.environ["MODAL_SERVER_URL"] = "http://127.0.0.1:9"  # never the real API from an offline test

from container_process import ProcessSession  # noqa: E402

from hypernodes.modal import ModalBackend  # noqa: E402


@pytest.fixture(name="local_backend")
def local_backend_fixture() -> Iterator[ModalBackend]:
    """A ModalBackend running its Function's body with ``Function.local`` in this process."""
    with ModalBackend(mode="local") as backend:
        yield backend


@pytest.fixture(name="process_backend")
def process_backend_fixture() -> Iterator[ModalBackend]:
    """A ModalBackend whose calls each run the Function's body in a new Python process."""
    with ModalBackend(mode="local") as backend:
        backend._session = ProcessSession()  # the test seam: the caller's side is the backend's own
        yield backend


@pytest.fixture(params=["local", "process"])
def offline_backend(request: pytest.FixtureRequest) -> ModalBackend:
    """Each offline path in turn: ``Function.local`` here, and a separate container-like process."""
    backend: ModalBackend = request.getfixturevalue(f"{request.param}_backend")
    return backend
