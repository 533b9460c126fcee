"""Where code comes from: library or user code, Python or C (machinery, *not* a public API).

Library code (the standard library, anything installed under ``site-packages``, and
HyperNodes itself) is represented in hashes by :func:`library_marker`, its distribution's
version, instead of being walked; user code is walked. A class implemented in C keeps state
that Python cannot see, which :func:`opaque_base` detects, and a library class may keep what
matters in private attributes, which :func:`library_base` detects. Every answer is computed
once per module or class per process.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import pathlib
import sys
import threading
import types
import weakref

__all__ = ["library_base", "library_marker", "opaque_base", "qualified_name"]

_HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: set on classes made by a `class` statement

_MARKERS: dict[str, str | None] = {}  # top-level module name -> marker
_DISTRIBUTIONS_LOCK = threading.Lock()  # guards the one-time build of _DISTRIBUTIONS
_DISTRIBUTIONS: dict[str, list[str]] | None = None
_OPAQUE: weakref.WeakKeyDictionary[type, str | None] = weakref.WeakKeyDictionary()


def qualified_name(obj: object) -> str:
    """Return ``module.qualname`` of a class, function or module (of its type for others)."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(qualname, str):
        obj, qualname = type(obj), type(obj).__qualname__
    return f"{getattr(obj, '__module__', None)}.{qualname}"


def opaque_base(cls: type) -> str | None:
    """Return the first class in `cls`'s MRO implemented in C (hidden state), or None."""
    if cls in _OPAQUE:
        return _OPAQUE[cls]
    found = None
    for klass in cls.__mro__[:-1]:  # the last one is object, which has no state
        file = getattr(sys.modules.get(klass.__module__), "__file__", None) or ""
        if (
            not klass.__flags__ & _HEAP_TYPE
            or klass.__module__ in sys.builtin_module_names
            or file.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
        ):
            found = qualified_name(klass)
            break
    _OPAQUE[cls] = found
    return found


def library_base(cls: type) -> str | None:
    """Return the first class in `cls`'s MRO that is library code, or None."""
    for klass in cls.__mro__[:-1]:
        if library_marker(klass.__module__) is not None:
            return qualified_name(klass)
    return None


def library_marker(module_name: str | None) -> str | None:
    """Return ``"stdlib@3.11"`` or ``"dist==version"`` for library code, None for user code.

    Code belongs to a library when its top-level package is in the standard library or is
    installed under a ``site-packages`` / ``dist-packages`` directory (and HyperNodes itself);
    everything else (``__main__``, your project, editable installs) is user code, whose
    source is walked instead.
    """
    if not module_name:
        return None
    top = module_name.partition(".")[0]
    if top in _MARKERS:
        return _MARKERS[top]
    marker: str | None = None
    if top in sys.stdlib_module_names or top in ("builtins", "__future__"):
        marker = f"stdlib@{sys.version_info[0]}.{sys.version_info[1]}"
    elif top == "hypernodes" or _is_installed(top):  # ourselves too, even when editable
        marker = _distribution_marker(top)
    _MARKERS[top] = marker
    return marker


def _is_installed(top: str) -> bool:
    site = ("site-packages", "dist-packages")
    return any(part in site for path in _module_paths(top) for part in pathlib.PurePath(path).parts)


def _module_paths(top: str) -> list[str]:
    """Return where a top-level module lives, without importing it."""
    module = sys.modules.get(top)
    if module is not None:
        return [getattr(module, "__file__", None) or "", *(getattr(module, "__path__", None) or ())]
    try:
        spec = importlib.util.find_spec(top)  # a top-level name: nothing gets imported
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    return [spec.origin or "", *(spec.submodule_search_locations or ())]


def _distribution_marker(top: str) -> str:
    global _DISTRIBUTIONS
    import importlib.metadata  # slow to import; needed only for library code

    with _DISTRIBUTIONS_LOCK:
        if _DISTRIBUTIONS is None:
            _DISTRIBUTIONS = dict(importlib.metadata.packages_distributions())
        distributions = _DISTRIBUTIONS
    versions = []
    for name in sorted(set(distributions.get(top, ()))):
        try:
            versions.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ",".join(versions) or f"{top}==unknown"
