"""DiskCache: atomic entries shared by threads and processes, corruption detected, size bounded."""

from __future__ import annotations

import importlib
import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import warnings
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


@pytest.fixture(name="cache")
def cache_fixture(tmp_path: Path) -> DiskCache:
    return DiskCache(tmp_path / "cache")


@pytest.mark.parametrize("value", [None, 0, "", "text", [1, (2, "3")], {"a": {1, 2}}, b"\x00" * 100_000])
def test_put_then_get_roundtrips(cache: DiskCache, value: object) -> None:
    cache.put("sig", value, node_name="n")
    assert cache.get("sig") == value


def test_a_miss_is_missing_and_none_is_cached(cache: DiskCache) -> None:
    assert cache.get("absent") is MISSING
    cache.put("none", None, node_name="n")
    assert cache.get("none") is None
    assert "none" in cache and "absent" not in cache


def test_entries_survive_into_a_new_instance(tmp_path: Path) -> None:
    DiskCache(tmp_path / "c").put("sig", [1, 2], node_name="n")
    assert DiskCache(tmp_path / "c").get("sig") == [1, 2]


def test_the_directory_is_tagged_and_holds_no_temporary_files(cache: DiskCache) -> None:
    cache.put("sig", 1, node_name="n")
    assert (cache.path / "CACHEDIR.TAG").read_bytes().startswith(b"Signature: 8a477f597d28d172789f06886806bc55")
    assert len(entry_files(cache.path)) == 1
    assert temp_files(cache.path) == []


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


def test_refresh_misses_on_lookup_but_still_stores(tmp_path: Path) -> None:
    DiskCache(tmp_path / "c").put("sig", "old", node_name="n")
    refreshing = DiskCache(tmp_path / "c", refresh=True)
    assert refreshing.get("sig") is MISSING
    refreshing.put("sig", "new", node_name="n")
    assert DiskCache(tmp_path / "c").get("sig") == "new"


def test_it_pickles_by_path_and_options(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "c", max_size_bytes=10_000, refresh=True)
    copy = pickle.loads(pickle.dumps(cache))
    assert (copy.path, copy.max_size_bytes, copy.refresh) == (cache.path, 10_000, True)
    copy.put("sig", 1, node_name="n")
    assert DiskCache(tmp_path / "c").get("sig") == 1


def test_an_unpicklable_value_raises_and_leaves_nothing_behind(cache: DiskCache) -> None:
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        cache.put("sig", [1, threading.Lock()], node_name="n")
    assert cache.get("sig") is MISSING
    assert temp_files(cache.path) == [] and entry_files(cache.path) == []


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidArgumentError, match="directory"):
        DiskCache(tmp_path / "file")
    with pytest.raises(InvalidArgumentError, match="max_size_bytes"):
        DiskCache(tmp_path / "c", max_size_bytes=0)
    with pytest.raises(InvalidArgumentError, match="refresh"):
        DiskCache(tmp_path / "c", refresh=1)  # type: ignore[arg-type]


# -- corruption -------------------------------------------------------------------------------
def corrupt_by_truncating(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def corrupt_by_flipping_a_payload_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))


