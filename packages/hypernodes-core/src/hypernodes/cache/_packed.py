"""The disk cache's small entries, packed as rows of one SQLite database (machinery, *not* a public API).

``<cache dir>/entries.sqlite`` holds one table::

    entries(id INTEGER PRIMARY KEY, signature TEXT, node_name TEXT, created INTEGER, seal, payload BLOB)

The row ``id`` is the first 60 bits of a node signature (32 hex digits), so a lookup is one
search of the table's own B-tree and no second index costs space; any other signature string
gets 63 bits of its BLAKE2b digest (a negative id). Every read compares the stored
``signature``, so two signatures that share an id are a miss, never a wrong hit. ``created``
is in whole seconds and ``seal`` a CRC-32 (an integer) or an HMAC (32 bytes): a small entry
costs about 40 bytes besides its signature, node name and payload. (Splitting the signature
into the id and 8 more bytes saved 24 bytes a row but cost 0.4 µs a lookup, a tenth of it.)

The database is in WAL mode with ``synchronous=NORMAL``: readers never wait for writers, a
commit is one append to the log, and a process killed mid-write leaves a transaction that
SQLite rolls back (never a partial row). A power loss may lose the last commits, which for a
cache is a few misses.

One connection per store, guarded by a lock (SQLite serialises writers anyway), made on
first use and never carried across ``fork``. Every read checks the row's seal (CRC-32, or
HMAC-SHA256 with a secret key) before unpickling. ``auto_vacuum=INCREMENTAL`` lets
:meth:`PackedStore.delete` give freed pages back to the file system.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from hashlib import blake2b
from typing import Final
from zlib import crc32 as _crc32

from hypernodes.cache._entry import CorruptEntryError, Reporter, Sealer

__all__ = ["DATABASE", "PackedStore", "Row", "row_key", "signature_of"]

logger = logging.getLogger(__name__)

DATABASE: Final = "entries.sqlite"
_SCHEMA_VERSION = 1
_SNAPSHOT_SECONDS = 0.05  # the longest a read transaction shared by lookups stays open
_BUSY_TIMEOUT_SECONDS = 60.0  # how long a writer waits for another process's transaction
_ROW_OVERHEAD = 40  # bytes a row costs besides signature, node name and payload (id, created, seal, cell)
_SELECT = "SELECT seal, payload FROM entries WHERE id = ? AND signature = ?"
_SELECT_SIGNED = "SELECT seal, payload, node_name FROM entries WHERE id = ? AND signature = ?"  # the HMAC covers it
_PAGE_CACHE_KIB = 64 * 1024  # SQLite's page cache per connection, at most (the default, 2 MiB, is ~20k rows)
_UPSERT = "INSERT OR REPLACE INTO entries (id, signature, node_name, created, seal, payload) VALUES (?, ?, ?, ?, ?, ?)"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    signature NOT NULL,
    node_name TEXT NOT NULL,
    created INTEGER NOT NULL,
    seal BLOB NOT NULL,
    payload BLOB NOT NULL
)
"""

Row = tuple[int, str, str, float, int]
"""``(id, signature, node name, created, size in bytes)`` of a stored row."""

_STORES: weakref.WeakSet[PackedStore] = weakref.WeakSet()  # to drop connections in a forked child
# Rows deleted by any store of this process (clear, eviction, a damaged row), counted: a store
# whose lookups share a read transaction ends it when this changes, so that what another cache
# object of this process deleted is a miss at once. (Another process's deletions are seen
# within _SNAPSHOT_SECONDS; a row they delete is still the right value for its signature.)
_deletions = [0]  # the last deletion's number
_deletion_numbers = itertools.count(1)  # next() is atomic under the GIL: every deletion gets its own


def _deleted() -> None:
    _deletions[0] = next(_deletion_numbers)


_ABANDONED: list[sqlite3.Connection] = []  # a forked child's inherited connections: never used or closed


def row_key(signature: str) -> tuple[int, str]:
    """Return the row id of `signature` and its ``signature`` column (see the module docstring)."""
    try:
        value = int(signature[:15], 16)  # the first 60 bits of a node signature: cheap, and never negative
    except ValueError:  # not a hex signature (tests, hand-made keys)
        value = -1
    if value >= 0:  # int() also takes a sign: "-1" is not hex for us
        return value, signature
    return -1 - int.from_bytes(blake2b(signature.encode(), digest_size=8).digest(), "big") // 2, signature


def signature_of(key: int, stored: str) -> str:
    """Return the signature of a row from its id and ``signature`` column."""
    return stored


