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
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import importlib.machinery
import importlib.util
import pathlib
import reprlib
import struct
import sys
import threading
import types
import weakref
from collections.abc import Callable
from hashlib import blake2b
from typing import Any, Protocol

__all__ = [
    "SupportsCacheKey",
    "UnhashableValueError",
    "encode_value",
    "hash_value",
    "is_routine",
    "library_marker",
    "qualified_name",
]

_DIGEST_SIZE = 16  # 128 bits: collisions are out of reach for any cache size
_LARGE = 1 << 16  # byte payloads this long are hashed on their own and framed by their digest
_PACK_DOUBLE = struct.Struct("<d").pack
_PACK_COMPLEX = struct.Struct("<dd").pack
_HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: set on classes made by a `class` statement

CodeIdentity = Callable[[object], str]
"""Return the code identity (a digest) of a function, class, method or other callable."""
Fallback = Callable[[object, "UnhashableValueError"], "bytes | None"]
"""Return what stands for an object without hashable content, or None to raise."""

_Plan = Callable[["_Encoder", Any], None]


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
    if cls is str:  # the hottest path, inlined: the same bytes as _str_bytes
        data = value.encode("utf-8", "surrogatepass")  # type: ignore[attr-defined]
        if len(data) < _LARGE:
            return blake2b(b"s%d:%b" % (len(data), data), digest_size=_DIGEST_SIZE).hexdigest()
    scalar = _SCALARS.get(cls)
    if scalar is not None:  # one encode, one digest
        return blake2b(scalar(value), digest_size=_DIGEST_SIZE).hexdigest()
    if cls is tuple and len(value) <= 16:  # type: ignore[arg-type]  # a short tuple of scalars
        parts = [b"t%d:" % len(value)]  # type: ignore[arg-type]
        for item in value:  # type: ignore[attr-defined]
            scalar = _SCALARS.get(type(item))
            if scalar is None:
                break
            parts.append(scalar(item))
        else:
            return blake2b(b"".join(parts), digest_size=_DIGEST_SIZE).hexdigest()
    out: list[bytes] = []
    encode_value(value, out, _memoized_identity)
    return blake2b(b"".join(out), digest_size=_DIGEST_SIZE).hexdigest()


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
        _Encoder(out, identity, fallback).encode(value)
    except RecursionError as exc:
        raise UnhashableValueError("the value is nested too deeply to hash") from exc


def _frame(tag: bytes, data: bytes | bytearray | memoryview) -> bytes:
    size = len(data)
    if size < _LARGE:
        return b"%b%d:%b" % (tag, size, data if isinstance(data, bytes) else bytes(data))
    # A large buffer is framed by its own digest, so it is never copied into the output.
    return b"%b%d#%b" % (tag, size, blake2b(data, digest_size=_DIGEST_SIZE).digest())


def _str_bytes(value: str) -> bytes:
    return _frame(b"s", value.encode("utf-8", "surrogatepass"))


# Exact types whose encoding is one bytes object; hash_value's fast paths use them directly.
_SCALARS: dict[type, Callable[[Any], bytes]] = {
    str: _str_bytes,
    int: lambda v: b"i%x;" % v,  # hex is not subject to the int-to-str digit limit
    float: lambda v: b"f" + _PACK_DOUBLE(v),
    bool: lambda v: b"T" if v else b"F",
    type(None): lambda v: b"N",
    bytes: lambda v: _frame(b"y", v),
    bytearray: lambda v: _frame(b"Y", v),
    complex: lambda v: b"c" + _PACK_COMPLEX(v.real, v.imag),
    type(Ellipsis): lambda v: b".",
    type(NotImplemented): lambda v: b"!",
}


class _Encoder:
    """One encoding pass: the output chunks and the containers on the current path."""

    __slots__ = ("fallback", "identity", "out", "stack")

    def __init__(self, out: list[bytes], identity: CodeIdentity, fallback: Fallback | None = None) -> None:
        self.out = out
        self.identity = identity
        self.fallback = fallback
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
                plan = _PLANS[cls] = _plan_for(cls)
            plan(self, value)

    def name(self, text: str) -> None:
        self.out.append(_str_bytes(text))

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
            sub = _Encoder([], self.identity, self.fallback)
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
        header = _str_bytes(qualified_name(cls)) + _str_bytes(self.identity(cls))
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


