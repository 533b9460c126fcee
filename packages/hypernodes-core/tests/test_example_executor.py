"""The example third-party executor (examples/custom_executor.py) passes the whole behaviour suite.

It is written against ``hypernodes.executor`` alone; this is what proves that the public API
is enough to write an executor. noxfile.py runs it as the ``example_executor`` session.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from hypernodes import Executor
from hypernodes.testing import ExecutorBehaviourSuite

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "custom_executor.py"


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("custom_executor_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


example = _load_example()


@pytest.fixture(name="executor", scope="module")
def executor_fixture() -> Iterator[Executor]:
    with example.FuturesExecutor(max_workers=2) as executor:
        yield executor


@pytest.fixture(name="executor_factory")
def executor_factory_fixture() -> type[Executor]:
    return example.FuturesExecutor  # type: ignore[no-any-return]


class TestExampleExecutor(ExecutorBehaviourSuite):
    """Every behaviour of the suite under the example executor."""


def test_the_example_imports_only_public_names() -> None:
    imports = [line for line in EXAMPLE.read_text().splitlines() if line.startswith(("import ", "from "))]
    for line in imports:
        if "hypernodes" in line:
            assert line.startswith(("from hypernodes import", "from hypernodes.executor import")), line
