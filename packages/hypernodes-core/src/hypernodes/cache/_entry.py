"""How a stored entry is sealed and framed (machinery, *not* a public API).

An entry is a node's pickled output plus what identifies it (the signature and the node
name) and a seal over all of it, checked before anything is unpickled:

- without a secret key, a checksum that catches accidental damage (a torn or truncated file,
  a flipped bit): BLAKE2b for entries stored as files or objects, CRC-32 for the small rows
  of the disk cache's database (whose writes SQLite already makes atomic);
- with a secret key, an HMAC-SHA256 over the same bytes, so an entry written by someone
  without the key (a crafted pickle) is refused, never unpickled.

An entry stored as one file or object is ``HEADER`` (magic, seal scheme, lengths, creation
time, seal), the node name, the signature, then the payload. :class:`EntryWriter` writes it in
one pass over a stream (the header last, once the payload's length is known).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import struct
import threading
import warnings
import zlib
from typing import IO, Protocol

from hypernodes.errors import InvalidArgumentError

__all__ = [
    "HEADER",
    "MAGIC",
    "SUFFIX",
    "CorruptEntryError",
    "EntryWriter",
    "Reporter",
    "Sealer",
    "check_secret_key",
    "entry_identity",
    "entry_name",
    "parse_header",
    "verify_entry",
]

logger = logging.getLogger(__name__)

MAGIC = b"HNC\x02"  # format 2: a 32-byte seal and its scheme
HEADER = struct.Struct("<4sBHHQd32s")  # magic, scheme, name length, signature length, payload length, created, seal
_FIELDS = struct.Struct("<BHHQd")
# Format 1 (HyperNodes 0.1.0): a 16-byte BLAKE2b checksum, no scheme. Still read, unsigned only,
# so that a cache written before format 2 keeps serving its entries (and rewrites them in format 2).
_MAGIC_1 = b"HNC\x01"
_HEADER_1 = struct.Struct("<4sHHQd16s")  # magic, name length, signature length, payload length, created, checksum
_FIELDS_1 = struct.Struct("<HHQd")
_CHECKSUM, _HMAC = 0, 1  # seal schemes
SUFFIX = ".hnc"


def entry_name(signature: str) -> tuple[str, str]:
    """Return the fan-out directory and file name of `signature`'s entry (``"3f"``, ``"9a0c...e1.hnc"``)."""
    name = hashlib.blake2b(signature.encode(), digest_size=20).hexdigest()
    return name[:2], name[2:] + SUFFIX


class CorruptEntryError(Exception):
    """An entry that is damaged, of another format, or not sealed with this cache's key."""


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


def check_secret_key(secret_key: object, owner: str) -> bytes | None:
    """Return `secret_key` as bytes (None stays None), or raise naming `owner`."""
    if secret_key is None:
        return None
    if isinstance(secret_key, str):
        secret_key = secret_key.encode()
    if not isinstance(secret_key, bytes) or not secret_key:
        raise InvalidArgumentError(
            f"{owner}(secret_key=...) needs non-empty bytes or str (e.g. secret_key=os.environ['CACHE_KEY']); "
            f"got {type(secret_key).__name__}",
            input_name="secret_key",
        )
    return secret_key


