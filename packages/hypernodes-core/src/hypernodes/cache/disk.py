"""``DiskCache``: node outputs as files, one per entry, shared by threads and processes.

Layout under the cache directory::

    CACHEDIR.TAG              marks the directory as a cache (backup tools skip it)
    3f/9a0c...e1.hnc          one entry: its file name is a digest of the signature
    3f/9a0c...e1.hnc.<pid>-<n>.tmp   an entry being written (or left by a killed writer)

An entry file is a fixed header (magic, lengths, creation time, checksum), the node name, the
signature, then the pickled output. A writer streams the entry into a temporary file in the
same directory and renames it over the final name with ``os.replace``, which is atomic: a
reader sees the old complete file or the new complete one, never a partial one, and a writer
killed half-way leaves only its temporary file. The checksum (BLAKE2b over the header and the
payload) catches what a rename cannot: a file torn by a power loss or truncated by hand. Such
an entry is a miss, reported by one warning, and the next store rewrites it.
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
import struct
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from hashlib import blake2b
from pathlib import Path
from typing import IO, Any, ClassVar

from typing_extensions import override

from hypernodes.cache.base import MISSING, Cache, CacheEntry
from hypernodes.errors import InvalidArgumentError

__all__ = ["DiskCache"]

logger = logging.getLogger(__name__)

_MAGIC = b"HNC\x01"  # format version 1
# node name length, signature length, payload length, created (epoch seconds), checksum
_HEADER = struct.Struct("<4sHHQd16s")
_SUFFIX = ".hnc"
_TEMP_SUFFIX = ".tmp"
_FIRST_READ = 1 << 16  # one read covers a small entry whole
_STALE_TEMP_SECONDS = 3600.0  # a temporary file this old belongs to a dead writer
_RESCAN_EVERY = 1000  # stores between two measurements of the size (other processes write too)
_LOW_WATER = 0.9  # eviction goes down to this share of max_size_bytes, so it runs rarely
_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
_CACHEDIR_TAG = (
    b"Signature: 8a477f597d28d172789f06886806bc55\n"
    b"# This file is a cache directory tag created by HyperNodes.\n"
    b"# For information about cache directory tags see https://bford.info/cachedir/\n"
)


class _CorruptEntryError(Exception):
    """An entry file that is truncated, torn or not an entry at all."""


class DiskCache(Cache):
    """Store node outputs as pickles in files under `path`, one file per entry.

    Safe under concurrent threads and processes without locks: every entry is written to a
    temporary file and atomically renamed into place, so a reader never sees a half-written
    entry and a killed writer never leaves one. A truncated or corrupt entry is a miss (one
    ``RuntimeWarning``) and is rewritten by the next store. ``None`` outputs are cached.

    Listing, counting per node and clearing per node read each entry's header, so they take
    time proportional to the number of entries; ``get`` and ``put`` touch one file.

    Warning:
        Entries are pickles, and loading a pickle can run arbitrary code: only use cache
        directories that you (or code you trust) wrote.

    Args:
        path: The cache directory; created if missing. Several caches (threads, processes,
            machines on a shared file system) may use one directory at once.
        max_size_bytes: Keep the files' total size under this bound by deleting the oldest
            entries; None means no bound. The bound holds within a margin: each process counts
            its own writes and measures the directory again every thousand stores.
        refresh: Lookups always miss and outputs are stored again (force recomputation).

    A ``DiskCache`` pickles as its path and options: a worker process that unpickles it gets a
    working cache on the same directory.
    """

    option_names: ClassVar[tuple[str, ...]] = ("max_size_bytes", "refresh")
    """The keyword arguments a ``CacheSpec(kind="disk", options=...)`` may pass."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_size_bytes: int | None = None,
        refresh: bool = False,
    ) -> None:
        self._check_options({"max_size_bytes": max_size_bytes, "refresh": refresh})
        if not isinstance(path, str | os.PathLike):
            raise InvalidArgumentError(
                f"DiskCache(path=...) needs a directory path (str or os.PathLike); got {type(path).__name__}",
                input_name="path",
            )
        super().__init__(refresh=refresh)
        self.path = Path(path).expanduser().absolute()
        self.max_size_bytes = max_size_bytes
        self._root = str(self.path)
        self._names = itertools.count()  # temporary file names; next() is atomic under the GIL
        self._made_dirs: set[str] = set()  # fan-out directories known to exist
        self._lock = threading.Lock()  # guards _warned and the size accounting below
        self._warned: set[str] = set()  # entry paths already reported as corrupt
        self._approx_size: int | None = None  # bytes on disk: last measured + written since
        self._stores_since_scan = 0
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise InvalidArgumentError(
                f"DiskCache(path={self._root!r}) must be a directory, but a file is in the way; pass a directory path",
                input_name="path",
            ) from exc
        tag = self.path / "CACHEDIR.TAG"
        if not tag.exists():
            self._write_atomically(str(tag), _CACHEDIR_TAG)

    @classmethod
    def _check_options(cls, options: Mapping[str, object]) -> None:
        """Validate option values (also used by ``CacheSpec`` before any cache exists)."""
        size = options.get("max_size_bytes")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            raise InvalidArgumentError(
                f"DiskCache(max_size_bytes=...) needs a positive int (bytes) or None; got {size!r}",
                input_name="max_size_bytes",
            )
        if not isinstance(options.get("refresh", False), bool):
            raise InvalidArgumentError(
                f"DiskCache(refresh=...) needs True or False; got {options['refresh']!r}",
                input_name="refresh",
            )

    # -- lookups ---------------------------------------------------------------------------
    @override
    def get(self, signature: str) -> Any:
        if self.refresh:
            return MISSING
        path = self._entry_path(signature)
        try:
            fd = os.open(path, os.O_RDONLY | _BINARY)
        except FileNotFoundError:
            return MISSING
        except OSError as exc:  # unreadable (permissions): a miss
            logger.debug("cache entry %s cannot be opened: %r", path, exc)
            return MISSING
        try:
            data = _read_all(fd)
            start = _verify(data, signature.encode())
        except _CorruptEntryError as exc:
            self._report(path, str(exc), fd)
            return MISSING
        except OSError as exc:  # a directory in the way, an I/O error: a miss
            logger.debug("cache entry %s cannot be read: %r", path, exc)
            return MISSING
        finally:
            os.close(fd)
        try:
            return pickle.loads(memoryview(data)[start:])
        except Exception as exc:  # intact file, but its classes moved or were renamed
            self._report(path, f"it cannot be unpickled ({type(exc).__name__}: {exc})", None)
            return MISSING

    def _report(self, path: str, reason: str, fd: int | None) -> None:
        """Warn once about a bad entry; delete it if it is still the file we read."""
        with self._lock:
            first = path not in self._warned
            self._warned.add(path)
        if first:
            warnings.warn(
                f"cache entry {path} is unusable: {reason}; treating it as a miss, the output "
                "is recomputed and the entry rewritten",
                RuntimeWarning,
                stacklevel=3,
            )
        else:
            logger.debug("cache entry %s is unusable again: %s", path, reason)
        if fd is not None:  # corrupt, not merely stale: remove it unless a writer replaced it
            try:
                read, now = os.fstat(fd), os.stat(path)
                if (read.st_ino, read.st_mtime_ns, read.st_size) == (now.st_ino, now.st_mtime_ns, now.st_size):
                    os.unlink(path)
            except OSError:
                pass

    # -- stores ----------------------------------------------------------------------------
    @override
    def put(self, signature: str, value: Any, *, node_name: str) -> None:
        path = self._entry_path(signature)
        name_bytes, signature_bytes = node_name.encode(), signature.encode()
        created = time.time()
        fd, temp = self._open_temp(path)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(bytes(_HEADER.size))  # the real header is written once the payload is known
                file.write(name_bytes + signature_bytes)
                writer = _HashingWriter(file)
                writer.hasher.update(name_bytes + signature_bytes)
                pickle.dump(value, writer, protocol=pickle.HIGHEST_PROTOCOL)
                fields = (len(name_bytes), len(signature_bytes), writer.size, created)
                checksum = _checksum(fields, writer.hasher.digest())
                file.seek(0)
                file.write(_HEADER.pack(_MAGIC, *fields, checksum))
            os.replace(temp, path)
        except BaseException:
            _remove(temp)  # an unpicklable value or a full disk must not leave a temporary file
            raise
        if self.max_size_bytes is not None:
            self._account(_HEADER.size + len(name_bytes) + len(signature_bytes) + writer.size)

    def _open_temp(self, path: str) -> tuple[int, str]:
        directory = os.path.dirname(path)
        if directory not in self._made_dirs:
            os.makedirs(directory, exist_ok=True)
            self._made_dirs.add(directory)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY
        for _ in range(100):
            temp = f"{path}.{os.getpid()}-{next(self._names)}{_TEMP_SUFFIX}"
            try:
                return os.open(temp, flags, 0o666), temp
            except FileExistsError:  # left by a dead process that had our pid
                continue
            except FileNotFoundError:  # the directory was deleted under us (rm -rf, clear)
                os.makedirs(directory, exist_ok=True)
        raise OSError(f"cannot create a temporary file next to {path}")

    def _write_atomically(self, path: str, data: bytes) -> None:
        fd, temp = self._open_temp(path)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temp, path)
        except BaseException:
            _remove(temp)
            raise

    def _account(self, written: int) -> None:
        assert self.max_size_bytes is not None
        with self._lock:
            if self._approx_size is None:
                self._approx_size = sum(size for _, size, _ in self._scan())
            else:
                self._approx_size += written
            self._stores_since_scan += 1
            if self._approx_size > self.max_size_bytes or self._stores_since_scan >= _RESCAN_EVERY:
                self._approx_size = self._evict(self.max_size_bytes)
                self._stores_since_scan = 0

    def _evict(self, bound: int) -> int:
        """Delete the oldest entries until the total is under the low-water mark; return it."""
        files = sorted(self._scan(), key=lambda item: item[2])  # oldest first
        total = sum(size for _, size, _ in files)
        if total <= bound:
            return total
        target = int(bound * _LOW_WATER)
        for path, size, _ in files:
            if total <= target:
                break
            if _remove(path):
                total -= size
        logger.debug("cache %s: evicted oldest entries down to %d bytes", self._root, total)
        return total

    # -- listing and clearing --------------------------------------------------------------
    def _scan(self) -> Iterator[tuple[str, int, float]]:
        """Yield ``(path, size, mtime)`` of every entry; delete stale temporary files."""
        stale_before = time.time() - _STALE_TEMP_SECONDS
        try:
            fanout = [e.path for e in os.scandir(self._root) if e.is_dir() and len(e.name) == 2]
        except FileNotFoundError:
            return
        for directory in sorted(fanout):
            try:
                files = list(os.scandir(directory))
            except FileNotFoundError:
                continue
            for entry in files:
                try:
                    stat = entry.stat()
                except FileNotFoundError:  # evicted or replaced by another process meanwhile
                    continue
                if entry.name.endswith(_SUFFIX):
                    yield entry.path, stat.st_size, stat.st_mtime
                elif entry.name.endswith(_TEMP_SUFFIX) and stat.st_mtime < stale_before:
                    _remove(entry.path)  # its writer died: nobody will rename it

    @override
    def entries(self, node_name: str | None = None) -> Iterator[CacheEntry]:
        for path, size, _ in self._scan():
            header = _read_header(path)
            if header is not None and (node_name is None or header[0] == node_name):
                yield CacheEntry(signature=header[1], node_name=header[0], size=size, created=header[2])

    @override
    def count(self, node_name: str | None = None) -> int:
        if node_name is None:
            return sum(1 for _ in self._scan())
        return super().count(node_name)

    @override
    def __len__(self) -> int:
        return self.count()

    @override
    def clear(self, node_name: str | None = None) -> int:
        removed = 0
        for path, _, _ in list(self._scan()):
            if node_name is not None:
                header = _read_header(path)
                if header is None or header[0] != node_name:
                    continue
            removed += _remove(path)
        with self._lock:
            self._approx_size = None  # measure again at the next store
        return removed

    def _entry_path(self, signature: str) -> str:
        name = blake2b(signature.encode(), digest_size=20).hexdigest()
        return f"{self._root}{os.sep}{name[:2]}{os.sep}{name[2:]}{_SUFFIX}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self._root, self.max_size_bytes, self.refresh))

    def __repr__(self) -> str:
        return f"DiskCache({self._root!r}, max_size_bytes={self.max_size_bytes!r}, refresh={self.refresh!r})"


