"""``CacheSpec``: a picklable description of a cache, made where the run executes.

A ``RuntimeConfig.cache`` may be a ``Cache``, a ``CacheSpec`` or a zero-argument factory;
:func:`materialize_cache` turns any of them into a ``Cache`` once per run, in the process
(worker, container) that runs it.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Protocol

from hypernodes.cache.base import Cache
from hypernodes.cache.disk import DiskCache
from hypernodes.cache.memory import MemoryCache
from hypernodes.cache.remote import FsspecCache
from hypernodes.errors import InvalidArgumentError

__all__ = ["CacheFactory", "CacheSpec", "materialize_cache"]

_KINDS: dict[str, type[DiskCache] | type[MemoryCache] | type[FsspecCache]] = {
    "disk": DiskCache,
    "memory": MemoryCache,
    "fsspec": FsspecCache,
}
_SECRET_OPTIONS = frozenset({"secret_key", "storage_options"})  # never shown in a repr


class CacheFactory(Protocol):
    """A zero-argument callable that makes a cache (a class such as ``MemoryCache`` will do)."""

    def __call__(self) -> Cache:
        """Return a new cache."""
        ...


@dataclass(frozen=True)
class CacheSpec:
    """Describe a cache by kind, path and options, to be made with :meth:`create`.

    Unlike a cache instance, a spec holds no open resources and pickles as its fields, so it
    travels to worker processes and remote containers, where each run makes its own cache.
    A relative ``path`` is resolved where the cache is made.

    Args:
        kind: ``"disk"`` (a :class:`~hypernodes.cache.disk.DiskCache`), ``"memory"`` (a
            :class:`~hypernodes.cache.memory.MemoryCache`) or ``"fsspec"`` (a
            :class:`~hypernodes.cache.remote.FsspecCache`, for workers on other machines).
        path: The cache directory for ``"disk"``, the URL (``"s3://bucket/prefix"``) for
            ``"fsspec"``; not accepted for ``"memory"``.
        options: Keyword arguments for the cache's constructor, e.g. ``{"refresh": True}``,
            ``{"max_size_bytes": 10**9}`` or ``{"secret_key": key}`` for disk,
            ``{"max_entries": 1000}`` for memory, ``{"storage_options": {...}}`` for fsspec.
            The repr never shows ``secret_key`` or ``storage_options`` (credentials).

    >>> CacheSpec(kind="memory", options={"max_entries": 10}).create()
    MemoryCache(max_entries=10, refresh=False)
    """

    kind: Literal["disk", "memory", "fsspec"]
    path: str | os.PathLike[str] | None = None
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            close = difflib.get_close_matches(str(self.kind), list(_KINDS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise InvalidArgumentError(
                f"CacheSpec(kind=...) must be 'disk', 'memory' or 'fsspec'; got {self.kind!r}.{hint}",
                input_name="kind",
            )
        if self.kind in ("disk", "fsspec"):
            if self.path is None:
                what, example = ("directory", "'.hypernodes-cache'") if self.kind == "disk" else ("URL", "'s3://b/p'")
                raise InvalidArgumentError(
                    f"CacheSpec(kind={self.kind!r}) needs a path: pass the cache {what}, "
                    f"e.g. CacheSpec(kind={self.kind!r}, path={example})",
                    input_name="path",
                )
            if not isinstance(self.path, str | os.PathLike) or not os.fspath(self.path):
                raise InvalidArgumentError(
                    f"CacheSpec(path=...) needs a directory path (str or os.PathLike); got {self.path!r}",
                    input_name="path",
                )
            object.__setattr__(self, "path", os.fspath(self.path))
        elif self.path is not None:
            raise InvalidArgumentError(
                f"CacheSpec(kind='memory') takes no path (got {self.path!r}); drop path=..., "
                "or use kind='disk' to cache on disk",
                input_name="path",
            )
        if not isinstance(self.options, Mapping):
            raise InvalidArgumentError(
                f"CacheSpec(options=...) needs a mapping of keyword arguments; got {type(self.options).__name__}",
                input_name="options",
            )
        cache_class = _KINDS[self.kind]
        for name in self.options:
            if name not in cache_class.option_names:
                accepted = cache_class.option_names
                close = difflib.get_close_matches(str(name), accepted, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise InvalidArgumentError(
                    f"CacheSpec(kind={self.kind!r}) has no option {name!r}; accepted: "
                    f"{', '.join(map(repr, accepted))}.{hint}",
                    input_name="options",
                )
        cache_class._check_options(self.options)
        # A read-only copy: the spec is immutable even if the caller's dict changes later.
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    def create(self) -> Cache:
        """Make the cache this spec describes (in the calling process)."""
        if self.kind == "disk":
            assert self.path is not None  # checked in __post_init__
            return DiskCache(self.path, **self.options)
        if self.kind == "fsspec":
            assert self.path is not None
            return FsspecCache(str(self.path), **self.options)
        return MemoryCache(**self.options)

    def __reduce__(self) -> tuple[Any, ...]:
        # MappingProxyType does not pickle: send the options as a plain dict.
        return (_rebuild, (self.kind, self.path, dict(self.options)))

    def __repr__(self) -> str:
        shown = {name: "<set>" if name in _SECRET_OPTIONS else value for name, value in self.options.items()}
        return f"CacheSpec(kind={self.kind!r}, path={self.path!r}, options={shown!r})"


def _rebuild(kind: Literal["disk", "memory", "fsspec"], path: str | None, options: dict[str, Any]) -> CacheSpec:
    return CacheSpec(kind=kind, path=path, options=options)


def materialize_cache(value: Cache | CacheSpec | CacheFactory | None) -> Cache | None:
    """Return the cache that a ``RuntimeConfig.cache`` setting stands for.

    A ``Cache`` is returned as is, a ``CacheSpec`` is created, a factory is called (once per
    call of this function: the engine calls it once per run) and None stays None.

    Raises:
        InvalidArgumentError: `value` is none of those, or a factory returned something
            that is not a ``Cache``.

    >>> materialize_cache(None) is None, type(materialize_cache(MemoryCache)).__name__
    (True, 'MemoryCache')
    """
    if value is None or isinstance(value, Cache):
        return value
    if isinstance(value, CacheSpec):
        return value.create()
    if callable(value):
        made = value()
        if not isinstance(made, Cache):
            raise InvalidArgumentError(
                f"the cache factory {getattr(value, '__qualname__', value)!r} returned "
                f"{type(made).__name__}, not a Cache; a factory must return e.g. MemoryCache() or DiskCache(path)",
                input_name="cache",
            )
        return made
    raise InvalidArgumentError(
        "cache must be a Cache (DiskCache(path), MemoryCache()), a CacheSpec, a zero-argument "
        f"factory returning a Cache, or None; got {type(value).__name__}",
        input_name="cache",
    )
