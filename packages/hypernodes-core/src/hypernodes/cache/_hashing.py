"""Content hashing of values for cache signatures (machinery, *not* a public API).

:func:`hash_value` writes a value as bytes and returns their BLAKE2b digest. Every value
starts with a type tag and carries a self-delimiting payload (lengths and counts first), so
values of different types never share an encoding (``1``, ``"1"``, ``True``, ``1.0``, ``[1]``
and ``(1,)`` all differ) and containers are unambiguous. Nothing depends on ``id()``, the
builtin ``hash()`` (salted per process for strings) or a ``repr`` that may hold an address, so
equal values hash equal in every process and every run.

What is hashed, by type: scalars and containers by value (dicts in insertion order, sets in
any order); numpy arrays by dtype, shape and bytes; enums, dataclasses (their ``compare``
fields), pydantic models (their fields) and other objects (their public attributes) by
content plus their class; ``__cache_key__()`` when a class defines it; functions, classes and
modules by their code (see :mod:`hypernodes.cache.signature`). A value of a class also carries
its class's code identity, so editing a method of a class whose instances a node receives
invalidates that node; it is computed once per class per process.

A value that cannot be hashed by content raises :class:`UnhashableValueError`; the engine
turns it into one warning naming the node and the input, and that call is not cached.

This module walks values; the byte format is in :mod:`hypernodes.cache._framing`, the
encoding of each kind of value in :mod:`hypernodes.cache._encoders`, and what counts as
library code in :mod:`hypernodes.cache._libraries`.
"""

from __future__ import annotations

import reprlib
import types
import weakref
from collections.abc import Callable
from hashlib import blake2b
from typing import Any, Protocol

from hypernodes.cache._encoders import Plan, plan_for
from hypernodes.cache._framing import DIGEST_SIZE, LARGE, SCALARS, UnhashableValueError, str_bytes
from hypernodes.cache._libraries import qualified_name

__all__ = [
    "Encoder",
    "SupportsCacheKey",
    "UnhashableValueError",  # defined in _framing; the engine and signature import it from here
    "encode_value",
    "hash_value",
]

CodeIdentity = Callable[[object], str]
"""Return the code identity (a digest) of a function, class, method or other callable."""
Fallback = Callable[[object, UnhashableValueError], "bytes | None"]
"""Return what stands for an object without hashable content, or None to raise."""

# Not `SCALARS` itself: CPython compiles `name.get(x)` on a name bound by an import as an
# attribute load (it expects a module), which builds a bound method per call; on this hot
# path that cost 10-15% of hash_value for an int or a 3-tuple.
_SCALARS = SCALARS


class SupportsCacheKey(Protocol):
    """An object that says what identifies it for caching.

    ``__cache_key__()`` returns any content-hashable value (a string, a tuple, ...). Define it
    on objects whose public attributes do not describe them (a model handle, a client).
    """

    def __cache_key__(self) -> object:
        """Return a content-hashable value that identifies this object."""
        ...


def hash_value(value: object) -> str:
    """Return a hex digest of `value`'s content, stable across processes and runs.

    Args:
        value: Any value; see the module docstring for what is supported.

    Returns:
        A 32-character hex string.

    Raises:
        UnhashableValueError: The value, or a part of it, cannot be hashed by content.

    >>> hash_value(1) == hash_value(1), hash_value(1) == hash_value("1")
    (True, False)
    """
    cls = type(value)
    if cls is str:  # the hottest path, inlined: the same bytes as str_bytes
        data = value.encode("utf-8", "surrogatepass")  # type: ignore[attr-defined]
        if len(data) < LARGE:
            return blake2b(b"s%d:%b" % (len(data), data), digest_size=DIGEST_SIZE).hexdigest()
    scalar = _SCALARS.get(cls)
    if scalar is not None:  # one encode, one digest
        return blake2b(scalar(value), digest_size=DIGEST_SIZE).hexdigest()
    if cls is tuple and len(value) <= 16:  # type: ignore[arg-type]  # a short tuple of scalars
        parts = [b"t%d:" % len(value)]  # type: ignore[arg-type]
        for item in value:  # type: ignore[attr-defined]
            scalar = _SCALARS.get(type(item))
            if scalar is None:
                break
            parts.append(scalar(item))
        else:
            return blake2b(b"".join(parts), digest_size=DIGEST_SIZE).hexdigest()
    out: list[bytes] = []
    encode_value(value, out, _memoized_identity)
    return blake2b(b"".join(out), digest_size=DIGEST_SIZE).hexdigest()


def encode_value(value: object, out: list[bytes], identity: CodeIdentity, fallback: Fallback | None = None) -> None:
    """Append the encoding of `value` to `out`.

    Args:
        value: The value to encode.
        out: Where the encoded chunks go.
        identity: Gives the code identity of functions and classes met in the value.
        fallback: Called with an object that has no content to hash (and the error); its
            result stands for the object, or it returns None to let the error propagate.
    """
    try:
        Encoder(out, identity, fallback).encode(value)
    except RecursionError as exc:
        raise UnhashableValueError("the value is nested too deeply to hash") from exc


