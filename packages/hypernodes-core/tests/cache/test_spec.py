"""CacheSpec and materialize_cache: a picklable cache description, made where the run executes."""

from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import hypernodes.cache
from hypernodes.cache import Cache, CacheSpec, DiskCache, MemoryCache, materialize_cache, spec
from hypernodes.errors import InvalidArgumentError


def test_all_is_pinned() -> None:
    assert spec.__all__ == ["CacheFactory", "CacheSpec", "materialize_cache"]
    assert hypernodes.cache.__all__ == [
        "MISSING", "Cache", "CacheEntry", "CacheSpec", "DiskCache", "FsspecCache", "MemoryCache", "code_fingerprint",
        "hash_value", "materialize_cache", "node_signature",
    ]  # fmt: skip
    for name in hypernodes.cache.__all__:
        assert getattr(hypernodes.cache, name) is not None


def test_a_disk_spec_creates_a_disk_cache_with_its_options(tmp_path: Path) -> None:
    cache = CacheSpec(kind="disk", path=tmp_path / "c", options={"refresh": True, "max_size_bytes": 1000}).create()
    assert isinstance(cache, DiskCache)
    assert (cache.path, cache.refresh, cache.max_size_bytes) == (tmp_path / "c", True, 1000)


def test_a_memory_spec_creates_a_new_memory_cache_each_time() -> None:
    memory = CacheSpec(kind="memory", options={"max_entries": 3})
    first, second = memory.create(), memory.create()
    assert isinstance(first, MemoryCache) and first.max_entries == 3
    assert first is not second


def test_a_relative_path_is_resolved_where_the_cache_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    relative = CacheSpec(kind="disk", path="cache-dir")
    assert relative.path == "cache-dir"
    monkeypatch.chdir(tmp_path)
    assert relative.create().path == tmp_path / "cache-dir"  # type: ignore[attr-defined]


def test_a_spec_is_frozen_hashable_and_keeps_its_own_options(tmp_path: Path) -> None:
    options = {"refresh": True}
    disk = CacheSpec(kind="disk", path=tmp_path, options=options)
    options["refresh"] = False
    assert disk.options == {"refresh": True}
    with pytest.raises(dataclasses.FrozenInstanceError):
        disk.kind = "memory"  # type: ignore[misc]
    with pytest.raises(TypeError):
        disk.options["refresh"] = False  # type: ignore[index]
    assert hash(disk) == hash(CacheSpec(kind="disk", path=str(tmp_path), options={"refresh": True}))
    assert disk == CacheSpec(kind="disk", path=str(tmp_path), options={"refresh": True})


def test_a_spec_pickles_and_replace_gives_a_modified_copy(tmp_path: Path) -> None:
    disk = CacheSpec(kind="disk", path=tmp_path, options={"max_size_bytes": 10})
    assert pickle.loads(pickle.dumps(disk)) == disk
    assert dataclasses.replace(disk, options={"refresh": True}).options == {"refresh": True}


_WORKER = """
import pickle, sys
spec = pickle.loads(bytes.fromhex(sys.argv[1]))
cache = spec.create()
cache.put("from-the-worker", {"made": type(cache).__name__}, node_name="n")
"""


def test_a_worker_process_makes_its_own_cache_from_the_spec(tmp_path: Path) -> None:
    disk = CacheSpec(kind="disk", path=tmp_path / "c")
    subprocess.run([sys.executable, "-c", _WORKER, pickle.dumps(disk).hex()], check=True, env=dict(os.environ))
    assert disk.create().get("from-the-worker") == {"made": "DiskCache"}


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"kind": "disk"}, r"needs a path.*CacheSpec\(kind='disk', path="),
        ({"kind": "disk", "path": ""}, "path"),
        ({"kind": "disk", "path": 3}, "path"),
        ({"kind": "memory", "path": "x"}, "takes no path"),
        ({"kind": "dsk", "path": "x"}, "Did you mean 'disk'"),
        ({"kind": "memory", "options": {"max_entry": 3}}, "no option 'max_entry'.*Did you mean 'max_entries'"),
        ({"kind": "disk", "path": "x", "options": {"max_entries": 3}}, "accepted: 'max_size_bytes', 'refresh'"),
        ({"kind": "memory", "options": {"max_entries": -1}}, "max_entries"),
        ({"kind": "disk", "path": "x", "options": {"refresh": "yes"}}, "refresh"),
        ({"kind": "memory", "options": [("refresh", True)]}, "mapping"),
    ],
)
def test_invalid_specs_never_exist(arguments: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match) as info:
        CacheSpec(**arguments)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)


def test_a_disk_spec_is_validated_without_touching_the_disk(tmp_path: Path) -> None:
    CacheSpec(kind="disk", path=tmp_path / "not-yet")
    assert not (tmp_path / "not-yet").exists()


# -- materialize_cache ------------------------------------------------------------------------
def test_materialize_keeps_none_and_cache_instances() -> None:
    memory = MemoryCache()
    assert materialize_cache(None) is None
    assert materialize_cache(memory) is memory


def test_materialize_creates_a_spec_and_calls_a_factory(tmp_path: Path) -> None:
    assert isinstance(materialize_cache(CacheSpec(kind="disk", path=tmp_path)), DiskCache)
    assert isinstance(materialize_cache(MemoryCache), MemoryCache)
    made: list[Cache] = []

    def factory() -> Cache:
        made.append(MemoryCache(max_entries=1))
        return made[-1]

    assert materialize_cache(factory) is made[0]


def test_materialize_rejects_other_values_naming_the_accepted_types() -> None:
    with pytest.raises(InvalidArgumentError, match="a Cache .*a CacheSpec, a zero-argument factory") as info:
        materialize_cache("disk")  # type: ignore[arg-type]
    assert info.value.input_name == "cache"
    with pytest.raises(InvalidArgumentError, match="returned dict, not a Cache"):
        materialize_cache(dict)  # type: ignore[arg-type]


def test_a_spec_takes_its_fields_by_position_too(tmp_path: Path) -> None:
    assert CacheSpec("disk", tmp_path) == CacheSpec(kind="disk", path=tmp_path)
    assert isinstance(CacheSpec("memory").create(), MemoryCache)
