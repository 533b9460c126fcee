"""The byte format of encoded values (machinery, *not* a public API).

Every encoded value starts with a one-byte type tag; strings and byte strings are framed
by their length (``s5:hello``), and a payload of ``LARGE`` bytes or more by its length and
its own digest, so it is never copied into the output. :data:`SCALARS` maps each exact
builtin type whose encoding is one bytes object to its encoder; the encoders of
:mod:`hypernodes.cache._encoders` and :func:`hypernodes.cache._hashing.hash_value` build on
them. :class:`UnhashableValueError` is what every encoder raises for a value without
hashable content.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from hashlib import blake2b
from typing import Any

__all__ = ["DIGEST_SIZE", "LARGE", "SCALARS", "UnhashableValueError", "frame", "str_bytes"]

DIGEST_SIZE = 16  # 128 bits: collisions are out of reach for any cache size
LARGE = 1 << 16  # byte payloads this long are hashed on their own and framed by their digest
_PACK_DOUBLE = struct.Struct("<d").pack
_PACK_COMPLEX = struct.Struct("<dd").pack


class UnhashableValueError(TypeError):
    """A value cannot be hashed by its content (a lock, a file, an object with private state).

    Attributes:
        reason: What cannot be hashed, and how to fix it.
        path: Where in the value the offending part sits, e.g. ``"[2].client"``.
    """

    def __init__(self, reason: str, *, path: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path

    def __str__(self) -> str:
        return f"{self.reason} (at value{self.path})" if self.path else self.reason

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_error, (self.reason, self.path))


def _rebuild_error(reason: str, path: str) -> UnhashableValueError:
    return UnhashableValueError(reason, path=path)


def frame(tag: bytes, data: bytes | bytearray | memoryview) -> bytes:
    """Return `data` after `tag` and its length, or after its length and digest if it is large."""
    size = len(data)
    if size < LARGE:
        return b"%b%d:%b" % (tag, size, data if isinstance(data, bytes) else bytes(data))
    # A large buffer is framed by its own digest, so it is never copied into the output.
    return b"%b%d#%b" % (tag, size, blake2b(data, digest_size=DIGEST_SIZE).digest())


def str_bytes(value: str) -> bytes:
    """Return the encoding of a string (lone surrogates included)."""
    return frame(b"s", value.encode("utf-8", "surrogatepass"))


# Exact types whose encoding is one bytes object; hash_value's fast paths use them directly.
SCALARS: dict[type, Callable[[Any], bytes]] = {
    str: str_bytes,
    int: lambda v: b"i%x;" % v,  # hex is not subject to the int-to-str digit limit
    float: lambda v: b"f" + _PACK_DOUBLE(v),
    bool: lambda v: b"T" if v else b"F",
    type(None): lambda v: b"N",
    bytes: lambda v: frame(b"y", v),
    bytearray: lambda v: frame(b"Y", v),
    complex: lambda v: b"c" + _PACK_COMPLEX(v.real, v.imag),
    type(Ellipsis): lambda v: b".",
    type(NotImplemented): lambda v: b"!",
}
