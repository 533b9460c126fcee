"""DiskCache: atomic entries shared by threads and processes, corruption detected, size bounded.

Most behaviour is checked on both stores: ``packed`` (the default: small entries are rows of
one SQLite database) and ``files`` (``max_packed_bytes=0``: every entry a file, as large
entries always are). What only one store does has its own tests, here and in test_packed.py.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hypernodes.cache import MISSING, disk
from hypernodes.cache.disk import DiskCache
from hypernodes.errors import InvalidArgumentError


def test_all_is_pinned() -> None:
    assert disk.__all__ == ["DiskCache"]


def entry_files(root: Path) -> list[Path]:
    return sorted(root.glob("??/*.hnc"))


def temp_files(root: Path) -> list[Path]:
    return sorted(root.glob("??/*.tmp"))


LAYOUTS = {"packed": {}, "files": {"max_packed_bytes": 0}}


@pytest.fixture(name="layout", params=list(LAYOUTS))
def layout_fixture(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The options of one store layout: packed rows (the default) or one file per entry."""
    return LAYOUTS[request.param]


@pytest.fixture(name="cache")
def cache_fixture(tmp_path: Path, layout: dict[str, Any]) -> DiskCache:
    return DiskCache(tmp_path / "cache", **layout)


@pytest.fixture(name="file_cache")
def file_cache_fixture(tmp_path: Path) -> DiskCache:
    """A cache whose every entry is a file (what large entries always are)."""
    return DiskCache(tmp_path / "cache", max_packed_bytes=0)


@pytest.mark.parametrize("value", [None, 0, "", "text", [1, (2, "3")], {"a": {1, 2}}, b"\x00" * 100_000])
def test_put_then_get_roundtrips(cache: DiskCache, value: object) -> None:
    cache.put("sig", value, node_name="n")
    assert cache.get("sig") == value


def test_a_miss_is_missing_and_none_is_cached(cache: DiskCache) -> None:
    assert cache.get("absent") is MISSING
    cache.put("none", None, node_name="n")
    assert cache.get("none") is None
    assert "none" in cache and "absent" not in cache


def test_entries_survive_into_a_new_instance(tmp_path: Path, layout: dict[str, Any]) -> None:
    DiskCache(tmp_path / "c", **layout).put("sig", [1, 2], node_name="n")
    assert DiskCache(tmp_path / "c", **layout).get("sig") == [1, 2]


def test_the_directory_is_tagged_and_holds_no_temporary_files(cache: DiskCache) -> None:
    cache.put("sig", 1, node_name="n")
    assert (cache.path / "CACHEDIR.TAG").read_bytes().startswith(b"Signature: 8a477f597d28d172789f06886806bc55")
    assert len(entry_files(cache.path)) == (0 if cache.max_packed_bytes else 1)
    assert temp_files(cache.path) == []


def test_small_entries_are_packed_and_large_ones_are_files(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "c", max_packed_bytes=1000)
    for i in range(200):
        cache.put(f"small{i}", i, node_name="n")
    cache.put("large", b"x" * 5000, node_name="n")
    assert [p.name for p in entry_files(cache.path)] == [Path(cache._files.path("large")).name]
    assert (cache.path / "entries.sqlite").is_file()
    assert cache.count() == 201 and cache.get("small7") == 7 and cache.get("large") == b"x" * 5000


def test_an_entry_that_changes_size_moves_between_the_stores(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "c", max_packed_bytes=1000)
    cache.put("sig", b"x" * 5000, node_name="n")
    cache.put("sig", "small now", node_name="n")
    assert (cache.get("sig"), cache.count(), entry_files(cache.path)) == ("small now", 1, [])
    cache.put("sig", b"y" * 5000, node_name="n")
    assert (cache.get("sig"), cache.count(), len(entry_files(cache.path))) == (b"y" * 5000, 1, 1)


def test_entries_count_and_clear_work_per_node(cache: DiskCache) -> None:
    for i in range(3):
        cache.put(f"a{i}", "x" * i, node_name="alpha")
    cache.put("b0", None, node_name="beta")
    assert (len(cache), cache.count(), cache.count("alpha"), cache.count("beta"), cache.count("gamma")) == (
        4,
        4,
        3,
        1,
        0,
    )
    (entry,) = cache.entries("beta")
    assert (entry.signature, entry.node_name) == ("b0", "beta")
    assert entry.size is not None and entry.size > 0 and entry.created is not None
    assert sorted(e.signature for e in cache.entries()) == ["a0", "a1", "a2", "b0"]
    assert cache.clear("alpha") == 3
    assert cache.get("a1") is MISSING and cache.get("b0") is None
    assert cache.clear() == 1
    assert cache.count() == 0


