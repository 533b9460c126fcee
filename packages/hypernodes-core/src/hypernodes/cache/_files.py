"""The disk cache's large entries: one file each, written atomically (machinery, *not* a public API).

Layout under the cache directory::

    3f/9a0c...e1.hnc                 one entry: its file name is a digest of the signature
    3f/9a0c...e1.hnc.<pid>-<n>.tmp   an entry being written (or left by a killed writer)

A writer streams the entry into a temporary file in the same directory and renames it over
the final name with ``os.replace``, which is atomic: a reader sees the old complete file or
the new complete one, never a partial one, and a writer killed half-way leaves only its
temporary file (swept when the cache lists its files, once it is an hour old). The entry's
seal catches what a rename cannot (a file torn by a power loss, truncated or edited by hand);
such an entry is a miss, reported once, removed, and rewritten by the next store. A directory
where an entry should be (a damaged tree) is removed, so the next store can write the entry.
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
import shutil
import time
from collections.abc import Iterator
from typing import Any

from hypernodes.cache._entry import (
    HEADER,
    SUFFIX,
    CorruptEntryError,
    EntryWriter,
    Reporter,
    Sealer,
    entry_identity,
    entry_name,
    parse_header,
    verify_entry,
)
from hypernodes.cache.base import MISSING

__all__ = ["SUFFIX", "FileStore", "FileWriter", "read_entry_header", "remove"]

logger = logging.getLogger(__name__)

_TEMP_SUFFIX = ".tmp"
_FIRST_READ = 1 << 16  # one read covers a small entry whole
_STALE_TEMP_SECONDS = 3600.0  # a temporary file this old belongs to a dead writer
_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


class FileStore:
    """Entries as files under `root`, in 256 fan-out directories.

    Args:
        root: The cache directory (it exists).
        sealer: How entries are sealed and checked.
        reporter: Where unusable entries are reported.
        file_mode: Permissions of new files; directories get the same plus search (x) bits.
    """

    def __init__(self, root: str, sealer: Sealer, reporter: Reporter, file_mode: int) -> None:
        self.root = root
        self.sealer = sealer
        self.reporter = reporter
        self.file_mode = file_mode
        self.dir_mode = file_mode | ((file_mode & 0o444) >> 2)
        self._names = itertools.count()  # temporary file names; next() is atomic under the GIL
        self._made_dirs: set[str] = set()  # fan-out directories known to exist

    def path(self, signature: str) -> str:
        """Return the path of `signature`'s entry file."""
        directory, name = entry_name(signature)
        return f"{self.root}{os.sep}{directory}{os.sep}{name}"

    # -- lookups ---------------------------------------------------------------------------
    def get(self, signature: str) -> Any:
        """Return the value stored under `signature`, or MISSING."""
        path = self.path(signature)
        try:
            fd = os.open(path, os.O_RDONLY | _BINARY)
        except FileNotFoundError:
            return MISSING
        except OSError as exc:  # unreadable (permissions): a miss
            logger.debug("cache entry %s cannot be opened: %r", path, exc)
            return MISSING
        try:
            data = _read_all(fd)
            start = verify_entry(data, signature.encode(), self.sealer)
        except CorruptEntryError as exc:
            self.reporter.report(path, str(exc))
            self._remove_if_unchanged(path, fd)
            return MISSING
        except IsADirectoryError:
            self.reporter.report(path, "it is a directory, not a file; removing it")
            self.repair(path)
            return MISSING
        except OSError as exc:  # an I/O error: a miss
            logger.debug("cache entry %s cannot be read: %r", path, exc)
            return MISSING
        finally:
            os.close(fd)
        try:
            return pickle.loads(memoryview(data)[start:])
        except Exception as exc:  # intact file, but its classes moved or were renamed
            self.reporter.report(path, f"it cannot be unpickled ({type(exc).__name__}: {exc})")
            return MISSING

    def _remove_if_unchanged(self, path: str, fd: int) -> None:
        """Delete a corrupt entry unless a writer replaced it since we read it."""
        try:
            read, now = os.fstat(fd), os.stat(path)
            if (read.st_ino, read.st_mtime_ns, read.st_size) == (now.st_ino, now.st_mtime_ns, now.st_size):
                os.unlink(path)
        except OSError:
            pass

    # -- stores ----------------------------------------------------------------------------
    def start(self, signature: str, node_name: str) -> FileWriter:
        """Open a temporary file for `signature`'s entry; the caller streams the payload into it."""
        path = self.path(signature)
        fd, temp = self._open_temp(path)
        return FileWriter(self, path, fd, temp, node_name.encode(), signature.encode())

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a small file (not an entry) atomically."""
        fd, temp = self._open_temp(path)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temp, path)
        except BaseException:
            remove(temp)
            raise

    def _open_temp(self, path: str) -> tuple[int, str]:
        directory = os.path.dirname(path)
        if directory not in self._made_dirs:
            os.makedirs(directory, mode=self.dir_mode, exist_ok=True)
            self._made_dirs.add(directory)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY
        for _ in range(100):
            temp = f"{path}.{os.getpid()}-{next(self._names)}{_TEMP_SUFFIX}"
            try:
                return os.open(temp, flags, self.file_mode), temp
            except FileExistsError:  # left by a dead process that had our pid
                continue
            except FileNotFoundError:  # the directory was deleted under us (rm -rf, clear)
                os.makedirs(directory, mode=self.dir_mode, exist_ok=True)
        raise OSError(f"cannot create a temporary file next to {path}")

    def discard(self, signature: str) -> None:
        """Remove `signature`'s file, if any (its entry now lives elsewhere); repair a directory there."""
        path = self.path(signature)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except (IsADirectoryError, PermissionError):  # Linux says EISDIR, macOS EPERM, for a directory
            if os.path.isdir(path):
                self.repair(path)
        except OSError:
            pass

    def repair(self, path: str) -> None:
        """Remove a directory that stands where an entry file should be."""
        logger.debug("cache %s: removing the directory in place of entry %s", self.root, path)
        shutil.rmtree(path, ignore_errors=True)

    # -- listing ---------------------------------------------------------------------------
    def scan(self) -> Iterator[tuple[str, int, float]]:
        """Yield ``(path, size, mtime)`` of every entry file; delete stale temporary files."""
        stale_before = time.time() - _STALE_TEMP_SECONDS
        try:
            fanout = [e.path for e in os.scandir(self.root) if e.is_dir() and len(e.name) == 2]
        except FileNotFoundError:
            return
        for directory in sorted(fanout):
            try:
                files = list(os.scandir(directory))
            except FileNotFoundError:
                continue
            for entry in files:
                try:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    stat = entry.stat()
                except FileNotFoundError:  # evicted or replaced by another process meanwhile
                    continue
                if entry.name.endswith(SUFFIX):
                    yield entry.path, stat.st_size, stat.st_mtime
                elif entry.name.endswith(_TEMP_SUFFIX) and stat.st_mtime < stale_before:
                    remove(entry.path)  # its writer died: nobody will rename it