# -- plans for everything that is not an exact builtin type, chosen once per class ---------
_PLANS: weakref.WeakKeyDictionary[type, _Plan] = weakref.WeakKeyDictionary()
_HEADERS: weakref.WeakKeyDictionary[type, bytes] = weakref.WeakKeyDictionary()
_IDENTITIES: weakref.WeakKeyDictionary[object, str | UnhashableValueError] = weakref.WeakKeyDictionary()
_CALLABLE_TYPES = (
    types.FunctionType,
    types.MethodType,
    types.BuiltinFunctionType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    functools.partial,
)


def _plan_for(cls: type) -> _Plan:
    """Choose how values of `cls` are encoded; the order of the checks matters."""
    if callable(getattr(cls, "__cache_key__", None)):
        return _encode_cache_key
    if _is_numpy_type(cls):
        return _encode_numpy
    if issubclass(cls, type):
        return _encode_class
    if issubclass(cls, _CALLABLE_TYPES):
        return _encode_callable
    if issubclass(cls, types.ModuleType):
        return _encode_module
    if issubclass(cls, enum.Enum):
        return _encode_enum
    for module_name, attribute, plan in _STDLIB:
        module = sys.modules.get(module_name)  # a value of a type exists only once its module is loaded
        base = getattr(module, attribute, None)
        if isinstance(base, type) and issubclass(cls, base):
            return functools.partial(_encode_stdlib if cls is base else _encode_subclass, plan)
    if dataclasses.is_dataclass(cls):
        fields = [f.name for f in dataclasses.fields(cls) if f.compare]  # what == compares
        return functools.partial(_encode_fields, b"D", fields)
    pydantic_fields = getattr(cls, "__pydantic_fields__", None)
    if isinstance(pydantic_fields, dict) and hasattr(cls, "model_dump"):
        return functools.partial(_encode_pydantic, list(pydantic_fields))
    return _encode_object


def _encode_cache_key(enc: _Encoder, value: Any) -> None:
    enc.out.append(b"K" + enc.class_header(type(value)))
    enc.encode(value.__cache_key__())


def _encode_class(enc: _Encoder, value: type) -> None:
    enc.out.append(b"C" + _str_bytes(qualified_name(value)) + _str_bytes(enc.identity(value)))


def _encode_callable(enc: _Encoder, value: object) -> None:
    enc.out.append(b"U" + _str_bytes(enc.identity(value)))


def _encode_module(enc: _Encoder, value: types.ModuleType) -> None:
    enc.out.append(b"M" + _str_bytes(value.__name__) + _str_bytes(_module_identity(value)))


def _encode_enum(enc: _Encoder, value: enum.Enum) -> None:
    enc.out.append(b"n" + enc.class_header(type(value)))
    enc.encode(value._value_)


def _encode_stdlib(plan: _Plan, enc: _Encoder, value: object) -> None:
    enc.out.append(b"v" + _str_bytes(qualified_name(type(value))))  # a stdlib value type, tagged by name
    plan(enc, value)


def _encode_subclass(plan: _Plan, enc: _Encoder, value: object) -> None:
    enc.out.append(b"x" + enc.class_header(type(value)))  # any other subclass: its code counts too
    plan(enc, value)


def _encode_fields(tag: bytes, fields: list[str], enc: _Encoder, value: object) -> None:
    enc.attributes(tag, value, fields)


def _encode_pydantic(fields: list[str], enc: _Encoder, value: object) -> None:
    enc.attributes(b"P", value, fields)
    extra = getattr(value, "__pydantic_extra__", None)  # extra="allow" fields
    enc.encode(dict(extra) if extra else None)


