"""One real local Ray per test session (``ray.init(num_cpus=2)``), shared by every Ray test.

Ray is kept on the loopback address (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` makes it use
127.0.0.1 instead of the machine's address) and is shut down when the session ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import ModuleType

import pytest

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

ray = pytest.importorskip("ray")


@pytest.fixture(name="local_ray", scope="session")
def local_ray_fixture() -> Iterator[ModuleType]:
    """A local Ray with 2 CPUs and 2 of a custom resource "special", started once.

    Executors attach to it and never shut it down.
    """
    ray.init(address="local", num_cpus=2, resources={"special": 2},
             include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