class Sealer:
    """Seal and check entries: a checksum without a key, an HMAC-SHA256 with one."""

    __slots__ = ("_key", "scheme")

    def __init__(self, secret_key: bytes | None) -> None:
        self._key = secret_key
        self.scheme = _CHECKSUM if secret_key is None else _HMAC

    @property
    def is_keyed(self) -> bool:
        """Whether entries are signed with a secret key."""
        return self._key is not None

    def hasher(self) -> _Hasher:
        """Return a streaming hasher for the bytes of an entry (name, signature, payload)."""
        if self._key is None:
            return hashlib.blake2b(digest_size=32)
        return hmac.new(self._key, digestmod=hashlib.sha256)

    def seal(self, fields: bytes, inner: bytes) -> bytes:
        """Return the 32-byte seal of an entry from its header fields and its hasher's digest."""
        if self._key is None:
            return hashlib.blake2b(fields + inner, digest_size=32).digest()
        return hmac.digest(self._key, fields + inner, "sha256")

    def row_seal(self, signature: bytes, node_name: bytes, payload: bytes) -> int | bytes:
        """Return the seal of a database row: a CRC-32 (an int) without a key, an HMAC-SHA256 with one.

        The CRC covers the signature and the payload (the row's key and what gets unpickled);
        the HMAC covers the node name too.
        """
        if self._key is None:
            return zlib.crc32(payload, zlib.crc32(signature))
        return self._row_hmac(self._key, signature, node_name, payload)

    @staticmethod
    def _row_hmac(key: bytes, signature: bytes, node_name: bytes, payload: bytes) -> bytes:
        framed = b"%d:%b%d:%b" % (len(signature), signature, len(node_name), node_name)
        return hmac.digest(key, framed + payload, "sha256")

    def check_row(self, seal: object, signature: str, node_name: str, payload: bytes) -> None:
        """Raise CorruptEntryError unless `seal` is the row's seal."""
        if self._key is None:  # the hot path of a warm rerun: kept short
            if type(seal) is not int:
                raise CorruptEntryError(self._scheme_mismatch())
            if zlib.crc32(payload, zlib.crc32(signature.encode())) != seal:
                raise CorruptEntryError(self._bad_seal())
            return
        if not isinstance(seal, bytes) or len(seal) != 32:
            raise CorruptEntryError(self._scheme_mismatch())
        expected = self._row_hmac(self._key, signature.encode(), node_name.encode(), payload)
        if not hmac.compare_digest(seal, expected):
            raise CorruptEntryError(self._bad_seal())

    def _bad_seal(self) -> str:
        if self._key is None:
            return "its checksum does not match (damaged)"
        return "its HMAC does not match this cache's secret_key (tampered, or signed with another key)"

    def _scheme_mismatch(self) -> str:
        if self._key is None:
            return "it is signed with a secret_key, and this cache has none"
        return "it is not signed with a secret_key (written by a cache without one, or crafted)"


def verify_entry(data: bytes | memoryview, signature: bytes, sealer: Sealer) -> int:
    """Check an entry read whole (a file or an object); return where its payload starts.

    Raises:
        CorruptEntryError: The entry is truncated, of another format, holds another
            signature, or its seal does not match.
    """
    if bytes(data[:4]) == _MAGIC_1:
        return _verify_format_1(data, signature, sealer)
    if len(data) < HEADER.size:
        raise CorruptEntryError(f"it is truncated ({len(data)} bytes)")
    magic, scheme, name_len, sig_len, payload_len, created, seal = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CorruptEntryError("it is not a HyperNodes cache entry (or another version's)")
    start: int = HEADER.size + name_len + sig_len
    if len(data) != start + payload_len:
        raise CorruptEntryError(f"it has {len(data)} bytes instead of {start + payload_len} (truncated?)")
    if scheme != sealer.scheme:
        raise CorruptEntryError(sealer._scheme_mismatch())
    hasher = sealer.hasher()
    hasher.update(memoryview(data)[HEADER.size :])  # type: ignore[arg-type]
    fields = _FIELDS.pack(scheme, name_len, sig_len, payload_len, created)
    if not hmac.compare_digest(sealer.seal(fields, hasher.digest()), seal):
        raise CorruptEntryError(sealer._bad_seal())
    if bytes(data[HEADER.size + name_len : start]) != signature:
        raise CorruptEntryError("it holds another signature")
    return start


