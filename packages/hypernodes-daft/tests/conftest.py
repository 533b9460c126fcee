"""Fixtures of the DaftExecutor tests: a real Daft (native runner), one executor per test module.

Daft sets its runner once per process, so the tests of the Ray runner (marked ``ray``) run in
a pytest process of their own: ``uv run nox -s daft_ray`` (``pytest -m ray``). When both kinds
are selected in one process, the Ray ones are skipped with that advice.
"""

from __future__ import annotations

import os

os.environ.setdefault("DO_NOT_TRACK", "1")  # before Daft is imported: no telemetry from tests
os.environ.setdefault("DAFT_PROGRESS_BAR", "0")

from collections.abc import Iterator

import pytest

from hypernodes.daft import DaftExecutor


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ray: needs Daft's Ray runner; run alone with -m ray (nox -s daft_ray)")


@pytest.hookimpl(trylast=True)  # after -m has deselected what it deselects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ray_items = [item for item in items if item.get_closest_marker("ray")]
    if ray_items and len(ray_items) < len(items):
        skip = pytest.mark.skip(reason="Daft sets its runner once per process: run these alone with -m ray")
        for item in ray_items:
            item.add_marker(skip)


@pytest.fixture(name="executor", scope="module")
def executor_fixture() -> Iterator[DaftExecutor]:
    with DaftExecutor() as executor:  # the fixture owns the executor's lifetime
        yield executor
