"""HyperNodes on clusters: ``RayExecutor`` (loaded on first use, so importing this imports no engine)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hypernodes.distributed.ray_executor import RayExecutor

__all__ = ["RayExecutor"]

_MODULES = {"RayExecutor": "hypernodes.distributed.ray_executor"}


def __getattr__(name: str) -> Any:
    """Load a public name on first use."""
    if name not in _MODULES:
        raise AttributeError(f"module 'hypernodes.distributed' has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULES[name]), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