def _encode_object(enc: _Encoder, value: object) -> None:
    if callable(getattr(value, "__wrapped__", None)):  # lru_cache and other callable wrappers
        enc.out.append(b"U" + _str_bytes(enc.identity(value)))
        return
    try:
        names = _public_state(value)
    except UnhashableValueError as exc:
        stand_in = enc.fallback(value, exc) if enc.fallback is not None else None
        if stand_in is None:
            raise
        enc.out.append(b"?" + stand_in)
        return
    enc.attributes(b"o", value, names)


def _builtin_subclass(convert: Callable[[Any], object]) -> _Plan:
    """Encode an instance of a builtin subclass as the builtin value, then its public attributes."""

    def plan(enc: _Encoder, value: Any) -> None:
        enc.encode(convert(value))
        state = getattr(value, "__dict__", None) or {}
        enc.encode({name: state[name] for name in sorted(state) if not name.startswith("_")})

    return plan


def _encode_text(enc: _Encoder, value: object) -> None:
    enc.name(str(value))


def _encode_date(enc: _Encoder, value: Any) -> None:
    enc.name(value.isoformat())


def _encode_datetime(enc: _Encoder, value: Any) -> None:  # datetime.datetime or datetime.time
    enc.name(value.isoformat())
    enc.encode((value.fold, None if value.tzinfo is None else str(value.tzinfo)))


def _encode_timedelta(enc: _Encoder, value: Any) -> None:
    enc.encode((value.days, value.seconds, value.microseconds))


def _encode_span(enc: _Encoder, value: Any) -> None:  # range or slice
    enc.encode((value.start, value.stop, value.step))


def _encode_deque(enc: _Encoder, value: Any) -> None:
    enc.encode(value.maxlen)
    enc.encode_list(list(value))


# (module, class, plan), checked in order with issubclass, so subclasses come before their
# bases. A value is tagged with its class name; an instance of a subclass that is not listed
# is encoded like its base, after its own class header.
_STDLIB: tuple[tuple[str, str, _Plan], ...] = (
    ("pathlib", "PurePath", _encode_text),
    ("datetime", "datetime", _encode_datetime),
    ("datetime", "date", _encode_date),
    ("datetime", "time", _encode_datetime),
    ("datetime", "timedelta", _encode_timedelta),
    ("datetime", "timezone", lambda enc, v: enc.name(repr(v))),
    ("decimal", "Decimal", _encode_text),
    ("fractions", "Fraction", lambda enc, v: enc.encode((v.numerator, v.denominator))),
    ("uuid", "UUID", lambda enc, v: enc.name(v.hex)),
    ("re", "Pattern", lambda enc, v: enc.encode((v.pattern, v.flags))),
    ("builtins", "range", _encode_span),
    ("builtins", "slice", _encode_span),
    ("builtins", "memoryview", lambda enc, v: enc.out.append(_frame(b"m", v.tobytes()))),
    ("collections", "deque", _encode_deque),
    ("types", "SimpleNamespace", lambda enc, v: enc.encode_dict(dict(vars(v)))),
    ("builtins", "str", _builtin_subclass(str)),
    ("builtins", "bytes", _builtin_subclass(bytes)),
    ("builtins", "bytearray", _builtin_subclass(bytearray)),
    ("builtins", "int", _builtin_subclass(int)),
    ("builtins", "float", _builtin_subclass(float)),
    ("builtins", "complex", _builtin_subclass(complex)),
    ("builtins", "tuple", _builtin_subclass(tuple)),
    ("builtins", "list", _builtin_subclass(list)),
    # defaultdict's factory is part of its behaviour; OrderedDict and Counter have none
    ("builtins", "dict", _builtin_subclass(lambda v: (getattr(v, "default_factory", None), dict(v)))),
    ("builtins", "frozenset", _builtin_subclass(frozenset)),
    ("builtins", "set", _builtin_subclass(set)),
)


def _is_numpy_type(cls: type) -> bool:
    if str(getattr(cls, "__module__", "")).partition(".")[0] == "numpy":
        return True
    numpy = sys.modules.get("numpy")  # a subclass defined elsewhere: numpy is loaded already
    return numpy is not None and issubclass(cls, numpy.ndarray | numpy.generic | numpy.dtype)