def test_refresh_misses_on_lookup_but_still_stores(tmp_path: Path, layout: dict[str, Any]) -> None:
    DiskCache(tmp_path / "c", **layout).put("sig", "old", node_name="n")
    refreshing = DiskCache(tmp_path / "c", refresh=True, **layout)
    assert refreshing.get("sig") is MISSING
    refreshing.put("sig", "new", node_name="n")
    assert DiskCache(tmp_path / "c", **layout).get("sig") == "new"


def test_it_pickles_by_path_and_options(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "c", max_size_bytes=10_000, refresh=True, secret_key=b"k", max_packed_bytes=10)
    copy = pickle.loads(pickle.dumps(cache))
    assert (copy.path, copy.max_size_bytes, copy.refresh, copy.max_packed_bytes) == (cache.path, 10_000, True, 10)
    copy.put("sig", 1, node_name="n")
    assert DiskCache(tmp_path / "c", secret_key=b"k").get("sig") == 1
    assert "secret_key=<set>" in repr(copy) and "b'k'" not in repr(copy)


@pytest.mark.parametrize("size", [10, 100_000], ids=["small", "large"])
def test_an_unpicklable_value_raises_and_leaves_nothing_behind(cache: DiskCache, size: int) -> None:
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        cache.put("sig", [b"x" * size, threading.Lock()], node_name="n")
    assert cache.get("sig") is MISSING
    assert temp_files(cache.path) == [] and entry_files(cache.path) == [] and cache.count() == 0


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidArgumentError, match="directory"):
        DiskCache(tmp_path / "file")
    with pytest.raises(InvalidArgumentError, match="max_size_bytes"):
        DiskCache(tmp_path / "c", max_size_bytes=0)
    with pytest.raises(InvalidArgumentError, match="refresh"):
        DiskCache(tmp_path / "c", refresh=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="max_packed_bytes"):
        DiskCache(tmp_path / "c", max_packed_bytes=-1)
    with pytest.raises(InvalidArgumentError, match=r"file_mode.*0o600"):
        DiskCache(tmp_path / "c", file_mode=0o400)
    with pytest.raises(InvalidArgumentError, match="secret_key"):
        DiskCache(tmp_path / "c", secret_key=b"")


# -- corruption -------------------------------------------------------------------------------
def test_a_corrupt_entry_file_is_one_warning_then_a_miss_and_is_rewritten(
    file_cache: DiskCache, damage: Callable[[bytes], bytes], check_damage_is_caught: Any
) -> None:
    def damage_entry() -> None:
        (path,) = entry_files(file_cache.path)
        path.write_bytes(damage(path.read_bytes()))

    check_damage_is_caught(file_cache, damage_entry)


def test_an_entry_under_another_signature_is_not_served(file_cache: DiskCache) -> None:
    cache = file_cache
    cache.put("right", "value", node_name="n")
    cache.put("wrong", "other", node_name="n")
    right, wrong = (Path(cache._files.path(s)) for s in ("right", "wrong"))
    os.replace(wrong, right)  # a file in the wrong place, as a careless copy would leave
    with pytest.warns(RuntimeWarning, match="another signature"):
        assert cache.get("right") is MISSING


def test_a_directory_in_place_of_an_entry_is_a_miss_and_is_repaired_once(cache: DiskCache) -> None:
    path = Path(cache._files.path("sig"))
    (path / "inside").mkdir(parents=True)
    with pytest.warns(RuntimeWarning, match="is a directory"):
        assert cache.get("sig") is MISSING
    assert not path.exists()  # repaired: no warning at the next run
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.put("sig", b"x" * 100_000, node_name="n")  # a file entry goes where the directory was
        assert cache.get("sig") == b"x" * 100_000


def test_a_store_repairs_a_directory_in_the_way_without_a_lookup_first(cache: DiskCache) -> None:
    for signature, value in (("large", b"x" * 100_000), ("small", "s")):
        path = Path(cache._files.path(signature))
        (path / "inside").mkdir(parents=True)
        cache.put(signature, value, node_name="n")
        assert cache.get(signature) == value
        assert cache.count() == (1 if signature == "large" else 2)


@pytest.mark.parametrize("layout_name", list(LAYOUTS))
def test_an_entry_whose_class_is_gone_is_a_miss_and_is_kept(tmp_path: Path, layout_name: str) -> None:
    (tmp_path / "gone_module.py").write_text("class Thing:\n    pass\n")
    writer = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from gone_module import Thing
        from hypernodes.cache import DiskCache
        thing = Thing()
        thing.label = "x"
        DiskCache({str(tmp_path / "c")!r}, **{LAYOUTS[layout_name]!r}).put("sig", thing, node_name="n")
        """
    )
    subprocess.run([sys.executable, "-c", writer], check=True)
    cache = DiskCache(tmp_path / "c", **LAYOUTS[layout_name])
    with pytest.warns(RuntimeWarning, match="cannot be unpickled"):
        assert cache.get("sig") is MISSING
    assert cache.count() == 1  # intact: another process, with the module, may still read it


_KILLED_WRITER = """
import sys
from hypernodes.cache import DiskCache

