"""``MemoryCache``: node outputs kept in this process's memory."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, NamedTuple

from typing_extensions import override

from hypernodes.cache.base import MISSING, Cache, CacheEntry
from hypernodes.errors import InvalidArgumentError

__all__ = ["MemoryCache"]


class _Stored(NamedTuple):
    value: Any
    node_name: str
    created: float


class MemoryCache(Cache):
    """Keep node outputs in a dict of this process, optionally bounded (least recently used).

    A hit returns the stored object itself, not a copy: a node that mutates its inputs would
    change the cached output too. The cache lives and dies with the process; a copy sent to
    another process (pickled) starts empty with the same options, as a fresh
    ``CacheSpec(kind="memory").create()`` there would. Thread safe.

    Args:
        max_entries: Keep at most this many entries, evicting the least recently used; None
            means no bound.
        refresh: Lookups always miss and outputs are stored again (force recomputation).

    >>> cache = MemoryCache(max_entries=2)
    >>> cache.put("sig", None, node_name="clean")
    >>> cache.get("sig") is None, cache.count("clean")
    (True, 1)
    """

    option_names: ClassVar[tuple[str, ...]] = ("max_entries", "refresh")
    """The keyword arguments a ``CacheSpec(kind="memory", options=...)`` may pass."""

    def __init__(self, *, max_entries: int | None = None, refresh: bool = False) -> None:
        self._check_options({"max_entries": max_entries, "refresh": refresh})
        super().__init__(refresh=refresh)
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Stored] = OrderedDict()
        self._lock = threading.Lock()  # guards _entries (reads too: an LRU hit reorders it)

    @classmethod
    def _check_options(cls, options: Mapping[str, object]) -> None:
        """Validate option values (also used by ``CacheSpec`` before any cache exists)."""
        max_entries = options.get("max_entries")
        if max_entries is not None and (
            not isinstance(max_entries, int) or isinstance(max_entries, bool) or max_entries < 1
        ):
            raise InvalidArgumentError(
                f"MemoryCache(max_entries=...) needs a positive int or None; got {max_entries!r}"
            )
        if not isinstance(options.get("refresh", False), bool):
            raise InvalidArgumentError(f"MemoryCache(refresh=...) needs True or False; got {options['refresh']!r}")

    @override
    def get(self, signature: str) -> Any:
        if self.refresh:
            return MISSING
        with self._lock:
            stored = self._entries.get(signature)
            if stored is None:
                return MISSING
            if self.max_entries is not None:
                self._entries.move_to_end(signature)
            return stored.value

    @override
    def put(self, signature: str, value: Any, *, node_name: str) -> None:
        stored = _Stored(value, node_name, time.time())
        with self._lock:
            self._entries[signature] = stored
            if self.max_entries is not None:
                self._entries.move_to_end(signature)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)

    @override
    def entries(self, node_name: str | None = None) -> Iterator[CacheEntry]:
        with self._lock:  # a snapshot: callers may put or clear while iterating
            items = list(self._entries.items())
        for signature, stored in items:
            if node_name is None or stored.node_name == node_name:
                yield CacheEntry(signature=signature, node_name=stored.node_name, created=stored.created)

    @override
    def clear(self, node_name: str | None = None) -> int:
        with self._lock:
            if node_name is None:
                removed = len(self._entries)
                self._entries.clear()
                return removed
            doomed = [sig for sig, stored in self._entries.items() if stored.node_name == node_name]
            for signature in doomed:
                del self._entries[signature]
            return len(doomed)

    @override
    def count(self, node_name: str | None = None) -> int:
        if node_name is None:
            return len(self._entries)
        return super().count(node_name)

    @override
    def __len__(self) -> int:
        return len(self._entries)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.max_entries, self.refresh))

    def __repr__(self) -> str:
        return f"MemoryCache(max_entries={self.max_entries!r}, refresh={self.refresh!r})"


def _rebuild(max_entries: int | None, refresh: bool) -> MemoryCache:
    return MemoryCache(max_entries=max_entries, refresh=refresh)