def _encode_numpy(enc: _Encoder, value: Any) -> None:
    """Encode a numpy array, scalar or dtype; other numpy objects by their public state."""
    import numpy as np  # only once a numpy value is seen

    cls = type(value)
    header = b"" if cls.__module__ == "numpy" else enc.class_header(cls)  # subclasses (masked...)
    if isinstance(value, np.ndarray):
        enc.out.append(b"A" + header + _str_bytes(_dtype_text(value.dtype)))
        enc.encode(value.shape)
        if value.dtype.hasobject:  # the buffer holds pointers: hash the elements instead
            enc.encode_list(value.ravel().tolist())
        else:
            flat = np.ascontiguousarray(value).reshape(-1).view(np.uint8)
            enc.out.append(_frame(b"a", memoryview(flat)))  # type: ignore[arg-type]
        masked = sys.modules.get("numpy.ma")
        if masked is not None and isinstance(value, masked.MaskedArray):
            enc.encode(masked.getmaskarray(value))
            enc.encode(value.fill_value)
    elif isinstance(value, np.generic):
        enc.out.append(b"g" + header + _str_bytes(_dtype_text(value.dtype)))
        if value.dtype.hasobject:
            enc.encode(value.item())
        else:
            enc.out.append(_frame(b"a", value.tobytes()))
    elif isinstance(value, np.dtype):
        enc.out.append(b"p" + _str_bytes(_dtype_text(value)))
    else:  # a Generator, a ufunc...
        _encode_object(enc, value)


def _dtype_text(dtype: Any) -> str:
    return f"{dtype.str}{dtype.descr!r}" if dtype.fields else str(dtype.str)


def _public_state(value: object) -> list[str]:
    """Return the sorted public attribute names of a plain object, or raise."""
    cls = type(value)
    opaque = _opaque_base(cls)
    if opaque is not None:
        what = "it is" if opaque == qualified_name(cls) else f"it extends {opaque}, which is"
        raise UnhashableValueError(
            f"cannot hash {qualified_name(cls)} by content: {what} implemented in C with state "
            "that Python cannot see (a lock, a file, a generator...); define __cache_key__() on it"
        )
    state = getattr(value, "__dict__", None)
    if not isinstance(state, dict):
        state = {}
    missing = object()
    for slot in _slot_names(cls):
        slot_value = getattr(value, slot, missing)
        if slot_value is not missing:
            state = {**state, slot: slot_value}
    names = sorted(name for name in state if not name.startswith("_"))  # assignment order varies
    if not names:
        # No content: such objects are usually compared by identity (sentinels, handles).
        what = "only private (underscore) attributes" if state else "no attributes"
        raise UnhashableValueError(
            f"cannot hash {qualified_name(cls)} by content: it has {what}; define __cache_key__() on it"
        )
    if len(names) < len(state):  # some state is private
        library = _library_base(cls)
        if library is not None:
            # A library keeps what matters where it likes (torch keeps weights in _parameters):
            # the public attributes alone could make two different objects hash equal.
            raise UnhashableValueError(
                f"cannot hash {qualified_name(cls)} by content: it derives from library class "
                f"{library}, which keeps state in private attributes; define __cache_key__() on it"
            )
    return names


_SLOTS: weakref.WeakKeyDictionary[type, tuple[str, ...]] = weakref.WeakKeyDictionary()
_OPAQUE: weakref.WeakKeyDictionary[type, str | None] = weakref.WeakKeyDictionary()


def _slot_names(cls: type) -> tuple[str, ...]:
    names = _SLOTS.get(cls)
    if names is None:
        found: dict[str, None] = {}
        for klass in cls.__mro__:
            slots = vars(klass).get("__slots__", ())
            for name in (slots,) if isinstance(slots, str) else slots:
                if name not in ("__dict__", "__weakref__"):
                    found[name] = None
        names = _SLOTS[cls] = tuple(found)
    return names


