"""Caches of node outputs, keyed by content signatures of code and inputs."""

from __future__ import annotations

from hypernodes.cache._hashing import hash_value
from hypernodes.cache.base import MISSING, Cache, CacheEntry
from hypernodes.cache.disk import DiskCache
from hypernodes.cache.memory import MemoryCache
from hypernodes.cache.remote import FsspecCache
from hypernodes.cache.signature import code_fingerprint, node_signature
from hypernodes.cache.spec import CacheSpec, materialize_cache

__all__ = [
    "MISSING",
    "Cache",
    "CacheEntry",
    "CacheSpec",
    "DiskCache",
    "FsspecCache",
    "MemoryCache",
    "code_fingerprint",
    "hash_value",
    "materialize_cache",
    "node_signature",
]
