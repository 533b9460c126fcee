"""Check that an engine is installed before it is needed (private)."""

from __future__ import annotations

import importlib.util

__all__ = ["require"]

_EXTRAS = {"distributed": "dask", "pyspark": "spark", "ray": "ray"}


def require(module: str, who: str) -> None:
    """Raise an ImportError naming the extra to install when `module` (an engine) is missing."""
    if importlib.util.find_spec(module) is None:
        extra = _EXTRAS[module]
        raise ImportError(
            f"{who} needs {module}, which is not installed; install it with: "
            f'pip install "hypernodes-distributed[{extra}]"',
            name=module,
        )
