"""``FsspecCache``: node outputs under an fsspec URL (``s3://``, ``gs://``, ``file://``...), shared by workers.

A cache every worker can reach (Dask, Ray, Modal, a process pool on another machine) reads
and writes the entries the caller sees. Each entry is one object or file,
``<url>/<2 hex digits>/<38 hex digits>.hnc``, in the format of the disk cache's large entries
(header, node name, signature, payload, sealed with a checksum or an HMAC with ``secret_key``).

Stores are atomic where the store allows it: on object stores (S3, GCS, Azure, memory) an
entry is one PUT of the whole entry, which appears whole or not at all; on file systems
(local paths, ``file://``, SFTP...) it is written to a temporary name and moved into place.
A damaged or unsigned entry is a miss with one warning, recomputed and overwritten.
fsspec is an optional dependency (``pip install 'hypernodes-core[fsspec]'`` plus the store's
own package, e.g. ``s3fs``), imported when the first ``FsspecCache`` is made.
"""

from __future__ import annotations

import contextlib
import io
import logging
import pickle
import time
import uuid
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from typing_extensions import override

from hypernodes.cache._entry import (
    HEADER,
    SUFFIX,
    CorruptEntryError,
    EntryWriter,
    Reporter,
    Sealer,
    check_secret_key,
    entry_identity,
    entry_name,
    parse_header,
    verify_entry,
)
from hypernodes.cache.base import MISSING, Cache, CacheEntry
from hypernodes.errors import InvalidArgumentError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem  # type: ignore[import-untyped]

__all__ = ["FsspecCache"]

logger = logging.getLogger(__name__)

# Stores where one PUT of a whole object is atomic; elsewhere an entry is written then moved.
_OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "memory"})
_TEMP_SUFFIX = ".tmp"
_STALE_TEMP_SECONDS = 3600.0  # a temporary file this old belongs to a dead writer
_HEAD_BYTES = HEADER.size + 256  # one range read covers an entry's header, node name and signature


