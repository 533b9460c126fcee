"""HyperNodes on clusters: ``DaskExecutor``, ``RayExecutor`` and ``RemoteBackend``.

* :class:`DaskExecutor` (``pip install "hypernodes-distributed[dask]"``) keeps a run here and
  schedules its nodes and map items as tasks on a Dask cluster.
* ``RayExecutor`` (``[ray]``) does the same with Ray tasks.
* :class:`RemoteBackend` ships a whole ``run`` or ``map`` to a Dask, Ray or Spark cluster and
  runs it there with the config's executor (``[dask]``, ``[ray]`` or ``[spark]``).

Importing this package imports no engine: each name is loaded on first use, and an engine
that is not installed raises an ``ImportError`` naming the extra to install.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hypernodes.distributed.dask_executor import DaskExecutor
    from hypernodes.distributed.remote import RemoteBackend

__all__ = ["DaskExecutor", "RayExecutor", "RemoteBackend"]

# name -> (module, the extra that installs its engine)
_LAZY: dict[str, tuple[str, str]] = {
    "DaskExecutor": ("hypernodes.distributed.dask_executor", "dask"),
    "RayExecutor": ("hypernodes.distributed.ray_executor", "ray"),
    "RemoteBackend": ("hypernodes.distributed.remote", "dask,spark"),
}


def __getattr__(name: str) -> Any:
    """Load a public name on first use."""
    try:
        module_name, extra = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'hypernodes.distributed' has no attribute {name!r}") from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise ImportError(
            f"{name} is not in this version of hypernodes-distributed; upgrade it with: "
            f'pip install -U "hypernodes-distributed[{extra}]"',
            name=module_name,
        ) from exc
    value = getattr(module, name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
