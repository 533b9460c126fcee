"""Name the distribution to install when a sibling subpackage is missing (machinery, *not* a public API).

``hypernodes.executors``, ``hypernodes.daft``, ``hypernodes.modal`` and ``hypernodes.distributed``
ship in distributions of their own. Without one of them, ``from hypernodes.daft import ...``
would end in a bare ``ModuleNotFoundError: No module named 'hypernodes.daft'``. A finder placed
last on ``sys.meta_path`` is asked only once every other finder found nothing, and then raises a
``ModuleNotFoundError`` (an ``ImportError``, so code probing for an optional part still works)
that says what to install.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from types import ModuleType

__all__ = ["MissingSiblingFinder", "install_finder"]


class MissingSiblingFinder:
    """A meta path finder that finds nothing and explains the subpackages it knows about.

    Args:
        distributions: Subpackage name (``"hypernodes.daft"``) -> the distribution that ships it.
    """

    def __init__(self, distributions: Mapping[str, str]) -> None:
        self.distributions = dict(distributions)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """Raise for a known sibling subpackage that no other finder found; return None otherwise."""
        distribution = self.distributions.get(fullname)
        if distribution is None:
            return None
        raise ModuleNotFoundError(
            f"No module named {fullname!r}: it is provided by the {distribution} distribution, which is not "
            f"installed; install it with: pip install {distribution}",
            name=fullname,
        )


def install_finder(distributions: Mapping[str, str]) -> None:
    """Append a :class:`MissingSiblingFinder` to ``sys.meta_path`` (once per process)."""
    if not any(isinstance(finder, MissingSiblingFinder) for finder in sys.meta_path):
        sys.meta_path.append(MissingSiblingFinder(distributions))