def corrupt_by_emptying(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("corrupt", [corrupt_by_truncating, corrupt_by_flipping_a_payload_byte, corrupt_by_emptying])
def test_a_corrupt_entry_is_one_warning_then_a_miss_and_gets_rewritten(cache: DiskCache, corrupt: Any) -> None:
    cache.put("sig", list(range(100)), node_name="n")
    (path,) = entry_files(cache.path)
    corrupt(path)
    with pytest.warns(RuntimeWarning, match="unusable") as record:
        assert cache.get("sig") is MISSING
    assert len(record) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.get("sig") is MISSING  # no second warning
    cache.put("sig", list(range(100)), node_name="n")
    assert cache.get("sig") == list(range(100))


def test_an_entry_under_another_signature_is_not_served(cache: DiskCache) -> None:
    cache.put("right", "value", node_name="n")
    cache.put("wrong", "other", node_name="n")
    right, wrong = (Path(cache._entry_path(s)) for s in ("right", "wrong"))
    os.replace(wrong, right)  # a file in the wrong place, as a careless copy would leave
    with pytest.warns(RuntimeWarning, match="another signature"):
        assert cache.get("right") is MISSING


def test_something_else_in_place_of_an_entry_is_a_miss(cache: DiskCache) -> None:
    path = Path(cache._entry_path("sig"))
    path.mkdir(parents=True)
    assert cache.get("sig") is MISSING


def test_an_entry_whose_class_is_gone_is_a_miss_and_is_kept(tmp_path: Path) -> None:
    (tmp_path / "gone_module.py").write_text("class Thing:\n    pass\n")
    writer = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from gone_module import Thing
        from hypernodes.cache import DiskCache
        thing = Thing()
        thing.label = "x"
        DiskCache({str(tmp_path / "c")!r}).put("sig", thing, node_name="n")
        """
    )
    subprocess.run([sys.executable, "-c", writer], check=True)
    cache = DiskCache(tmp_path / "c")
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

DiskCache(sys.argv[1]).put(sys.argv[2], [b"x" * (8 << 20), Stall()], node_name="big")
"""


def write_and_get_killed(root: Path, signature: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(root), signature], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"writing\n"
        (temp,) = temp_files(root)
        assert temp.stat().st_size > 8 << 20  # the half-written entry really is on disk
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
def test_the_size_bound_evicts_the_oldest_entries(tmp_path: Path) -> None:
    root = tmp_path / "c"
    unbounded = DiskCache(root)
    for i in range(10):
        unbounded.put(f"old{i}", b"x" * 1000, node_name="n")
        os.utime(unbounded._entry_path(f"old{i}"), (1_000_000 + i, 1_000_000 + i))  # old0 is the oldest
    entry_size = os.path.getsize(unbounded._entry_path("old0"))
    bound = 6 * entry_size
    bounded = DiskCache(root, max_size_bytes=bound)
    bounded.put("new", b"x" * 1000, node_name="n")
    kept = [i for i in range(10) if bounded.get(f"old{i}") is not MISSING]
    assert kept == list(range(10 - len(kept), 10))  # the newest survive
    assert 0 < len(kept) < 10
    assert bounded.get("new") == b"x" * 1000
    assert sum(p.stat().st_size for p in entry_files(root)) <= bound


# -- concurrency ------------------------------------------------------------------------------
def test_concurrent_threads_share_one_cache(cache: DiskCache) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(40):
                cache.put(f"{worker}-{i}", (worker, i), node_name=f"node{worker}")
                cache.put(f"shared-{i}", ("shared", i), node_name="shared")
                assert cache.get(f"{worker}-{i}") == (worker, i)
                assert cache.get(f"shared-{i}") == ("shared", i)
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
            cache.put(f"shared-{i}", {"shared": i, "pad": "s" * 1000}, node_name="shared")
            if cache.get(f"shared-{i}") != {"shared": i, "pad": "s" * 1000}:
                problems.append(f"shared-{i}")
        problems += [str(w.message) for w in caught]
    return problems
"""


def test_processes_writing_one_cache_concurrently_lose_and_corrupt_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spawned workers import the worker function by module name: put it on sys.path, which
    # spawn passes on (test modules themselves are not importable under --import-mode=importlib).
    (tmp_path / "disk_cache_workers.py").write_text(_WORKER)
    monkeypatch.syspath_prepend(str(tmp_path))
    workers_module = importlib.import_module("disk_cache_workers")
    cache = DiskCache(tmp_path / "c")  # sent to each worker: it pickles by path
    workers, count = 4, 60
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        jobs = [(cache, w, count) for w in range(workers)]
        # A generous guard against a hang (a worker that cannot start), not a timing assertion.
        results = pool.starmap_async(workers_module.write_from_a_process, jobs).get(timeout=300)
    assert results == [[]] * workers
    fresh = DiskCache(tmp_path / "c")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a corrupt entry would warn
        for w in range(workers):
            for i in range(count):
                assert fresh.get(f"w{w}-{i}") == {"worker": w, "i": i, "pad": "p" * i}
        for i in range(count):
            assert fresh.get(f"shared-{i}") == {"shared": i, "pad": "s" * 1000}
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
