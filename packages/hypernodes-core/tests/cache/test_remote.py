"""FsspecCache: the same entries for every worker, on a real S3 API (moto's server) and on local paths."""

from __future__ import annotations

import itertools
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hypernodes import CacheSpec, FsspecCache, InvalidArgumentError, Pipeline, RuntimeConfig, node
from hypernodes.cache import MISSING, remote
from hypernodes.executor.inline import InlineExecutor

LARGE = b"x" * 200_000
_prefixes = itertools.count()


def test_all_is_pinned() -> None:
    assert remote.__all__ == ["FsspecCache"]


@pytest.fixture(name="store", params=["s3", "local path", "file url"])
def store_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    """A URL and its storage options: a fresh prefix of the moto bucket, or a fresh local directory."""
    if request.param == "s3":
        options: dict[str, Any] = request.getfixturevalue("s3_server")
        return f"s3://hypernodes-test/run{next(_prefixes)}", options
    directory = tmp_path / "shared-cache"
    return (str(directory) if request.param == "local path" else directory.as_uri()), {}


@pytest.fixture(name="cache")
def cache_fixture(store: tuple[str, dict[str, Any]]) -> FsspecCache:
    url, options = store
    return FsspecCache(url, storage_options=options)


def raw(cache: FsspecCache, signature: str) -> tuple[Any, str]:
    """Return the cache's file system and the path of `signature`'s entry (to damage it)."""
    return cache._fs, cache._path(signature)


@pytest.mark.parametrize("value", [None, 0, "text", {"a": [1, (2, "3")]}, LARGE])
def test_put_then_get_roundtrips(cache: FsspecCache, value: object) -> None:
    assert cache.get("sig") is MISSING
    cache.put("sig", value, node_name="n")
    assert cache.get("sig") == value
    assert "sig" in cache


def test_another_instance_and_a_pickled_copy_see_the_same_entries(
    cache: FsspecCache, store: tuple[str, dict[str, Any]]
) -> None:
    url, options = store
    cache.put("sig", [1, 2], node_name="n")
    assert FsspecCache(url, storage_options=options).get("sig") == [1, 2]
    copy = pickle.loads(pickle.dumps(cache))
    copy.put("other", "from the copy", node_name="n")
    assert cache.get("other") == "from the copy"


def test_entries_count_and_clear_work_per_node(cache: FsspecCache) -> None:
    for i in range(3):
        cache.put(f"a{i}", "x" * i, node_name="alpha")
    cache.put("b0", None, node_name="beta")
    assert (cache.count(), cache.count("alpha"), cache.count("beta"), len(cache)) == (4, 3, 1, 4)
    (entry,) = cache.entries("beta")
    assert (entry.signature, entry.node_name) == ("b0", "beta")
    assert entry.size is not None and entry.size > 0 and entry.created is not None
    assert cache.clear("alpha") == 3
    assert cache.get("a1") is MISSING and cache.get("b0") is None
    assert cache.clear() == 1 and cache.count() == 0


def test_refresh_misses_on_lookup_but_still_stores(cache: FsspecCache, store: tuple[str, dict[str, Any]]) -> None:
    url, options = store
    cache.put("sig", "old", node_name="n")
    refreshing = FsspecCache(url, storage_options=options, refresh=True)
    assert refreshing.get("sig") is MISSING
    refreshing.put("sig", "new", node_name="n")
    assert cache.get("sig") == "new"


def test_a_damaged_entry_is_one_warning_then_a_miss_and_is_rewritten(
    cache: FsspecCache, damage: Callable[[bytes], bytes], check_damage_is_caught: Any
) -> None:
    def damage_entry() -> None:
        fs, path = raw(cache, "sig")
        fs.pipe_file(path, damage(fs.cat_file(path)))

    check_damage_is_caught(cache, damage_entry)


def test_an_entry_under_another_signature_is_not_served(cache: FsspecCache) -> None:
    cache.put("wrong", "other", node_name="n")
    fs, wrong = raw(cache, "wrong")
    _, right = raw(cache, "right")
    fs.makedirs(right.rpartition("/")[0], exist_ok=True)
    fs.pipe_file(right, fs.cat_file(wrong))  # a careless copy
    with pytest.warns(RuntimeWarning, match="another signature"):
        assert cache.get("right") is MISSING


def test_an_unpicklable_value_raises_and_leaves_nothing_behind(cache: FsspecCache) -> None:
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        cache.put("sig", [LARGE, threading.Lock()], node_name="n")
    assert cache.get("sig") is MISSING and cache.count() == 0
    fs, path = raw(cache, "sig")
    root = path.rsplit("/", 2)[0]
    assert not fs.exists(root) or fs.find(root) == []  # no temporary file either


