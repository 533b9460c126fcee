"""How each kind of value is encoded, chosen once per class (machinery, *not* a public API).

:func:`plan_for` picks a class's *plan*: the function that writes an instance's content into
an :class:`~hypernodes.cache._hashing.Encoder`. ``__cache_key__()`` wins; then numpy values,
classes, functions and modules (by their code identity), enums, the standard library's value
types (dates, paths, decimals, builtin subclasses...), dataclasses, pydantic models, and last
any other object by its public attributes, or an :class:`UnhashableValueError` when those do
not describe it. The encoder keeps the plan per class, so the checks run once per class.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import sys
import types
import weakref
from collections.abc import Callable
from hashlib import blake2b
from typing import TYPE_CHECKING, Any

from hypernodes.cache._framing import DIGEST_SIZE, UnhashableValueError, frame, str_bytes
from hypernodes.cache._libraries import library_base, library_marker, opaque_base, qualified_name

if TYPE_CHECKING:
    from hypernodes.cache._hashing import Encoder

__all__ = ["Plan", "is_routine", "plan_for"]

Plan = Callable[["Encoder", Any], None]
"""Write the content of one value of a class into an encoder."""

_CALLABLE_TYPES = (
    types.FunctionType,
    types.MethodType,
    types.BuiltinFunctionType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    functools.partial,
)


def is_routine(obj: object) -> bool:
    """Return whether `obj` is a function, method, builtin or ``functools.partial``."""
    return isinstance(obj, _CALLABLE_TYPES)


def plan_for(cls: type) -> Plan:
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


def _encode_cache_key(enc: Encoder, value: Any) -> None:
    enc.out.append(b"K" + enc.class_header(type(value)))
    enc.encode(value.__cache_key__())


def _encode_class(enc: Encoder, value: type) -> None:
    enc.out.append(b"C" + str_bytes(qualified_name(value)) + str_bytes(enc.identity(value)))


def _encode_callable(enc: Encoder, value: object) -> None:
    enc.out.append(b"U" + str_bytes(enc.identity(value)))


def _encode_module(enc: Encoder, value: types.ModuleType) -> None:
    enc.out.append(b"M" + str_bytes(value.__name__) + str_bytes(_module_identity(value)))


def _encode_enum(enc: Encoder, value: enum.Enum) -> None:
    enc.out.append(b"n" + enc.class_header(type(value)))
    enc.encode(value._value_)


def _encode_stdlib(plan: Plan, enc: Encoder, value: object) -> None:
    enc.out.append(b"v" + str_bytes(qualified_name(type(value))))  # a stdlib value type, tagged by name
    plan(enc, value)


def _encode_subclass(plan: Plan, enc: Encoder, value: object) -> None:
    enc.out.append(b"x" + enc.class_header(type(value)))  # any other subclass: its code counts too
    plan(enc, value)


def _encode_fields(tag: bytes, fields: list[str], enc: Encoder, value: object) -> None:
    enc.attributes(tag, value, fields)


def _encode_pydantic(fields: list[str], enc: Encoder, value: object) -> None:
    enc.attributes(b"P", value, fields)
    extra = getattr(value, "__pydantic_extra__", None)  # extra="allow" fields
    enc.encode(dict(extra) if extra else None)


def _encode_object(enc: Encoder, value: object) -> None:
    if callable(getattr(value, "__wrapped__", None)):  # lru_cache and other callable wrappers
        enc.out.append(b"U" + str_bytes(enc.identity(value)))
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


def _builtin_subclass(convert: Callable[[Any], object]) -> Plan:
    """Encode an instance of a builtin subclass as the builtin value, then its public attributes."""

    def plan(enc: Encoder, value: Any) -> None:
        enc.encode(convert(value))
        state = getattr(value, "__dict__", None) or {}
        enc.encode({name: state[name] for name in sorted(state) if not name.startswith("_")})

    return plan


def _encode_text(enc: Encoder, value: object) -> None:
    enc.name(str(value))


def _encode_date(enc: Encoder, value: Any) -> None:
    enc.name(value.isoformat())


def _encode_datetime(enc: Encoder, value: Any) -> None:  # datetime.datetime or datetime.time
    enc.name(value.isoformat())
    enc.encode((value.fold, None if value.tzinfo is None else str(value.tzinfo)))


def _encode_timedelta(enc: Encoder, value: Any) -> None:
    enc.encode((value.days, value.seconds, value.microseconds))


def _encode_span(enc: Encoder, value: Any) -> None:  # range or slice
    enc.encode((value.start, value.stop, value.step))


def _encode_deque(enc: Encoder, value: Any) -> None:
    enc.encode(value.maxlen)
    enc.encode_list(list(value))


# (module, class, plan), checked in order with issubclass, so subclasses come before their
# bases. A value is tagged with its class name; an instance of a subclass that is not listed
# is encoded like its base, after its own class header.
_STDLIB: tuple[tuple[str, str, Plan], ...] = (
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
    ("builtins", "memoryview", lambda enc, v: enc.out.append(frame(b"m", v.tobytes()))),
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


def _encode_numpy(enc: Encoder, value: Any) -> None:
    """Encode a numpy array, scalar or dtype; other numpy objects by their public state."""
    import numpy as np  # only once a numpy value is seen

    cls = type(value)
    header = b"" if cls.__module__ == "numpy" else enc.class_header(cls)  # subclasses (masked...)
    if isinstance(value, np.ndarray):
        enc.out.append(b"A" + header + str_bytes(_dtype_text(value.dtype)))
        enc.encode(value.shape)
        if value.dtype.hasobject:  # the buffer holds pointers: hash the elements instead
            enc.encode_list(value.ravel().tolist())
        else:
            flat = np.ascontiguousarray(value).reshape(-1).view(np.uint8)
            enc.out.append(frame(b"a", memoryview(flat)))  # type: ignore[arg-type]
        masked = sys.modules.get("numpy.ma")
        if masked is not None and isinstance(value, masked.MaskedArray):
            enc.encode(masked.getmaskarray(value))
            enc.encode(value.fill_value)
    elif isinstance(value, np.generic):
        enc.out.append(b"g" + header + str_bytes(_dtype_text(value.dtype)))
        if value.dtype.hasobject:
            enc.encode(value.item())
        else:
            enc.out.append(frame(b"a", value.tobytes()))
    elif isinstance(value, np.dtype):
        enc.out.append(b"p" + str_bytes(_dtype_text(value)))
    else:  # a Generator, a ufunc...
        _encode_object(enc, value)


def _dtype_text(dtype: Any) -> str:
    return f"{dtype.str}{dtype.descr!r}" if dtype.fields else str(dtype.str)


def _public_state(value: object) -> list[str]:
    """Return the sorted public attribute names of a plain object, or raise."""
    cls = type(value)
    opaque = opaque_base(cls)
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
        library = library_base(cls)
        if library is not None:
            # A library keeps what matters where it likes (torch keeps weights in _parameters):
            # the public attributes alone could make two different objects hash equal.
            raise UnhashableValueError(
                f"cannot hash {qualified_name(cls)} by content: it derives from library class "
                f"{library}, which keeps state in private attributes; define __cache_key__() on it"
            )
    return names


_SLOTS: weakref.WeakKeyDictionary[type, tuple[str, ...]] = weakref.WeakKeyDictionary()


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


def _module_identity(module: types.ModuleType) -> str:
    marker = library_marker(module.__name__)
    if marker is not None:
        return marker
    import inspect  # slow to import; only for a module passed as a value

    try:
        source = inspect.getsource(module)
    except (OSError, TypeError) as exc:
        raise UnhashableValueError(f"cannot hash module {module.__name__!r}: its source is unavailable") from exc
    return blake2b(source.encode(), digest_size=DIGEST_SIZE).hexdigest()