def _rebuild(path: str, max_size_bytes: int | None, refresh: bool) -> DiskCache:
    return DiskCache(path, max_size_bytes=max_size_bytes, refresh=refresh)


class _HashingWriter:
    """A file wrapper for ``pickle.dump`` that checksums and counts what it writes."""

    __slots__ = ("file", "hasher", "size")

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.hasher = blake2b(digest_size=16)
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        self.size += len(data)
        self.file.write(data)
        return len(data)


def _checksum(fields: tuple[int, int, int, float], inner: bytes) -> bytes:
    return blake2b(struct.pack("<HHQd", *fields) + inner, digest_size=16).digest()


def _read_all(fd: int) -> bytes:
    data = os.read(fd, _FIRST_READ)
    if len(data) < _FIRST_READ:
        return data
    chunks = [data]
    while chunk := os.read(fd, 1 << 24):
        chunks.append(chunk)
    return b"".join(chunks)


def _verify(data: bytes, signature: bytes) -> int:
    """Check an entry read whole; return where its payload starts."""
    if len(data) < _HEADER.size:
        raise _CorruptEntryError(f"it is truncated ({len(data)} bytes)")
    magic, name_len, sig_len, payload_len, created, checksum = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise _CorruptEntryError("it is not a HyperNodes cache entry (or another version's)")
    start: int = _HEADER.size + name_len + sig_len
    if len(data) != start + payload_len:
        raise _CorruptEntryError(f"it has {len(data)} bytes instead of {start + payload_len} (truncated?)")
    view = memoryview(data)
    inner = blake2b(view[_HEADER.size :], digest_size=16).digest()
    if _checksum((name_len, sig_len, payload_len, created), inner) != checksum:
        raise _CorruptEntryError("its checksum does not match")
    if data[_HEADER.size + name_len : start] != signature:
        raise _CorruptEntryError("it holds another signature")
    return start


def _read_header(path: str) -> tuple[str, str, float] | None:
    """Return ``(node name, signature, created)`` from an entry's header, or None."""
    try:
        with open(path, "rb") as file:
            head = file.read(_HEADER.size)
            if len(head) < _HEADER.size:
                return None
            magic, name_len, sig_len, _, created, _ = _HEADER.unpack(head)
            names = file.read(name_len + sig_len)
    except OSError:
        return None
    if magic != _MAGIC or len(names) != name_len + sig_len:
        return None
    try:
        return names[:name_len].decode(), names[name_len:].decode(), created
    except UnicodeDecodeError:
        return None


def _remove(path: str) -> bool:
    try:
        os.unlink(path)
    except OSError:  # gone already (another process), or not ours to delete
        return False
    return True