def test_a_signed_cache_refuses_an_entry_written_without_its_key(
    cache: FsspecCache, store: tuple[str, dict[str, Any]], tmp_path: Path, crafted_pickle: Any
) -> None:
    url, options = store
    marker = tmp_path / "code-ran"
    cache.put("sig", crafted_pickle(marker), node_name="n")  # a valid plain checksum
    signed = FsspecCache(url, storage_options=options, secret_key=b"k")
    with pytest.warns(RuntimeWarning, match="not signed with a secret_key"):
        assert signed.get("sig") is MISSING
    assert not marker.exists()
    signed.put("sig", "recomputed", node_name="n")
    assert signed.get("sig") == "recomputed"
    signed.put("tampered", "signed", node_name="n")
    fs, path = raw(signed, "tampered")
    data = bytearray(fs.cat_file(path))
    data[-3] ^= 0xFF
    fs.pipe_file(path, bytes(data))
    with pytest.warns(RuntimeWarning, match="HMAC does not match"):
        assert signed.get("tampered") is MISSING


def test_threads_share_one_cache(cache: FsspecCache) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(10):
                cache.put(f"{worker}-{i}", (worker, i), node_name="n")
                cache.put(f"shared-{i}", ("shared", i), node_name="shared")
                assert cache.get(f"{worker}-{i}") == (worker, i)
                assert cache.get(f"shared-{i}") == ("shared", i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert cache.count() == 4 * 10 + 10


_WORKER = """
import pickle, sys
spec = pickle.loads(bytes.fromhex(sys.argv[1]))
cache = spec.create()
print(repr(cache.get("from-caller")))
cache.put("from-worker", "written by the worker", node_name="n")
"""


def test_a_worker_process_reads_and_writes_what_the_caller_sees(store: tuple[str, dict[str, Any]]) -> None:
    url, options = store
    spec = CacheSpec(kind="fsspec", path=url, options={"storage_options": options})
    caller = spec.create()
    caller.put("from-caller", "written by the caller", node_name="n")
    out = subprocess.run(
        [sys.executable, "-c", _WORKER, pickle.dumps(spec).hex()], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "'written by the caller'"
    assert caller.get("from-worker") == "written by the worker"


def test_a_pipeline_reruns_from_an_fsspec_cache_spec(store: tuple[str, dict[str, Any]]) -> None:
    url, options = store
    calls: list[int] = []

    @node(output_name="y")
    def f(x: int) -> int:
        calls.append(x)
        return x * 10

    config = RuntimeConfig(
        executor=InlineExecutor(), cache=CacheSpec(kind="fsspec", path=url, options={"storage_options": options})
    )
    for _ in range(2):
        assert Pipeline(nodes=[f]).map(inputs={"x": [1, 2, 3]}, map_over="x", config=config) == {"y": [10, 20, 30]}
    assert calls == [1, 2, 3]


def test_local_entries_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        cache = FsspecCache(str(tmp_path / "c"))
        cache.put("sig", 1, node_name="n")
    finally:
        os.umask(old)
    _, path = raw(cache, "sig")
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_a_local_directory_in_place_of_an_entry_is_repaired(tmp_path: Path) -> None:
    cache = FsspecCache(str(tmp_path / "c"))
    _, path = raw(cache, "sig")
    Path(path, "inside").mkdir(parents=True)
    with pytest.warns(RuntimeWarning, match="is a directory"):
        assert cache.get("sig") is MISSING
    cache.put("sig", "fine", node_name="n")
    assert cache.get("sig") == "fine"


def test_the_spec_checks_its_arguments_and_hides_credentials(s3_server: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError, match=r"CacheSpec\(kind='fsspec'\) needs a path"):
        CacheSpec(kind="fsspec")
    with pytest.raises(InvalidArgumentError, match="no option 'storage_option'.*Did you mean 'storage_options'"):
        CacheSpec(kind="fsspec", path="s3://b/p", options={"storage_option": {}})
    with pytest.raises(InvalidArgumentError, match="storage_options"):
        FsspecCache("s3://b/p", storage_options=[("key", "k")])  # type: ignore[arg-type]
    spec = CacheSpec(kind="fsspec", path="s3://hypernodes-test/p", options={"storage_options": s3_server})
    assert "testing" not in repr(spec) and "testing" not in repr(spec.create())


def test_without_fsspec_the_error_says_what_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['fsspec'] = None\n"
        "from hypernodes import FsspecCache\n"
        "try:\n"
        "    FsspecCache('s3://bucket/prefix')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'hypernodes-core[fsspec]'" in out.stdout
