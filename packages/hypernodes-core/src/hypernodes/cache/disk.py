"""``DiskCache``: node outputs on disk, small ones packed in SQLite, large ones as files.

Layout under the cache directory::

    CACHEDIR.TAG                 marks the directory as a cache (backup tools skip it)
    entries.sqlite (-wal, -shm)  entries up to ``max_packed_bytes``: rows of one table
    3f/9a0c...e1.hnc             a larger entry: one file (see hypernodes.cache._files)

A store pickles the output into memory until it passes ``max_packed_bytes``; an entry that
stays under it becomes a row (one SQLite transaction, atomic), and one that grows past it
is streamed on into a temporary file that is renamed into place (atomic too). Either way the
entry is sealed (a checksum, or an HMAC with ``secret_key``) and checked before it is
unpickled; a damaged or unsigned entry is a miss, reported once, removed and rewritten.
Lookups try the database first, then the file.
"""

from __future__ import annotations

import logging
import os
import pickle
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from typing_extensions import override

from hypernodes.cache._entry import CorruptEntryError, Reporter, Sealer, check_secret_key
from hypernodes.cache._files import FileStore, FileWriter, read_entry_header, remove
from hypernodes.cache._packed import DATABASE, PackedStore
from hypernodes.cache.base import MISSING, Cache, CacheEntry
from hypernodes.errors import InvalidArgumentError

