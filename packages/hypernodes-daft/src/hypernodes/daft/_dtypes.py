"""Which values may live in a native Daft column, and the exact checks that keep them unchanged (private).

A value goes into a native column (Int64, Float64, Utf8, Boolean, Binary, or a List of one of
those) only when it comes back from Daft as an equal value of the same type: an ``int`` that
fits in 64 bits, a ``float``, a ``str``, a ``bool``, ``bytes``, or a ``list`` of such. The node's
return annotation chooses the column's dtype once per plan; each value is then checked
exactly (``type(v) is int``: a ``bool`` is not an ``int`` here, a ``numpy.int64`` is not
either), and a value that fails the check is kept by the executor instead, so it round-trips
unchanged whatever the annotation promised.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daft import DataType

__all__ = ["NativeType", "native_type_of_annotation", "native_type_of_values"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _is_int(value: object) -> bool:
    return type(value) is int and _INT64_MIN <= value <= _INT64_MAX


def _exact(kind: type) -> Callable[[object], bool]:
    def check(value: object) -> bool:
        return type(value) is kind

    return check


_SCALARS: dict[type, tuple[str, Callable[[object], bool]]] = {
    bool: ("bool", _exact(bool)),
    int: ("int64", _is_int),
    float: ("float64", _exact(float)),
    str: ("string", _exact(str)),
    bytes: ("binary", _exact(bytes)),
}


class NativeType:
    """A native Daft dtype and the exact check a value must pass to be stored in it.

    Attributes:
        name: Readable name (``"int64"``, ``"list[string]"``), for plans and logs.
        check: Whether a value round-trips unchanged through the dtype.
    """

    __slots__ = ("_element", "check", "name")

    def __init__(self, name: str, check: Callable[[object], bool], element: str | None = None) -> None:
        self.name = name
        self.check = check
        self._element = element

    def dtype(self) -> DataType:
        """Return the Daft dtype (imports Daft)."""
        from daft import DataType

        if self._element is not None:
            element: Callable[[], DataType] = getattr(DataType, self._element)
            listed: DataType = DataType.list(element())
            return listed
        make: Callable[[], DataType] = getattr(DataType, self.name)
        return make()

    def __repr__(self) -> str:
        return f"NativeType({self.name})"


def _scalar(kind: object) -> NativeType | None:
    entry = _SCALARS.get(kind) if isinstance(kind, type) else None
    return None if entry is None else NativeType(entry[0], entry[1])


def _list_of(kind: object) -> NativeType | None:
    entry = _SCALARS.get(kind) if isinstance(kind, type) else None
    if entry is None:
        return None
    element_name, element_check = entry

    def check(value: object) -> bool:
        return type(value) is list and all(element_check(item) for item in value)

    return NativeType(f"list[{element_name}]", check, element_name)


def native_type_of_annotation(func: Callable[..., Any]) -> NativeType | None:
    """Return the native type `func`'s return annotation allows, or None (Python values).

    ``int``, ``float``, ``str``, ``bool``, ``bytes`` and ``list[X]`` of one of them qualify;
    anything else (``Optional``, unions, tuples, classes, no annotation, an annotation that
    cannot be resolved) keeps the values in Python.
    """
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # a forward reference to a local class, say: no native column
        return None
    annotation = hints.get("return")
    if annotation is None:
        return None
    if typing.get_origin(annotation) is list:
        (element,) = typing.get_args(annotation) or (None,)
        return _list_of(element)
    return _scalar(annotation)


def native_type_of_values(values: Sequence[object]) -> NativeType | None:
    """Return the native type every one of `values` fits exactly, or None (Python values)."""
    if not values:
        return None
    first = values[0]
    candidate = _list_of(type(first[0])) if type(first) is list and first else _scalar(type(first))
    if candidate is None:
        return None
    check = candidate.check
    return candidate if all(check(value) for value in values) else None