def _opaque_base(cls: type) -> str | None:
    """Return the first class in `cls`'s MRO implemented in C (hidden state), or None."""
    if cls in _OPAQUE:
        return _OPAQUE[cls]
    found = None
    for klass in cls.__mro__[:-1]:  # the last one is object, which has no state
        file = getattr(sys.modules.get(klass.__module__), "__file__", None) or ""
        if (
            not klass.__flags__ & _HEAP_TYPE
            or klass.__module__ in sys.builtin_module_names
            or file.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
        ):
            found = qualified_name(klass)
            break
    _OPAQUE[cls] = found
    return found


def _library_base(cls: type) -> str | None:
    """Return the first class in `cls`'s MRO that is library code, or None."""
    for klass in cls.__mro__[:-1]:
        if library_marker(klass.__module__) is not None:
            return qualified_name(klass)
    return None


def qualified_name(obj: object) -> str:
    """Return ``module.qualname`` of a class, function or module (of its type for others)."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(qualname, str):
        obj, qualname = type(obj), type(obj).__qualname__
    return f"{getattr(obj, '__module__', None)}.{qualname}"


def is_routine(obj: object) -> bool:
    """Return whether `obj` is a function, method, builtin or ``functools.partial``."""
    return isinstance(obj, _CALLABLE_TYPES)


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


def _module_identity(module: types.ModuleType) -> str:
    marker = library_marker(module.__name__)
    if marker is not None:
        return marker
    import inspect  # slow to import; only for a module passed as a value

    try:
        source = inspect.getsource(module)
    except (OSError, TypeError) as exc:
        raise UnhashableValueError(f"cannot hash module {module.__name__!r}: its source is unavailable") from exc
    return blake2b(source.encode(), digest_size=_DIGEST_SIZE).hexdigest()


# -- library code: represented by its distribution's version instead of being walked --------
_MARKERS: dict[str, str | None] = {}  # top-level module name -> marker
_DISTRIBUTIONS_LOCK = threading.Lock()  # guards the one-time build of _DISTRIBUTIONS
_DISTRIBUTIONS: dict[str, list[str]] | None = None


def library_marker(module_name: str | None) -> str | None:
    """Return ``"stdlib@3.11"`` or ``"dist==version"`` for library code, None for user code.

    Code belongs to a library when its top-level package is in the standard library or is
    installed under a ``site-packages`` / ``dist-packages`` directory (and HyperNodes itself);
    everything else (``__main__``, your project, editable installs) is user code, whose
    source is walked instead.
    """
    if not module_name:
        return None
    top = module_name.partition(".")[0]
    if top in _MARKERS:
        return _MARKERS[top]
    marker: str | None = None
    if top in sys.stdlib_module_names or top in ("builtins", "__future__"):
        marker = f"stdlib@{sys.version_info[0]}.{sys.version_info[1]}"
    elif top == "hypernodes" or _is_installed(top):  # ourselves too, even when editable
        marker = _distribution_marker(top)
    _MARKERS[top] = marker
    return marker


def _is_installed(top: str) -> bool:
    site = ("site-packages", "dist-packages")
    return any(part in site for path in _module_paths(top) for part in pathlib.PurePath(path).parts)


def _module_paths(top: str) -> list[str]:
    """Return where a top-level module lives, without importing it."""
    module = sys.modules.get(top)
    if module is not None:
        return [getattr(module, "__file__", None) or "", *(getattr(module, "__path__", None) or ())]
    try:
        spec = importlib.util.find_spec(top)  # a top-level name: nothing gets imported
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    return [spec.origin or "", *(spec.submodule_search_locations or ())]


def _distribution_marker(top: str) -> str:
    global _DISTRIBUTIONS
    import importlib.metadata  # slow to import; needed only for library code

    with _DISTRIBUTIONS_LOCK:
        if _DISTRIBUTIONS is None:
            _DISTRIBUTIONS = dict(importlib.metadata.packages_distributions())
        distributions = _DISTRIBUTIONS
    versions = []
    for name in sorted(set(distributions.get(top, ()))):
        try:
            versions.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ",".join(versions) or f"{top}==unknown"