class Encoder:
    """One encoding pass: the output chunks and the containers on the current path."""

    __slots__ = ("fallback", "identity", "out", "stack")

    def __init__(self, out: list[bytes], identity: CodeIdentity, fallback: Fallback | None = None) -> None:
        # Annotated, not inferred: mypy checks the plans in _encoders, which read these, in one
        # import cycle with this module (_encoders imports Encoder for type checking only).
        self.out: list[bytes] = out
        self.identity: CodeIdentity = identity
        self.fallback: Fallback | None = fallback
        self.stack: dict[int, int] = {}  # id of a container being encoded -> its depth

    def encode(self, value: object) -> None:
        cls = type(value)
        scalar = _SCALARS.get(cls)
        if scalar is not None:
            self.out.append(scalar(value))
        elif cls is tuple:
            self.encode_tuple(value)  # type: ignore[arg-type]
        elif cls is list:
            self.encode_list(value)  # type: ignore[arg-type]
        elif cls is dict:
            self.encode_dict(value)  # type: ignore[arg-type]
        elif cls is set or cls is frozenset:
            self.encode_set(b"e" if cls is set else b"E", value)  # type: ignore[arg-type]
        else:
            plan = _PLANS.get(cls)
            if plan is None:
                plan = _PLANS[cls] = plan_for(cls)
            plan(self, value)

    def name(self, text: str) -> None:
        self.out.append(str_bytes(text))

    def enter(self, value: object, tag: bytes) -> bool:
        """Start a mutable container; on a cycle write a back-reference and return False."""
        depth = self.stack.get(id(value))
        if depth is not None:
            self.out.append(b"R%d;" % depth)  # the depth on the path is stable; an id is not
            return False
        self.stack[id(value)] = len(self.stack)
        self.out.append(tag)
        return True

    def _items(self, value: list[Any] | tuple[Any, ...]) -> None:
        for index, item in enumerate(value):
            try:
                self.encode(item)
            except UnhashableValueError as exc:
                exc.path = f"[{index}]{exc.path}"
                raise

    def encode_tuple(self, value: tuple[Any, ...]) -> None:
        self.out.append(b"t%d:" % len(value))
        self._items(value)

    def encode_list(self, value: list[Any]) -> None:
        if self.enter(value, b"l%d:" % len(value)):
            self._items(value)
            del self.stack[id(value)]

    def encode_dict(self, value: dict[Any, Any]) -> None:
        # Insertion order, not sorted: it works for mixed key types, is deterministic, and a
        # node can observe it, so two dicts that iterate differently do not share a key.
        if not self.enter(value, b"d%d:" % len(value)):
            return
        for key, item in value.items():
            self.encode(key)
            try:
                self.encode(item)
            except UnhashableValueError as exc:
                exc.path = f"[{reprlib.repr(key)}]{exc.path}"
                raise
        del self.stack[id(value)]

    def encode_set(self, tag: bytes, value: set[Any] | frozenset[Any]) -> None:
        # A set of strings iterates in an order that changes with PYTHONHASHSEED: sort the
        # encodings of the elements instead.
        parts = []
        for item in value:
            sub = Encoder([], self.identity, self.fallback)
            sub.stack = self.stack
            sub.encode(item)
            parts.append(b"".join(sub.out))
        parts.sort()
        self.out.append(b"%b%d:" % (tag, len(parts)))
        self.out.extend(parts)

    def class_header(self, cls: type) -> bytes:
        """Return the encoded name and code identity of `cls` (memoized per class)."""
        memoize = self.identity is _memoized_identity
        if memoize and (header := _HEADERS.get(cls)) is not None:
            return header
        header = str_bytes(qualified_name(cls)) + str_bytes(self.identity(cls))
        if memoize:
            _HEADERS[cls] = header
        return header

    def attributes(self, tag: bytes, value: object, names: list[str]) -> None:
        """Encode an object as its class and the given attributes, in that order."""
        if not self.enter(value, tag):
            return
        self.out.append(self.class_header(type(value)) + b"%d:" % len(names))
        for name in names:
            self.name(name)
            try:
                self.encode(getattr(value, name))
            except UnhashableValueError as exc:
                exc.path = f".{name}{exc.path}"
                raise
        del self.stack[id(value)]


# -- per-class memos: what plan_for chose, class headers and code identities ---------------
_PLANS: weakref.WeakKeyDictionary[type, Plan] = weakref.WeakKeyDictionary()
_HEADERS: weakref.WeakKeyDictionary[type, bytes] = weakref.WeakKeyDictionary()
_IDENTITIES: weakref.WeakKeyDictionary[object, str | UnhashableValueError] = weakref.WeakKeyDictionary()


def _memoized_identity(obj: object) -> str:
    """Return the code identity of a callable, memoized per class and function object."""
    memoize = isinstance(obj, type | types.FunctionType)
    if memoize and (cached := _IDENTITIES.get(obj)) is not None:
        if isinstance(cached, UnhashableValueError):  # failed before: do not walk it again per value
            raise UnhashableValueError(cached.reason, path=cached.path)
        return cached
    # signature imports this module: import it here, when the first code identity is needed
    from hypernodes.cache.signature import code_fingerprint

    try:
        identity = code_fingerprint(obj)  # type: ignore[arg-type]
    except UnhashableValueError as exc:
        if memoize:
            _IDENTITIES[obj] = exc
        raise
    if memoize:
        _IDENTITIES[obj] = identity
    return identity