class Stall:
    def __reduce__(self):
        sys.stdout.write("writing\\n")
        sys.stdout.flush()
        sys.stdin.read()  # blocks: the parent kills this process here, half-way through the entry
        raise SystemExit(1)

DiskCache(sys.argv[1]).put(sys.argv[2], [b"x" * int(sys.argv[3]), Stall()], node_name="big")
"""


def write_and_get_killed(root: Path, signature: str, size: int = 8 << 20) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(root), signature, str(size)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"writing\n"
        if size > 1 << 20:
            (temp,) = temp_files(root)
            assert temp.stat().st_size > size  # the half-written entry really is on disk
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_writer_killed_mid_write_leaves_no_entry(cache: DiskCache) -> None:
    write_and_get_killed(cache.path, "sig")
    assert cache.get("sig") is MISSING
    assert cache.count() == 0 and list(cache.entries()) == []
    assert len(temp_files(cache.path)) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_writer_of_a_small_entry_killed_mid_write_leaves_nothing(cache: DiskCache) -> None:
    cache.put("other", "kept", node_name="n")
    write_and_get_killed(cache.path, "sig", size=100)
    assert cache.get("sig") is MISSING and cache.get("other") == "kept"
    assert cache.count() == 1 and temp_files(cache.path) == []


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_writer_killed_while_replacing_an_entry_leaves_the_old_one(cache: DiskCache) -> None:
    cache.put("sig", "old and complete", node_name="n")
    write_and_get_killed(cache.path, "sig")
    assert cache.get("sig") == "old and complete"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_temporary_files_of_dead_writers_are_swept(cache: DiskCache) -> None:
    write_and_get_killed(cache.path, "sig")
    (temp,) = temp_files(cache.path)
    assert cache.clear() == 0
    assert temp.exists()  # it could still belong to a live writer
    os.utime(temp, (0, 0))  # an hour old or more: its writer is dead
    cache.clear()
    assert temp_files(cache.path) == []


# -- size bound -------------------------------------------------------------------------------
def test_the_size_bound_evicts_the_oldest_entries(
    tmp_path: Path, layout: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "c"
    unbounded = DiskCache(root, **layout)
    for i in range(10):
        monkeypatch.setattr(disk, "time", types.SimpleNamespace(time=lambda i=i: 1_000_000.0 + i))
        unbounded.put(f"old{i}", b"x" * 1000, node_name="n")  # old0 is the oldest
        if not unbounded.max_packed_bytes:
            os.utime(unbounded._files.path(f"old{i}"), (1_000_000 + i, 1_000_000 + i))
    monkeypatch.undo()
    entry_size = next(unbounded.entries()).size
    assert entry_size is not None and entry_size > 1000
    bound = 6 * entry_size
    bounded = DiskCache(root, max_size_bytes=bound, **layout)
    bounded.put("new", b"x" * 1000, node_name="n")
    kept = [i for i in range(10) if bounded.get(f"old{i}") is not MISSING]
    assert kept == list(range(10 - len(kept), 10))  # the newest survive
    assert 0 < len(kept) < 10
    assert bounded.get("new") == b"x" * 1000
    assert sum(e.size or 0 for e in bounded.entries()) <= bound


# -- concurrency ------------------------------------------------------------------------------
def test_concurrent_threads_share_one_cache(cache: DiskCache) -> None:
    # also across the two stores: every tenth shared value is too large for a row
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(40):
                shared = ("shared", i, b"x" * (20_000 if i % 10 == 0 else 1))
                cache.put(f"{worker}-{i}", (worker, i), node_name=f"node{worker}")
                cache.put(f"shared-{i}", shared, node_name="shared")
                assert cache.get(f"{worker}-{i}") == (worker, i)
                assert cache.get(f"shared-{i}") == shared
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert cache.count() == 6 * 40 + 40
    assert temp_files(cache.path) == []


_WORKER = """
import warnings


