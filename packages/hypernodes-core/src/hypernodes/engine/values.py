"""``Values``: values by name, with the cache signatures of those that have one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["Values"]


class Values(dict[str, Any]):
    """A dict of values by name that also carries their cache signatures.

    What a step reads and what it returns are ``Values``: a step's outputs come back with
    their signatures, so the steps downstream chain on them instead of re-hashing the values
    (which is also what makes a cluster run hit the entries a local run wrote). A plain
    ``Mapping`` works wherever ``Values`` are read; its values are then hashed by content.

    Attributes:
        signatures: Signature by name, for the values that have one.

    >>> a = Values({"x": 1}, {"x": "sig-x"})
    >>> merged = Values.merge({"y": 2}, a)
    >>> dict(merged), merged.signatures
    ({'y': 2, 'x': 1}, {'x': 'sig-x'})
    """

    __slots__ = ("signatures",)

    def __init__(
        self, values: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), signatures: dict[str, str] | None = None
    ) -> None:
        super().__init__(values)
        self.signatures: dict[str, str] = {} if signatures is None else signatures

    @classmethod
    def merge(cls, *parts: Mapping[str, Any]) -> Values:
        """Return the union of `parts` (later ones win), keeping the signatures of ``Values`` parts."""
        merged = cls()
        for part in parts:
            merged.update(part)
            if isinstance(part, Values):
                merged.signatures.update(part.signatures)
        return merged

    def add(self, other: Mapping[str, Any]) -> None:
        """Add `other`'s values (and signatures, if it has some) to these."""
        self.update(other)
        if isinstance(other, Values) and other.signatures:
            self.signatures.update(other.signatures)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Values, (dict(self), self.signatures))

    def __repr__(self) -> str:
        return f"Values({dict.__repr__(self)})"