class PackedStore:
    """Rows of ``entries.sqlite`` in the cache directory.

    A database file that is not a database (overwritten, truncated to garbage) or a
    directory in its place is moved aside or removed, reported once, and made afresh.

    Args:
        root: The cache directory (it exists).
        sealer: How rows are sealed and checked.
        reporter: Where a repaired database is reported.
        file_mode: Permissions of the database file (its log and shared-memory files follow it).
    """

    def __init__(self, root: str, sealer: Sealer, reporter: Reporter, file_mode: int) -> None:
        self.path = os.path.join(root, DATABASE)
        self.sealer = sealer
        self._unkeyed = not sealer.is_keyed
        self.reporter = reporter
        self.file_mode = file_mode
        self._lock = threading.Lock()  # guards _connection, _cursor and every use of them
        self._connection: sqlite3.Connection | None = None
        self._cursor: sqlite3.Cursor | None = None  # for lookups: reused, one allocation less per get
        self._snapshot_since = 0.0  # when the open read transaction began (0: none is open)
        self._last_hit = False  # whether the last lookup found its row
        self._deletions = 0  # the process's deletions when the read transaction began (see _deleted)
        self._reaper: threading.Thread | None = None  # ends the read transaction in time
        _STORES.add(self)

    def _connect(self) -> sqlite3.Connection:
        """Return the connection, opening (and if needed creating) the database first."""
        connection = self._connection
        if connection is None:
            try:
                connection = self._open()
            except sqlite3.DatabaseError as exc:
                if not self._repair(exc):
                    raise
                connection = self._open()
            self._connection = connection
            self._cursor = connection.cursor()
        return connection

    def _open(self) -> sqlite3.Connection:
        if not os.path.exists(self.path):  # SQLite would follow the umask: make it ours first
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, self.file_mode))
        connection = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
        try:
            _prepare(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    def _repair(self, exc: sqlite3.DatabaseError) -> bool:
        """Clear what stands where the database should be; return whether there was something to clear."""
        if os.path.isdir(self.path):
            self.reporter.report(self.path, "it is a directory, not a database; removing it", stacklevel=6)
            shutil.rmtree(self.path, ignore_errors=True)
            return True
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
            aside = f"{self.path}.corrupt-{os.getpid()}-{time.time_ns()}"
            self.reporter.report(self.path, f"it is not an SQLite database; moved aside to {aside}", stacklevel=6)
            with contextlib.suppress(OSError):
                os.replace(self.path, aside)
                for suffix in ("-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.replace(self.path + suffix, aside + suffix)
            return True
        return False

    def get(self, signature: str) -> bytes | None:
        """Return the payload stored under `signature`, or None.

        Raises:
            CorruptEntryError: The row's seal does not match (the row is deleted first).
            sqlite3.Error: The database cannot be read.
        """
        key, stored = row_key(signature)
        with self._lock:
            cursor = self._cursor
            if cursor is None:
                self._connect()
                cursor = self._cursor
                assert cursor is not None  # made with the connection
            query = _SELECT if self._unkeyed else _SELECT_SIGNED
            if self._snapshot_since and self._deletions != _deletions[0]:  # rows were deleted here since
                self._end_snapshot()
            if not self._snapshot_since and self._last_hit:  # lookups that hit: likely more (a warm rerun)
                self._open_snapshot(cursor)
            cursor.execute(query, (key, stored))
            row = cursor.fetchone()
            if row is None and self._snapshot_since:  # perhaps written since the snapshot: look again
                self._end_snapshot()
                cursor.execute(query, (key, stored))
                row = cursor.fetchone()
            self._last_hit = row is not None
        if row is None:
            return None
        seal, payload = row[0], row[1]
        # The unkeyed check inline: it is most of what a warm rerun does besides SQLite itself.
        if self._unkeyed and type(seal) is int and _crc32(payload, _crc32(signature.encode())) == seal:
            payload_bytes: bytes = payload
            return payload_bytes
        node_name = row[2] if len(row) > 2 else ""
        try:
            self.sealer.check_row(seal, signature, node_name, payload)
        except CorruptEntryError:
            with self._lock:  # only this row: a writer may have replaced it meanwhile
                self._outside_snapshot().execute("DELETE FROM entries WHERE id = ? AND seal = ?", (key, seal))
                _deleted()
            raise
        payload_bytes = payload
        return payload_bytes

    # -- lookups share a read transaction --------------------------------------------------------
    # After a hit, lookups share a read transaction: one in a transaction already open skips
    # taking SQLite's shared lock and reading the log's index again, 0.9 of a 3.5 µs lookup
    # (misses, as in a cold run where each is followed by a write, gain nothing from it). The
    # transaction sees the database as it was when it began, so a miss in it is looked up again
    # outside it (a row committed before a lookup is always found, whoever wrote it), and every
    # write ends it first. The log cannot be checkpointed past it: the reaper thread ends it
    # after _SNAPSHOT_SECONDS (and itself when no transaction is open).

    def _open_snapshot(self, cursor: sqlite3.Cursor) -> None:
        """Begin the lookups' read transaction, and make sure it ends in time (the lock is held)."""
        cursor.execute("BEGIN")
        self._snapshot_since = time.monotonic()
        self._deletions = _deletions[0]
        if self._reaper is None:
            self._reaper = threading.Thread(target=self._reap, name="hypernodes-cache-snapshot", daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        while True:
            with self._lock:
                since = self._snapshot_since
                left = since + _SNAPSHOT_SECONDS - time.monotonic()
                if since and left <= 0:
                    self._end_snapshot()
                if not self._snapshot_since:
                    self._reaper = None
                    return
            time.sleep(max(left, 0.001))

    def _end_snapshot(self) -> None:
        """End the lookups' read transaction, if one is open (the lock is held)."""
        if self._snapshot_since:
            self._snapshot_since = 0.0
            connection = self._connection
            if connection is not None and connection.in_transaction:
                try:
                    connection.execute("COMMIT")  # a read transaction: nothing to write
                except sqlite3.Error:  # a database gone bad under it: the next use reports that
                    with contextlib.suppress(sqlite3.Error):
                        connection.execute("ROLLBACK")

    def _outside_snapshot(self) -> sqlite3.Connection:
        """Return the connection with no read transaction open, for a write or a listing (the lock is held)."""
        connection = self._connect()
        self._end_snapshot()
        return connection

    def put(self, signature: str, node_name: str, payload: bytes, created: float) -> int:
        """Store a row (replacing any under the same id); return its approximate size in bytes."""
        seal = self.sealer.row_seal(signature.encode(), node_name.encode(), payload)
        key, stored = row_key(signature)
        with self._lock:
            self._outside_snapshot().execute(_UPSERT, (key, stored, node_name, int(created), seal, payload))
        return _ROW_OVERHEAD + len(stored) + len(node_name) + len(payload)

    def discard(self, signature: str) -> None:
        """Delete `signature`'s row, if any (its entry now lives in a file)."""
        with self._lock:
            self._outside_snapshot().execute("DELETE FROM entries WHERE id = ? AND signature = ?", row_key(signature))
            _deleted()

    def rows(self, node_name: str | None = None) -> Iterator[Row]:
        """Yield every row, or only `node_name`'s, as ``(id, signature, node, created, size)``."""
        query = "SELECT id, signature, node_name, created, length(payload) FROM entries"
        with self._lock:
            connection = self._outside_snapshot()
            found = (
                connection.execute(query).fetchall()
                if node_name is None
                else connection.execute(query + " WHERE node_name = ?", (node_name,)).fetchall()
            )
        for key, stored, name, created, size in found:
            yield key, signature_of(key, stored), name, float(created), _ROW_OVERHEAD + len(stored) + len(name) + size

    def count(self, node_name: str | None = None) -> int:
        """Return the number of rows, or of `node_name`'s rows."""
        with self._lock:
            connection = self._outside_snapshot()
            if node_name is None:
                (n,) = connection.execute("SELECT count(*) FROM entries").fetchone()
            else:
                (n,) = connection.execute("SELECT count(*) FROM entries WHERE node_name = ?", (node_name,)).fetchone()
        counted: int = n
        return counted

    def delete(self, ids: Iterable[int]) -> int:
        """Delete rows by id and give freed pages back; return how many were deleted."""
        keys = [(key,) for key in ids]
        if not keys:
            return 0
        with self._lock:
            connection = self._outside_snapshot()
            before = connection.total_changes
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany("DELETE FROM entries WHERE id = ?", keys)
                connection.execute("COMMIT")
                _deleted()
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            deleted = connection.total_changes - before
            connection.execute("PRAGMA incremental_vacuum")
        return deleted

    def close(self) -> None:
        """Close the connection (a later use opens a new one). Safe to call several times."""
        with self._lock:
            self._end_snapshot()
            connection, self._connection, self._cursor = self._connection, None, None
            reaper = self._reaper
        if connection is not None:
            connection.close()
        if reaper is not None and reaper is not threading.current_thread():
            reaper.join()  # it finds no transaction open and ends

    def forget_after_fork(self) -> None:
        """Drop the connection inherited by a forked child, without using or closing it."""
        if self._connection is not None:
            _ABANDONED.append(self._connection)
            self._connection = self._cursor = None
        self._snapshot_since, self._reaper = 0.0, None  # the parent's reaper thread did not come along
        self._lock = threading.Lock()  # it may have been held by a parent thread at the fork


def _prepare(connection: sqlite3.Connection) -> None:
    """Set up a new connection; create the schema (once, whichever process gets there first)."""
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute(f"PRAGMA cache_size = -{_PAGE_CACHE_KIB}")
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    if version == _SCHEMA_VERSION:
        return
    if version not in (0, _SCHEMA_VERSION):
        raise sqlite3.DatabaseError(
            f"{DATABASE} has schema version {version}, this HyperNodes writes {_SCHEMA_VERSION}"
        )
    connection.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only takes effect before the first table
    connection.execute("PRAGMA journal_mode = WAL")  # persistent: recorded in the file
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(_SCHEMA)
        connection.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _forget_connections_after_fork() -> None:
    for store in list(_STORES):
        store.forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_connections_after_fork)