def write_from_a_process(cache, worker, count):
    \"\"\"Write own and shared entries, read them back; return what went wrong.\"\"\"
    problems = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(count):
            cache.put(f"w{worker}-{i}", {"worker": worker, "i": i, "pad": "p" * i}, node_name=f"node{worker}")
            cache.put(f"shared-{i}", {"shared": i, "pad": "s" * 1000 * (1 + 20 * (i % 7 == 0))}, node_name="shared")
            if cache.get(f"shared-{i}") != {"shared": i, "pad": "s" * 1000 * (1 + 20 * (i % 7 == 0))}:
                problems.append(f"shared-{i}")
        problems += [str(w.message) for w in caught]
    return problems
"""


def test_processes_writing_one_cache_concurrently_lose_and_corrupt_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: dict[str, Any]
) -> None:
    # Spawned workers import the worker function by module name: put it on sys.path, which
    # spawn passes on (test modules themselves are not importable under --import-mode=importlib).
    (tmp_path / "disk_cache_workers.py").write_text(_WORKER)
    monkeypatch.syspath_prepend(str(tmp_path))
    workers_module = importlib.import_module("disk_cache_workers")
    cache = DiskCache(tmp_path / "c", **layout)  # sent to each worker: it pickles by path
    workers, count = 4, 60
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        jobs = [(cache, w, count) for w in range(workers)]
        # A generous guard against a hang (a worker that cannot start), not a timing assertion.
        results = pool.starmap_async(workers_module.write_from_a_process, jobs).get(timeout=300)
    assert results == [[]] * workers
    fresh = DiskCache(tmp_path / "c", **layout)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a corrupt entry would warn
        for w in range(workers):
            for i in range(count):
                assert fresh.get(f"w{w}-{i}") == {"worker": w, "i": i, "pad": "p" * i}
        for i in range(count):
            assert fresh.get(f"shared-{i}") == {"shared": i, "pad": "s" * 1000 * (1 + 20 * (i % 7 == 0))}
    assert fresh.count() == workers * count + count
    assert fresh.count("shared") == count
    assert temp_files(fresh.path) == []


_NODES = """
def clean(text, words):
    return text.strip().lower(), sorted(words)
"""
_CROSS_PROCESS = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("cross_nodes", {module!r})
module = importlib.util.module_from_spec(spec)
sys.modules["cross_nodes"] = module
spec.loader.exec_module(module)
from hypernodes.cache import DiskCache, code_fingerprint, hash_value, node_signature

cache = DiskCache({root!r})
inputs = {{"text": "  Hello ", "words": {{"b", "a", "c"}}}}
signature = node_signature(code_fingerprint(module.clean), [(k, hash_value(v)) for k, v in inputs.items()])
if sys.argv[1] == "write":
    cache.put(signature, module.clean(**inputs), node_name="clean")
print(signature, repr(cache.get(signature)))
"""


def test_a_second_process_hits_what_the_first_wrote(tmp_path: Path) -> None:
    module = tmp_path / "cross_nodes.py"
    module.write_text(_NODES)
    code = _CROSS_PROCESS.format(module=str(module), root=str(tmp_path / "c"))

    def run(mode: str, seed: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        return subprocess.run(
            [sys.executable, "-c", code, mode], capture_output=True, text=True, env=env, check=True
        ).stdout.strip()

    written = run("write", "1")
    assert written.endswith("('hello', ['a', 'b', 'c'])")
    assert run("read", "2") == written  # same signature, computed independently, and a hit


def write_format_1_entry(path: Path, signature: str, value: object, node_name: str = "n") -> None:
    """Write an entry file as HyperNodes 0.1.0 did (format 1: a 16-byte BLAKE2b checksum)."""
    import struct
    from hashlib import blake2b

    name, sig, payload = node_name.encode(), signature.encode(), pickle.dumps(value)
    fields = (len(name), len(sig), len(payload), 1_700_000_000.0)
    inner = blake2b(name + sig + payload, digest_size=16).digest()
    checksum = blake2b(struct.pack("<HHQd", *fields) + inner, digest_size=16).digest()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<4sHHQd16s", b"HNC\x01", *fields, checksum) + name + sig + payload)


def test_entries_written_by_format_1_are_still_served_and_listed(cache: DiskCache) -> None:
    write_format_1_entry(Path(cache._files.path("old")), "old", {"kept": True}, node_name="legacy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.get("old") == {"kept": True}
    assert [(e.signature, e.node_name) for e in cache.entries("legacy")] == [("old", "legacy")]
    with pytest.warns(RuntimeWarning, match="not signed with a secret_key"):
        assert DiskCache(cache.path, secret_key=b"k").get("old") is MISSING


def test_a_damaged_format_1_entry_is_a_miss(cache: DiskCache) -> None:
    path = Path(cache._files.path("old"))
    write_format_1_entry(path, "old", list(range(10)))
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="checksum does not match"):
        assert cache.get("old") is MISSING
