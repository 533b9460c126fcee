"""MemoryCache: a thread-safe dict of node outputs with an optional LRU bound."""

from __future__ import annotations

import pickle
import threading

import pytest

from hypernodes.cache import MISSING, CacheEntry, memory
from hypernodes.cache.memory import MemoryCache
from hypernodes.errors import InvalidArgumentError


def test_all_is_pinned() -> None:
    assert memory.__all__ == ["MemoryCache"]


def test_a_miss_is_missing_and_none_is_a_cached_value() -> None:
    cache = MemoryCache()
    assert cache.get("sig") is MISSING
    cache.put("sig", None, node_name="n")
    assert cache.get("sig") is None
    assert "sig" in cache


def test_put_then_get_returns_the_stored_object() -> None:
    cache = MemoryCache()
    value = {"rows": [1, 2]}
    cache.put("sig", value, node_name="n")
    assert cache.get("sig") is value


def test_entries_count_and_clear_work_per_node() -> None:
    cache = MemoryCache()
    for i in range(3):
        cache.put(f"a{i}", i, node_name="a")
    cache.put("b0", 0, node_name="b")
    assert (len(cache), cache.count(), cache.count("a"), cache.count("b"), cache.count("c")) == (4, 4, 3, 1, 0)
    entries = list(cache.entries("b"))
    assert entries == [CacheEntry(signature="b0", node_name="b", created=entries[0].created)]
    assert entries[0].created is not None
    assert cache.clear("a") == 3
    assert cache.get("a0") is MISSING and cache.get("b0") == 0
    assert cache.clear() == 1
    assert len(cache) == 0


def test_the_bound_evicts_the_least_recently_used_entry() -> None:
    cache = MemoryCache(max_entries=2)
    cache.put("a", 1, node_name="n")
    cache.put("b", 2, node_name="n")
    assert cache.get("a") == 1  # a is now more recent than b
    cache.put("c", 3, node_name="n")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, MISSING, 3)
    assert len(cache) == 2


def test_refresh_misses_on_lookup_but_still_stores() -> None:
    cache = MemoryCache(refresh=True)
    cache.put("sig", "fresh", node_name="n")
    assert cache.get("sig") is MISSING
    cache.refresh = False
    assert cache.get("sig") == "fresh"


def test_concurrent_threads_never_lose_entries() -> None:
    cache = MemoryCache(max_entries=10_000)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(500):
                cache.put(f"{worker}-{i}", i, node_name=f"node{worker % 2}")
                assert cache.get(f"{worker}-{i}") == i
                cache.put("shared", worker, node_name="shared")
                cache.get("shared")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) == 8 * 500 + 1
    assert cache.count("node0") == 4 * 500


def test_a_pickled_copy_keeps_the_options_and_starts_empty() -> None:
    cache = MemoryCache(max_entries=5, refresh=True)
    cache.put("sig", 1, node_name="n")
    copy = pickle.loads(pickle.dumps(cache))
    assert (copy.max_entries, copy.refresh, len(copy)) == (5, True, 0)


@pytest.mark.parametrize(
    ("options", "match"),
    [({"max_entries": 0}, "max_entries"), ({"max_entries": "10"}, "max_entries"), ({"refresh": "yes"}, "refresh")],
)
def test_invalid_options_are_rejected(options: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        MemoryCache(**options)  # type: ignore[arg-type]