class FsspecCache(Cache):
    """Store node outputs as pickles under an fsspec URL that every worker can reach.

    Give it as a ``CacheSpec(kind="fsspec", path="s3://bucket/prefix", options=...)`` so that
    each worker makes its own on the same URL. Thread safe as far as the fsspec file system
    is (s3fs and the local file system are).

    Warning:
        Entries are pickles, and loading a pickle can run arbitrary code: anyone who can
        write under the URL can run code in every worker that reads it. Restrict write access
        to the bucket or directory, or give a `secret_key` so that only entries signed with it
        are loaded.

    Args:
        url: Where the entries live: ``s3://bucket/prefix``, ``gs://...``, ``file:///path``, a
            local path, or any URL fsspec knows.
        storage_options: Keyword arguments for the fsspec file system (credentials, an
            ``endpoint_url`` in ``client_kwargs``...). They are pickled with the cache, so
            prefer credentials the workers find themselves (environment, instance roles).
        refresh: Lookups always miss and outputs are stored again (force recomputation).
        secret_key: Sign entries with HMAC-SHA256 under this key and load only entries whose
            signature matches; others are misses, with a warning.

    Raises:
        ImportError: fsspec (or the package for the URL's protocol, such as s3fs) is missing.
    """

    option_names: ClassVar[tuple[str, ...]] = ("storage_options", "refresh", "secret_key")
    """The keyword arguments a ``CacheSpec(kind="fsspec", options=...)`` may pass."""

    def __init__(
        self,
        url: str,
        *,
        storage_options: Mapping[str, Any] | None = None,
        refresh: bool = False,
        secret_key: bytes | str | None = None,
    ) -> None:
        self._check_options({"storage_options": storage_options, "refresh": refresh, "secret_key": secret_key})
        if not isinstance(url, str) or not url:
            raise InvalidArgumentError(
                f"FsspecCache(url=...) needs a URL such as 's3://bucket/prefix'; got {url!r}", input_name="url"
            )
        super().__init__(refresh=refresh)
        self.url = url
        self.storage_options: Mapping[str, Any] = MappingProxyType(dict(storage_options or {}))
        self._secret_key = check_secret_key(secret_key, "FsspecCache")
        self._fs, root = _file_system(url, self.storage_options)
        self._root = root.rstrip("/")
        protocols = self._fs.protocol if isinstance(self._fs.protocol, tuple | list) else (self._fs.protocol,)
        self._single_put = bool(_OBJECT_STORES.intersection(protocols))
        self._local = "file" in protocols or "local" in protocols
        self._sealer = Sealer(self._secret_key)
        self._reporter = Reporter()
        self._made_dirs: set[str] = set()  # directories known to exist (file systems only)

    @classmethod
    def _check_options(cls, options: Mapping[str, object]) -> None:
        """Validate option values (also used by ``CacheSpec`` before any cache exists)."""
        storage = options.get("storage_options")
        if storage is not None and not isinstance(storage, Mapping):
            raise InvalidArgumentError(
                f"FsspecCache(storage_options=...) needs a mapping of fsspec options; got {type(storage).__name__}",
                input_name="storage_options",
            )
        if not isinstance(options.get("refresh", False), bool):
            raise InvalidArgumentError(
                f"FsspecCache(refresh=...) needs True or False; got {options['refresh']!r}", input_name="refresh"
            )
        check_secret_key(options.get("secret_key"), "FsspecCache")

    def _path(self, signature: str) -> str:
        directory, name = entry_name(signature)
        return f"{self._root}/{directory}/{name}"

    # -- lookups ---------------------------------------------------------------------------
    @override
    def get(self, signature: str) -> Any:
        if self.refresh:
            return MISSING
        path = self._path(signature)
        try:
            data = self._fs.cat_file(path)
        except FileNotFoundError:
            return MISSING
        except IsADirectoryError:  # a local tree damaged by hand: clear the way for the next store
            self._reporter.report(path, "it is a directory, not a file; removing it", stacklevel=3)
            self._fs.rm(path, recursive=True)
            return MISSING
        except Exception as exc:  # an unreachable store must not fail the run: a miss
            logger.debug("cache entry %s cannot be read: %r", path, exc)
            return MISSING
        try:
            start = verify_entry(data, signature.encode(), self._sealer)
        except CorruptEntryError as exc:  # left in place: the next store overwrites it
            self._reporter.report(path, str(exc), stacklevel=3)
            return MISSING
        try:
            return pickle.loads(memoryview(data)[start:])
        except Exception as exc:  # intact, but its classes moved or were renamed
            self._reporter.report(path, f"it cannot be unpickled ({type(exc).__name__}: {exc})", stacklevel=3)
            return MISSING

    # -- stores ----------------------------------------------------------------------------
    @override
    def put(self, signature: str, value: Any, *, node_name: str) -> None:
        name, signature_bytes = node_name.encode(), signature.encode()
        buffer = io.BytesIO()
        writer = EntryWriter(buffer, self._sealer, name, signature_bytes)
        pickle.dump(value, writer, protocol=pickle.HIGHEST_PROTOCOL)  # in memory: an entry is sent whole
        data = buffer.getbuffer()
        data[: HEADER.size] = writer.header(len(name), len(signature_bytes), time.time())
        path = self._path(signature)
        if self._single_put:
            self._fs.pipe_file(path, bytes(data))
            return
        directory = path.rpartition("/")[0]
        if directory not in self._made_dirs:
            self._fs.makedirs(directory, exist_ok=True)
            self._made_dirs.add(directory)
        temp = f"{path}.{uuid.uuid4().hex}{_TEMP_SUFFIX}"
        try:
            self._fs.pipe_file(temp, bytes(data))
            if self._local:
                self._fs.chmod(temp, 0o600)  # private, as the disk cache's files
            if self._fs.isdir(path):  # a damaged tree: a directory where the entry goes
                self._fs.rm(path, recursive=True)
            self._fs.mv(temp, path)
        except BaseException:
            with contextlib.suppress(Exception):  # never written, or gone already
                self._fs.rm(temp)
            raise

    # -- listing and clearing --------------------------------------------------------------
    def _scan(self) -> Iterator[tuple[str, int]]:
        """Yield ``(path, size)`` of every entry; delete stale temporary files."""
        self._fs.invalidate_cache(self._root)  # other processes write too: list afresh
        try:
            found = self._fs.find(self._root, detail=True)
        except FileNotFoundError:
            return
        stale_before = time.time() - _STALE_TEMP_SECONDS
        for path, info in found.items():
            if path.endswith(SUFFIX):
                yield path, int(info.get("size") or 0)
            elif path.endswith(_TEMP_SUFFIX) and _modified(info) < stale_before:
                with contextlib.suppress(FileNotFoundError):
                    self._fs.rm(path)  # its writer died: nobody will move it

    def _identity(self, path: str) -> tuple[str, str, float] | None:
        try:
            head = self._fs.cat_file(path, start=0, end=_HEAD_BYTES)
            parsed = parse_header(head)
            if parsed is not None and sum(parsed[:3]) > len(head):
                head = self._fs.cat_file(path, start=0, end=sum(parsed[:3]))
        except OSError:
            return None
        return entry_identity(head)

    @override
    def entries(self, node_name: str | None = None) -> Iterator[CacheEntry]:
        for path, size in self._scan():
            identity = self._identity(path)
            if identity is not None and (node_name is None or identity[0] == node_name):
                yield CacheEntry(signature=identity[1], node_name=identity[0], size=size, created=identity[2])

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
        doomed = [
            path
            for path, _ in self._scan()
            if node_name is None or ((identity := self._identity(path)) is not None and identity[0] == node_name)
        ]
        if doomed:
            self._fs.rm(doomed)
        return len(doomed)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.url, dict(self.storage_options), self.refresh, self._secret_key))

    def __repr__(self) -> str:  # storage options may hold credentials: never shown
        signed = ", secret_key=<set>" if self._secret_key is not None else ""
        return f"FsspecCache({self.url!r}, refresh={self.refresh!r}{signed})"


def _rebuild(url: str, storage_options: dict[str, Any], refresh: bool, secret_key: bytes | None) -> FsspecCache:
    return FsspecCache(url, storage_options=storage_options, refresh=refresh, secret_key=secret_key)


def _file_system(url: str, storage_options: Mapping[str, Any]) -> tuple[AbstractFileSystem, str]:
    """Return the fsspec file system for `url` and the path in it, importing fsspec now."""
    try:
        import fsspec.core  # type: ignore[import-untyped]
    except ModuleNotFoundError as exc:
        raise ImportError(
            "FsspecCache needs fsspec: pip install 'hypernodes-core[fsspec]' (and the package of your store, "
            "e.g. s3fs for s3://, gcsfs for gs://)",
            name="fsspec",
        ) from exc
    try:
        fs, path = fsspec.core.url_to_fs(url, **storage_options)
    except (ImportError, ValueError) as exc:  # fsspec names the missing package (s3fs, gcsfs...)
        raise ImportError(f"FsspecCache({url!r}) cannot open that URL: {exc}", name="fsspec") from exc
    return fs, str(path)


def _modified(info: Mapping[str, Any]) -> float:
    """Return an fsspec listing entry's modification time in epoch seconds (0 when unknown)."""
    value = info.get("mtime", info.get("LastModified", info.get("created")))
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    return float(value) if isinstance(value, int | float) else 0.0