__all__ = ["DiskCache"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_PACKED_BYTES = 16 * 1024  # larger entries are files: SQLite rows past this are slower than files
_RESCAN_EVERY = 1000  # stores between two measurements of the size (other processes write too)
_LOW_WATER = 0.9  # eviction goes down to this share of max_size_bytes, so it runs rarely
_CACHEDIR_TAG = (
    b"Signature: 8a477f597d28d172789f06886806bc55\n"
    b"# This file is a cache directory tag created by HyperNodes.\n"
    b"# For information about cache directory tags see https://bford.info/cachedir/\n"
)


class DiskCache(Cache):
    """Store node outputs as pickles under `path`: small ones in SQLite, large ones as files.

    Safe under concurrent threads and processes: a small entry is one SQLite transaction
    (WAL mode: readers never wait), a large one a temporary file renamed into place, so a
    reader never sees a half-written entry and a killed writer never leaves one. A damaged
    entry is a miss (one ``RuntimeWarning``), removed, and rewritten by the next store.
    ``None`` outputs are cached. Files and directories are created private to you (``0600``
    and ``0700``) unless `file_mode` says otherwise.

    Warning:
        Entries are pickles, and loading a pickle can run arbitrary code: only use cache
        directories that you (or code you trust) wrote, or give a `secret_key` so that only
        entries signed with it are loaded.

    Args:
        path: The cache directory; created if missing. Several caches (threads, processes)
            on one machine may use it at once. For a directory shared by several machines
            (NFS), pass ``max_packed_bytes=0``: SQLite's locks are not reliable there.
        max_size_bytes: Keep the entries' total size under this bound by deleting the oldest
            ones; None means no bound. Each process counts its own writes and measures the
            cache again every thousand stores, so the bound holds within a margin.
        refresh: Lookups always miss and outputs are stored again (force recomputation).
        secret_key: Sign every entry with HMAC-SHA256 under this key (bytes or str) and load
            only entries whose signature matches: an entry written without the key, or
            tampered with, is a miss (with a warning) and is recomputed.
        max_packed_bytes: Entries whose pickle is at most this many bytes are packed into the
            database; larger ones are files. 0 makes every entry a file.
        file_mode: Permission bits of new files (directories get the same plus ``x`` where
            ``r`` is set); the umask still applies. ``0o660`` shares a cache with your group.

    A ``DiskCache`` pickles as its path and options (the key included): a worker process that
    unpickles it gets a working cache on the same directory.
    """

    option_names: ClassVar[tuple[str, ...]] = (
        "max_size_bytes",
        "refresh",
        "secret_key",
        "max_packed_bytes",
        "file_mode",
    )
    """The keyword arguments a ``CacheSpec(kind="disk", options=...)`` may pass."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_size_bytes: int | None = None,
        refresh: bool = False,
        secret_key: bytes | str | None = None,
        max_packed_bytes: int = DEFAULT_MAX_PACKED_BYTES,
        file_mode: int = 0o600,
    ) -> None:
        options = {"max_size_bytes": max_size_bytes, "refresh": refresh, "secret_key": secret_key}
        self._check_options({**options, "max_packed_bytes": max_packed_bytes, "file_mode": file_mode})
        if not isinstance(path, str | os.PathLike):
            raise InvalidArgumentError(
                f"DiskCache(path=...) needs a directory path (str or os.PathLike); got {type(path).__name__}",
                input_name="path",
            )
        super().__init__(refresh=refresh)
        self.path = Path(path).expanduser().absolute()
        self.max_size_bytes = max_size_bytes
        self.max_packed_bytes = max_packed_bytes
        self.file_mode = file_mode
        self._secret_key = check_secret_key(secret_key, "DiskCache")
        self._root = str(self.path)
        self._reporter = Reporter()
        sealer = Sealer(self._secret_key)
        self._files = FileStore(self._root, sealer, self._reporter, file_mode)
        self._no_file = ""  # the signature of the last lookup that found no file (see _put_small)
        self._packed: PackedStore | None = (
            PackedStore(self._root, sealer, self._reporter, file_mode) if max_packed_bytes else None
        )
        self._lock = threading.Lock()  # guards the size accounting below and _packed's replacement
        self._approx_size: int | None = None  # bytes: last measured + written since
        self._stores_since_scan = 0
        try:
            self.path.mkdir(mode=self._files.dir_mode, parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise InvalidArgumentError(
                f"DiskCache(path={self._root!r}) must be a directory, but a file is in the way; pass a directory path",
                input_name="path",
            ) from exc
        tag = os.path.join(self._root, "CACHEDIR.TAG")
        if not os.path.exists(tag):
            self._files.write_bytes(tag, _CACHEDIR_TAG)

    @classmethod
    def _check_options(cls, options: Mapping[str, object]) -> None:
        """Validate option values (also used by ``CacheSpec`` before any cache exists)."""
        for name in ("max_size_bytes", "max_packed_bytes", "file_mode"):
            value = options.get(name)
            if value is None and name == "max_size_bytes":
                continue
            if name not in options:
                continue
            low = 1 if name == "max_size_bytes" else 0
            if (
                not isinstance(value, int)
                or isinstance(value, bool)
                or value < low
                or (name == "file_mode" and not 0o600 <= value <= 0o777)
            ):
                expected = {
                    "max_size_bytes": "a positive int (bytes) or None",
                    "max_packed_bytes": "an int >= 0 (bytes; 0 stores every entry as a file)",
                    "file_mode": "permission bits between 0o600 and 0o777 (you must be able to read and write)",
                }[name]
                raise InvalidArgumentError(f"DiskCache({name}=...) needs {expected}; got {value!r}", input_name=name)
        if not isinstance(options.get("refresh", False), bool):
            raise InvalidArgumentError(
                f"DiskCache(refresh=...) needs True or False; got {options['refresh']!r}",
                input_name="refresh",
            )
        check_secret_key(options.get("secret_key"), "DiskCache")

    # -- lookups ---------------------------------------------------------------------------
    @override
    def get(self, signature: str) -> Any:
        if self.refresh:
            return MISSING
        packed = self._packed
        if packed is not None:
            try:
                payload = packed.get(signature)
            except CorruptEntryError as exc:
                self._reporter.report(f"{packed.path} (signature {signature!r})", str(exc), stacklevel=3)
                return MISSING
            except sqlite3.Error as exc:
                self._packed_failed(packed, exc)
                payload = None
            if payload is not None:
                try:
                    return pickle.loads(payload)
                except Exception as exc:  # intact, but its classes moved or were renamed
                    where = f"{packed.path} (signature {signature!r})"
                    self._reporter.report(where, f"it cannot be unpickled ({type(exc).__name__}: {exc})", stacklevel=3)
                    return MISSING
        value = self._files.get(signature)
        if value is MISSING:
            self._no_file = signature  # the store that usually follows a miss need not remove a file
        return value

    # -- stores ----------------------------------------------------------------------------
    @override
    def put(self, signature: str, value: Any, *, node_name: str) -> None:
        created = time.time()
        packed = self._packed
        if packed is not None and type(value) in _SMALL_SCALARS:  # pickled at once, no writer needed
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            if len(data) <= self.max_packed_bytes:
                size = self._put_small(packed, signature, node_name, data, created)
                if self.max_size_bytes is not None:
                    self._account(size)
                return
        writer = _SpillingWriter(self.max_packed_bytes if packed is not None else 0, self._files, signature, node_name)
        try:
            pickle.dump(value, writer, protocol=pickle.HIGHEST_PROTOCOL)
            spilled = writer.spilled
            size = spilled.commit(created) if spilled is not None else 0
        except BaseException:
            writer.abort()  # an unpicklable value or a full disk must not leave a temporary file
            raise
        if spilled is None:
            size = self._put_small(packed, signature, node_name, bytes(writer.buffer), created)
        elif packed is not None:
            try:
                packed.discard(signature)  # a smaller output stored earlier under this signature
            except sqlite3.Error as exc:
                self._packed_failed(packed, exc)
        if self.max_size_bytes is not None:
            self._account(size)

    def _put_small(
        self, packed: PackedStore | None, signature: str, node_name: str, data: bytes, created: float
    ) -> int:
        if packed is not None:
            try:
                size = packed.put(signature, node_name, data, created)
            except sqlite3.Error as exc:
                self._packed_failed(packed, exc)
            else:
                if signature != self._no_file:  # a larger output stored earlier under this signature
                    self._files.discard(signature)  # (a file another process wrote since is a duplicate)
                return size
        file_writer = self._files.start(signature, node_name)
        try:
            file_writer.writer.write(data)
            return file_writer.commit(created)
        except BaseException:
            file_writer.abort()
            raise

    def _packed_failed(self, packed: PackedStore, exc: sqlite3.Error) -> None:
        """Stop using a database that fails; entries go to files until the cache is made again."""
        with self._lock:
            if self._packed is not packed:
                return
            self._packed = None
        warnings.warn(
            f"cache database {packed.path} cannot be used ({type(exc).__name__}: {exc}); this cache stores "
            f"entries as files from now on. Delete {DATABASE} (and its -wal and -shm files) to start it afresh",
            RuntimeWarning,
            stacklevel=4,
        )
        packed.close()

    def _account(self, written: int) -> None:
        assert self.max_size_bytes is not None
        with self._lock:
            if self._approx_size is None:
                self._approx_size = sum(size for _, size, _ in self._all_entries())
            else:
                self._approx_size += written
            self._stores_since_scan += 1
            if self._approx_size > self.max_size_bytes or self._stores_since_scan >= _RESCAN_EVERY:
                self._approx_size = self._evict(self.max_size_bytes)
                self._stores_since_scan = 0

    def _evict(self, bound: int) -> int:
        """Delete the oldest entries until the total is under the low-water mark; return it."""
        entries = sorted(self._all_entries(), key=lambda item: item[2])  # oldest first
        total = sum(size for _, size, _ in entries)
        if total <= bound:
            return total
        target = int(bound * _LOW_WATER)
        rows: list[int] = []
        for where, size, _ in entries:
            if total <= target:
                break
            if isinstance(where, int):
                rows.append(where)
                total -= size
            elif remove(where):
                total -= size
        if rows and self._packed is not None:
            self._packed.delete(rows)
        logger.debug("cache %s: evicted oldest entries down to %d bytes", self._root, total)
        return total

    # -- listing and clearing --------------------------------------------------------------
    def _all_entries(self) -> Iterator[tuple[int | str, int, float]]:
        """Yield ``(row id or file path, size, created)`` of every entry."""
        if self._packed is not None:
            for key, _, _, created, size in self._packed.rows():
                yield key, size, created
        yield from self._files.scan()

    @override
    def entries(self, node_name: str | None = None) -> Iterator[CacheEntry]:
        seen: set[str] = set()
        if self._packed is not None:
            for _, signature, name, created, size in self._packed.rows(node_name):
                seen.add(signature)
                yield CacheEntry(signature=signature, node_name=name, size=size, created=created)
        for path, size, _ in self._files.scan():
            header = read_entry_header(path)
            if header is not None and (node_name is None or header[0] == node_name) and header[1] not in seen:
                yield CacheEntry(signature=header[1], node_name=header[0], size=size, created=header[2])

    @override
    def count(self, node_name: str | None = None) -> int:
        if node_name is not None:
            return super().count(node_name)
        rows = self._packed.count() if self._packed is not None else 0
        return rows + sum(1 for _ in self._files.scan())

    @override
    def __len__(self) -> int:
        return self.count()

    @override
    def clear(self, node_name: str | None = None) -> int:
        removed = 0
        if self._packed is not None:
            removed += self._packed.delete([key for key, *_ in self._packed.rows(node_name)])
        for path, _, _ in list(self._files.scan()):
            if node_name is not None:
                header = read_entry_header(path)
                if header is None or header[0] != node_name:
                    continue
            removed += remove(path)
        with self._lock:
            self._approx_size = None  # measure again at the next store
        return removed

    @override
    def close(self) -> None:
        if self._packed is not None:
            self._packed.close()

    def __reduce__(self) -> tuple[Any, ...]:
        options = (self.max_size_bytes, self.refresh, self._secret_key, self.max_packed_bytes, self.file_mode)
        return (_rebuild, (self._root, *options))

    def __repr__(self) -> str:
        signed = ", secret_key=<set>" if self._secret_key is not None else ""
        return f"DiskCache({self._root!r}, max_size_bytes={self.max_size_bytes!r}, refresh={self.refresh!r}{signed})"


def _rebuild(
    path: str,
    max_size_bytes: int | None,
    refresh: bool,
    secret_key: bytes | None = None,
    max_packed_bytes: int = DEFAULT_MAX_PACKED_BYTES,
    file_mode: int = 0o600,
) -> DiskCache:
    return DiskCache(
        path,
        max_size_bytes=max_size_bytes,
        refresh=refresh,
        secret_key=secret_key,
        max_packed_bytes=max_packed_bytes,
        file_mode=file_mode,
    )


_SMALL_SCALARS: frozenset[type] = frozenset({int, float, bool, complex, type(None)})  # a few bytes pickled


class _SpillingWriter:
    """What ``pickle.dump`` writes to: memory up to `limit` bytes, then an entry file."""

    __slots__ = ("_files", "_limit", "_node_name", "_signature", "buffer", "spilled")

    def __init__(self, limit: int, files: FileStore, signature: str, node_name: str) -> None:
        self._limit = limit
        self._files, self._signature, self._node_name = files, signature, node_name
        self.buffer = bytearray()
        self.spilled: FileWriter | None = None

    def write(self, data: bytes) -> int:
        spilled = self.spilled
        if spilled is None:
            if len(self.buffer) + len(data) <= self._limit:
                self.buffer += data
                return len(data)
            spilled = self.spilled = self._files.start(self._signature, self._node_name)
            spilled.writer.write(bytes(self.buffer))
            self.buffer = bytearray()
        return spilled.writer.write(data)

    def abort(self) -> None:
        if self.spilled is not None:
            self.spilled.abort()