def _verify_format_1(data: bytes | memoryview, signature: bytes, sealer: Sealer) -> int:
    if sealer.is_keyed:
        raise CorruptEntryError(sealer._scheme_mismatch())
    if len(data) < _HEADER_1.size:
        raise CorruptEntryError(f"it is truncated ({len(data)} bytes)")
    _, name_len, sig_len, payload_len, created, checksum = _HEADER_1.unpack_from(data)
    start: int = _HEADER_1.size + name_len + sig_len
    if len(data) != start + payload_len:
        raise CorruptEntryError(f"it has {len(data)} bytes instead of {start + payload_len} (truncated?)")
    inner = hashlib.blake2b(memoryview(data)[_HEADER_1.size :], digest_size=16).digest()
    fields = _FIELDS_1.pack(name_len, sig_len, payload_len, created)
    if hashlib.blake2b(fields + inner, digest_size=16).digest() != checksum:
        raise CorruptEntryError(sealer._bad_seal())
    if bytes(data[_HEADER_1.size + name_len : start]) != signature:
        raise CorruptEntryError("it holds another signature")
    return start


def parse_header(head: bytes) -> tuple[int, int, int, float] | None:
    """Return ``(header size, name length, signature length, created)`` of an entry, or None.

    `head` must hold the first ``HEADER.size`` bytes (or the whole entry, if shorter).
    """
    if head[:4] == _MAGIC_1 and len(head) >= _HEADER_1.size:
        _, name_len, sig_len, _, created, _ = _HEADER_1.unpack_from(head)
        return _HEADER_1.size, name_len, sig_len, created
    if len(head) < HEADER.size:
        return None
    magic, _, name_len, sig_len, _, created, _ = HEADER.unpack_from(head)
    if magic != MAGIC:
        return None
    return HEADER.size, name_len, sig_len, created


def entry_identity(head: bytes) -> tuple[str, str, float] | None:
    """Return ``(node name, signature, created)`` from an entry's first bytes, or None.

    `head` must hold the header, the node name and the signature (:func:`parse_header` gives
    their lengths); an entry that is not one, or too short, gives None.
    """
    parsed = parse_header(head)
    if parsed is None:
        return None
    size, name_len, sig_len, created = parsed
    names = head[size : size + name_len + sig_len]
    if len(names) != name_len + sig_len:
        return None
    try:
        return names[:name_len].decode(), names[name_len:].decode(), created
    except UnicodeDecodeError:
        return None


class EntryWriter:
    """Write one entry to a stream: a placeholder header, name, signature, then the payload.

    ``pickle.dump`` writes the payload through :meth:`write`; :meth:`header` then returns the
    real header, which the caller writes at offset 0 (a file) or in front (an object).
    """

    __slots__ = ("_hasher", "_sealer", "file", "size")

    def __init__(self, file: IO[bytes], sealer: Sealer, name: bytes, signature: bytes) -> None:
        self.file = file
        self._sealer = sealer
        self._hasher = sealer.hasher()
        self._hasher.update(name + signature)
        self.size = 0
        file.write(bytes(HEADER.size))
        file.write(name + signature)

    def write(self, data: bytes) -> int:
        """Write payload bytes (what pickle calls)."""
        self._hasher.update(data)
        self.size += len(data)
        self.file.write(data)
        return len(data)

    def header(self, name_len: int, sig_len: int, created: float) -> bytes:
        """Return the entry's header, now that the payload is written."""
        fields = _FIELDS.pack(self._sealer.scheme, name_len, sig_len, self.size, created)
        seal = self._sealer.seal(fields, self._hasher.digest())
        return HEADER.pack(MAGIC, self._sealer.scheme, name_len, sig_len, self.size, created, seal)


class Reporter:
    """Warn once per entry that it is unusable, and log later sightings at debug level."""

    __slots__ = ("_lock", "_warned")

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards _warned
        self._warned: set[str] = set()

    def report(self, where: str, reason: str, *, stacklevel: int = 4) -> None:
        """Report that the entry at `where` is unusable for `reason` (a miss; it is rewritten)."""
        with self._lock:
            first = where not in self._warned
            self._warned.add(where)
        if first:
            warnings.warn(
                f"cache entry {where} is unusable: {reason}; treating it as a miss, the output "
                "is recomputed and the entry rewritten",
                RuntimeWarning,
                stacklevel=stacklevel,
            )
        else:
            logger.debug("cache entry %s is unusable again: %s", where, reason)
