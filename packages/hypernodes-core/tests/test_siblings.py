"""A missing sibling distribution's subpackage says what to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hypernodes import _siblings

# Run a fresh interpreter in which hypernodes-daft's src/ is hidden from the namespace package,
# as if that distribution were not installed (test_packaging checks the same from real wheels).
_WITHOUT_DAFT = """
import sys
sys.path[:] = [p for p in sys.path if "hypernodes-daft" not in p]
try:
    from hypernodes.daft import DaftExecutor
except ModuleNotFoundError as exc:
    print(type(exc).__name__, exc.name, "|", exc)
"""


def test_all_is_pinned() -> None:
    assert _siblings.__all__ == ["MissingSiblingFinder", "install_finder"]


def test_importing_a_missing_subpackage_names_the_distribution() -> None:
    out = subprocess.run([sys.executable, "-c", _WITHOUT_DAFT], capture_output=True, text=True, check=True).stdout
    assert out.startswith("ModuleNotFoundError hypernodes.daft |"), out
    assert "hypernodes-daft distribution" in out and "pip install hypernodes-daft" in out


def test_the_finder_is_installed_once_and_last() -> None:
    finders = [f for f in sys.meta_path if isinstance(f, _siblings.MissingSiblingFinder)]
    assert len(finders) == 1
    _siblings.install_finder({"hypernodes.daft": "hypernodes-daft"})
    assert [f for f in sys.meta_path if isinstance(f, _siblings.MissingSiblingFinder)] == finders
    assert set(finders[0].distributions) == {
        "hypernodes.executors",
        "hypernodes.daft",
        "hypernodes.modal",
        "hypernodes.distributed",
    }


def test_other_names_are_not_its_business() -> None:
    finder = _siblings.MissingSiblingFinder({"hypernodes.daft": "hypernodes-daft"})
    assert finder.find_spec("hypernodes.graph", None) is None
    assert finder.find_spec("json", None) is None
    with pytest.raises(ModuleNotFoundError, match="pip install hypernodes-daft"):
        finder.find_spec("hypernodes.daft", None)


def test_it_is_asked_only_after_the_real_finders() -> None:
    import importlib.machinery

    import hypernodes.cache.spec  # found by the path finder: the sibling finder never sees it

    ours = next(i for i, finder in enumerate(sys.meta_path) if isinstance(finder, _siblings.MissingSiblingFinder))
    assert ours > sys.meta_path.index(importlib.machinery.PathFinder)  # type: ignore[arg-type]
    assert hypernodes.cache.spec.__name__ == "hypernodes.cache.spec"
