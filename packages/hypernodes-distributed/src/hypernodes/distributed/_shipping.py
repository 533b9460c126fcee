"""Send the user's own modules by value to cluster workers (private).

cloudpickle sends a function by reference when its module is importable here, but a module
of the user's project (``my_project/nodes.py`` next to the script, a test module) usually
is not installed on the cluster's workers, and a Dask scheduler unpickles the task graphs
too. So before a payload is encoded for a cluster, the modules holding the pipeline's node
functions are registered with ``cloudpickle.register_pickle_by_value`` when they are the
user's: neither the standard library, nor an installed distribution (``site-packages``),
nor HyperNodes. Other local modules those functions import must be installed on the
workers, or registered by the user in the same way.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import threading
from typing import TYPE_CHECKING

import cloudpickle  # type: ignore[import-untyped]

from hypernodes import PipelineNode

if TYPE_CHECKING:
    from hypernodes import Pipeline

__all__ = ["ship_user_modules"]

_decided: dict[str, bool] = {}  # module name -> registered by value
_lock = threading.Lock()  # guards _decided and the registration
_INSTALLED = tuple(
    os.path.realpath(path) + os.sep
    for key in ("stdlib", "platstdlib", "purelib", "platlib")
    if (path := sysconfig.get_paths().get(key))
)


def ship_user_modules(pipeline: Pipeline) -> None:
    """Register the user's modules that hold `pipeline`'s node functions (nested ones too) by value."""
    for module_name in _node_modules(pipeline, set()):
        if module_name not in _decided:
            with _lock:
                if module_name not in _decided:
                    _decided[module_name] = _register_if_users(module_name)


def _node_modules(pipeline: Pipeline, seen: set[int]) -> set[str]:
    names: set[str] = set()
    if id(pipeline) in seen:
        return names
    seen.add(id(pipeline))
    for member in pipeline.nodes:
        if isinstance(member, PipelineNode):
            names |= _node_modules(member.pipeline, seen)
        else:
            module_name = getattr(member.func, "__module__", None)
            if module_name:
                names.add(module_name)
    return names


def _register_if_users(module_name: str) -> bool:
    if module_name == "__main__" or module_name.partition(".")[0] == "hypernodes":
        return False  # __main__ goes by value anyway; HyperNodes is installed on every worker
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    if module is None or path is None or os.path.realpath(path).startswith(_INSTALLED):
        return False
    cloudpickle.register_pickle_by_value(module)
    return True
