"""The disk cache's database of small entries: keys, damaged rows, a damaged database, fork."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

from hypernodes.cache import MISSING, _packed
from hypernodes.cache._packed import DATABASE, row_key, signature_of
from hypernodes.cache.disk import DiskCache
from hypernodes.cache.signature import node_signature


def test_all_is_pinned() -> None:
    assert _packed.__all__ == ["DATABASE", "PackedStore", "Row", "row_key", "signature_of"]


@pytest.mark.parametrize(
    "signature",
    [node_signature("c0de", [("x", "1")]), "sig", "ABCDEF0123456789ABCDEF0123456789", "0" * 32, "é" * 32, ""],
)
def test_row_keys_give_the_signature_back(signature: str) -> None:
    key, stored = row_key(signature)
    assert -(1 << 63) <= key < 1 << 63
    assert signature_of(key, stored) == signature


def test_a_node_signature_gets_its_first_sixty_bits_as_id_and_others_a_negative_one() -> None:
    signature = node_signature("c0de", [("x", "1")])
    assert row_key(signature) == (int(signature[:15], 16), signature)
    assert row_key("sig")[0] < 0 and row_key("-1")[0] < 0


def rows(cache: DiskCache) -> list[tuple[object, ...]]:
    with sqlite3.connect(cache.path / DATABASE) as db:
        return db.execute("SELECT id, signature, node_name, seal, payload FROM entries").fetchall()


def test_a_damaged_row_is_one_warning_then_a_miss_and_gets_rewritten(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "c")
    cache.put("sig", list(range(10)), node_name="n")
    ((key, _, _, _, payload),) = rows(cache)
    damaged = bytearray(payload)  # type: ignore[arg-type]
    damaged[-3] ^= 0xFF  # bit rot in the payload
    with sqlite3.connect(cache.path / DATABASE) as db:
        db.execute("UPDATE entries SET payload = ? WHERE id = ?", (bytes(damaged), key))
    with pytest.warns(RuntimeWarning, match=r"entries\.sqlite \(signature 'sig'\) is unusable: its checksum"):
        assert cache.get("sig") is MISSING
    assert rows(cache) == []  # removed, so the next run does not warn again
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.get("sig") is MISSING
        cache.put("sig", list(range(10)), node_name="n")
        assert cache.get("sig") == list(range(10))


def test_a_database_that_is_not_one_is_moved_aside_and_made_afresh(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    (root / DATABASE).write_bytes(b"this is not a database" * 100)
    cache = DiskCache(root)
    with pytest.warns(RuntimeWarning, match="not an SQLite database; moved aside"):
        assert cache.get("sig") is MISSING
    cache.put("sig", 1, node_name="n")
    assert cache.get("sig") == 1 and cache.count() == 1
    assert len(list(root.glob(f"{DATABASE}.corrupt-*"))) == 1


def test_a_directory_in_place_of_the_database_is_removed(tmp_path: Path) -> None:
    root = tmp_path / "c"
    (root / DATABASE / "inside").mkdir(parents=True)
    cache = DiskCache(root)
    with pytest.warns(RuntimeWarning, match="is a directory, not a database"):
        cache.put("sig", 1, node_name="n")
    assert cache.get("sig") == 1 and (root / DATABASE).is_file()


def test_a_database_that_cannot_be_used_leaves_entries_to_files(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    with sqlite3.connect(root / DATABASE) as db:
        db.execute("PRAGMA user_version = 99")  # written by a newer HyperNodes
    cache = DiskCache(root)
    with pytest.warns(RuntimeWarning, match="cannot be used.*stores entries as files from now on"):
        cache.put("sig", 1, node_name="n")
    assert cache.get("sig") == 1
    assert len(list(root.glob("??/*.hnc"))) == 1


def _child_reads_and_writes(cache: DiskCache, queue: multiprocessing.Queue[object]) -> None:
    cache.put("child", "from the child", node_name="n")
    queue.put((cache.get("parent"), cache.get("child")))


@pytest.mark.skipif(sys.platform == "win32" or not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_does_not_reuse_the_parents_connection(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "c")
    cache.put("parent", "from the parent", node_name="n")  # the connection is open now
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[object] = context.Queue()
    child = context.Process(target=_child_reads_and_writes, args=(cache, queue))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork in a multi-threaded process
        child.start()
    assert queue.get(timeout=60) == ("from the parent", "from the child")  # a guard against a hang
    child.join()
    assert child.exitcode == 0
    assert cache.get("child") == "from the child"


# -- lookups after a hit share a read transaction ---------------------------------------------------


def _signature(n: int) -> str:
    return node_signature("code", [("x", str(n))])


def _snapshot_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "hypernodes-cache-snapshot"]


def test_a_row_another_cache_writes_is_found_right_after_a_hit(tmp_path: Path) -> None:
    reader, writer = DiskCache(tmp_path / "c"), DiskCache(tmp_path / "c")
    reader.put(_signature(1), "one", node_name="n")
    assert reader.get(_signature(1)) == "one"  # a hit: the lookups after it share a read transaction
    assert reader.get(_signature(1)) == "one"  # in the read transaction
    writer.put(_signature(2), "two", node_name="n")  # another connection, as another process would be
    assert reader.get(_signature(2)) == "two"
    assert reader.get(_signature(1)) == "one"
    reader.put(_signature(3), "three", node_name="n")  # its own write, after hits
    assert reader.get(_signature(3)) == "three"
    reader.close()
    writer.close()


def test_the_shared_read_transaction_ends_and_lets_the_log_be_checkpointed(tmp_path: Path) -> None:
    reader, writer = DiskCache(tmp_path / "c"), DiskCache(tmp_path / "c")
    reader.put(_signature(0), 0, node_name="n")
    assert reader.get(_signature(0)) == 0
    assert reader.get(_signature(0)) == 0  # opens the read transaction
    for n in range(1, 200):
        writer.put(_signature(n), n, node_name="n")
    checkpointer = sqlite3.connect(tmp_path / "c" / DATABASE, isolation_level=None)
    deadline = time.monotonic() + 30  # a guard against a reader that never lets go
    while True:
        busy, log, done = checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if busy == 0 and log == done:  # every frame of the log copied back: no old snapshot in the way
            break
        assert time.monotonic() < deadline, f"the log stays pinned: {done} of {log} frames checkpointed"
        time.sleep(0.01)
    checkpointer.close()
    assert reader.get(_signature(150)) == 150
    reader.close()
    writer.close()


def test_the_read_transactions_thread_ends_when_the_cache_is_idle_or_closed(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "c")
    cache.put(_signature(1), 1, node_name="n")
    cache.get(_signature(1))
    cache.get(_signature(1))
    deadline = time.monotonic() + 30
    while _snapshot_threads():
        assert time.monotonic() < deadline, "the read transaction's thread did not end"
        time.sleep(0.01)
    cache.get(_signature(1))
    cache.get(_signature(1))
    cache.close()
    assert not _snapshot_threads()
    assert cache.get(_signature(1)) == 1  # a closed cache opens again on use
    cache.close()


def test_what_another_cache_of_this_process_deletes_is_a_miss_at_once(tmp_path: Path) -> None:
    reader, other = DiskCache(tmp_path / "c"), DiskCache(tmp_path / "c")
    reader.put(_signature(1), "one", node_name="n")
    assert reader.get(_signature(1)) == "one"
    assert reader.get(_signature(1)) == "one"  # in the shared read transaction
    assert other.clear() == 1
    assert reader.get(_signature(1)) is MISSING
    reader.close()
    other.close()
