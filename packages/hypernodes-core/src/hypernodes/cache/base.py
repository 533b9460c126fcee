"""The ``Cache`` extension point: a store from node-call signatures to outputs."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Self, final

__all__ = ["MISSING", "Cache", "CacheEntry"]


@final
class _Missing:
    """The type of :data:`MISSING`; a cached ``None`` is a hit, so ``None`` cannot mean "miss"."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""Returned by :meth:`Cache.get` on a miss."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheEntry:
    """One stored node output, as listed by :meth:`Cache.entries`."""

    signature: str
    node_name: str
    size: int | None = None  # bytes, where the store knows it
    created: float | None = None  # seconds since the epoch, where the store knows it


class Cache(abc.ABC):
    """Map a node execution's signature to its output.

    Implementations must be safe to call from several threads at once. ``get`` returns
    :data:`MISSING` on a miss, so that ``None`` results can be cached.

    Args:
        refresh: When true, lookups always miss and every computed output is written again;
            use it to force recomputation of a run without deleting the cache.
    """

    def __init__(self, *, refresh: bool = False) -> None:
        self.refresh = refresh

    @abc.abstractmethod
    def get(self, signature: str) -> Any:
        """Return the output stored under `signature`, or :data:`MISSING`."""

    @abc.abstractmethod
    def put(self, signature: str, value: Any, *, node_name: str) -> None:
        """Store `value` under `signature`, recording which node produced it."""

    @abc.abstractmethod
    def entries(self, node_name: str | None = None) -> Iterator[CacheEntry]:
        """Iterate over the stored entries, or only those of `node_name`."""

    @abc.abstractmethod
    def clear(self, node_name: str | None = None) -> int:
        """Delete every entry, or only those of `node_name`; return how many were deleted."""

    def __contains__(self, signature: object) -> bool:
        return isinstance(signature, str) and self.get(signature) is not MISSING

    def __len__(self) -> int:
        return sum(1 for _ in self.entries())

    def count(self, node_name: str | None = None) -> int:
        """Return the number of entries, or of `node_name`'s entries."""
        return sum(1 for _ in self.entries(node_name))

    def close(self) -> None:
        """Release resources (files, connections). Safe to call several times."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