class FileWriter:
    """One entry being written to its temporary file; :meth:`commit` renames it into place."""

    __slots__ = ("_file", "_name", "_path", "_signature", "_store", "_temp", "writer")

    def __init__(self, store: FileStore, path: str, fd: int, temp: str, name: bytes, signature: bytes) -> None:
        self._store, self._path, self._temp = store, path, temp
        self._name, self._signature = name, signature
        self._file = os.fdopen(fd, "wb")
        try:
            self.writer = EntryWriter(self._file, store.sealer, name, signature)
        except BaseException:
            self.abort()
            raise

    def commit(self, created: float) -> int:
        """Write the header, close and rename the file into place; return the entry's size."""
        header = self.writer.header(len(self._name), len(self._signature), created)
        self._file.seek(0)
        self._file.write(header)
        self._file.close()
        try:
            os.replace(self._temp, self._path)
        except IsADirectoryError:  # a damaged tree: a directory where the entry goes
            self._store.repair(self._path)
            os.replace(self._temp, self._path)
        except OSError:
            if not os.path.isdir(self._path):
                raise
            self._store.repair(self._path)  # ENOTEMPTY and friends on other systems
            os.replace(self._temp, self._path)
        return HEADER.size + len(self._name) + len(self._signature) + self.writer.size

    def abort(self) -> None:
        """Close and delete the temporary file (an unpicklable value, a full disk)."""
        self._file.close()
        remove(self._temp)


def read_entry_header(path: str) -> tuple[str, str, float] | None:
    """Return ``(node name, signature, created)`` from an entry file's header, or None."""
    try:
        with open(path, "rb") as file:
            head = file.read(HEADER.size)
            parsed = parse_header(head)
            if parsed is None:
                return None
            size, name_len, sig_len, _ = parsed
            head += file.read(max(0, size + name_len + sig_len - len(head)))
    except OSError:
        return None
    return entry_identity(head)


def _read_all(fd: int) -> bytes:
    data = os.read(fd, _FIRST_READ)
    if len(data) < _FIRST_READ:
        return data
    chunks = [data]
    while chunk := os.read(fd, 1 << 24):
        chunks.append(chunk)
    return b"".join(chunks)


def remove(path: str) -> bool:
    """Delete a file; return whether this call deleted it."""
    try:
        os.unlink(path)
    except OSError:  # gone already (another process), or not ours to delete
        return False
    return True
