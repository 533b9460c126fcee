"""Tell cheaply whether a code fingerprint is still current (machinery, *not* a public API).

A code fingerprint (:mod:`hypernodes.cache.signature`) reads source and bytecode, which is too
slow to repeat for every run. In a notebook, though, the code a node runs changes in place:
a helper is redefined (``def helper`` again binds a new function to the same global), a
module-level value is rebound (``THRESHOLD = 0.9``) or mutated (``SETTINGS["scale"] = 10``).

So while the walk reads what the code refers to, a :class:`Recorder` notes each read: which
object a name was bound to in which namespace, which code object, defaults and closure cells
a function had, how many members a class had, and for a mutable value (a dict, a list, an
object) the digest of its encoding. :meth:`CodeFingerprint.is_current` repeats only those
reads: identity checks for bindings (``namespace.get(name) is recorded``), and a re-encoding
for mutable values, whose cost grows with their size. Only when one differs is the
fingerprint computed again. :meth:`CodeFingerprint.settled`, at the end of a run, takes the
contents again, so that a node that changes a value it reads (a log list it appends to, a
memo dict) does not invalidate itself: edits between runs count, a run's own side effects
do not.
"""

from __future__ import annotations

import dataclasses
import enum
import marshal
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from hashlib import blake2b
from types import CellType
from typing import Final

from hypernodes.cache._framing import DIGEST_SIZE, UnhashableValueError

__all__ = ["ABSENT", "CodeFingerprint", "Recorder", "UnknownCode"]

ABSENT: Final = object()
"""Stands for a name that was not bound, or a closure cell that was empty."""

_IMMUTABLE_TYPES = frozenset({str, int, float, complex, bytes, bool, type(None), type(Ellipsis), range})

Encode = Callable[[object, Callable[[object], str]], bytes]
"""Encode a value as the walk did, with the given code identity for the callables in it."""


class UnknownCode(Exception):  # a signal between two functions, never shown to users
    """A value now holds a callable or class that the recorded walk did not see."""


def _is_immutable(value: object) -> bool:
    """Return whether `value` cannot change in place (so the check of its binding covers it)."""
    cls = type(value)
    if cls in _IMMUTABLE_TYPES or isinstance(value, enum.Enum):
        return True
    if cls is tuple or cls is frozenset:
        return all(_is_immutable(item) for item in value)  # type: ignore[attr-defined]
    return False


@dataclass(frozen=True, slots=True)
class _Content:
    """A mutable value read by the walk, and the digest of its encoding then."""

    value: object
    digest: bytes
    identities: Mapping[int, tuple[object, str]]  # id -> (callable, the identity the walk gave it)
    encode: Encode | None  # None: plain data, checked through marshal (C speed)

    def holds(self) -> bool:
        return self.digest_now() == self.digest

    def digest_now(self) -> bytes | None:
        """Return the digest of the value's encoding now, or None if it cannot be encoded as before."""
        try:
            data = _quick_data(self.value) if self.encode is None else self.encode(self.value, self._identity)
        except (UnknownCode, UnhashableValueError, RecursionError, ValueError):
            return None
        return blake2b(data, digest_size=DIGEST_SIZE).digest()

    def _identity(self, obj: object) -> str:
        known = self.identities.get(id(obj))
        if known is None or known[0] is not obj:
            raise UnknownCode(obj)
        return known[1]


class Recorder:
    """Collect what one fingerprint walk read; :meth:`freeze` makes it a fingerprint."""

    __slots__ = ("_attributes", "_bindings", "_cells", "_contents", "_files", "_sizes")

    def __init__(self) -> None:
        self._bindings: dict[tuple[int, str], tuple[Mapping[str, object], str, object]] = {}
        self._attributes: dict[tuple[int, str], tuple[object, str, object]] = {}
        self._cells: dict[int, tuple[CellType, object]] = {}
        self._sizes: dict[int, tuple[Mapping[str, object], int]] = {}
        self._contents: dict[int, _Content] = {}
        self._files: dict[str, tuple[int, int] | None] = {}

    def binding(self, namespace: Mapping[str, object], name: str) -> object:
        """Read `name` in `namespace` (globals, a module's or a class's dict); return it or ABSENT."""
        value = namespace.get(name, ABSENT)
        self._bindings.setdefault((id(namespace), name), (namespace, name, value))
        return value

    def attribute(self, owner: object, name: str) -> None:
        """Note the object `owner.name` is now (``__code__``, ``__defaults__``, ``__bases__``...)."""
        self._attributes.setdefault((id(owner), name), (owner, name, getattr(owner, name, ABSENT)))

    def cell(self, cell: CellType) -> None:
        """Note what a closure cell holds now."""
        self._cells.setdefault(id(cell), (cell, _cell_contents(cell)))

    def size(self, namespace: Mapping[str, object]) -> None:
        """Note how many names `namespace` has (a class gains or loses a member)."""
        self._sizes.setdefault(id(namespace), (namespace, len(namespace)))

    def file(self, path: str | None) -> None:
        """Note the size and modification time of a source file read by the walk."""
        if path is not None and path not in self._files:
            self._files[path] = _file_state(path)

    def content(self, value: object, data: bytes, identities: Mapping[int, tuple[object, str]], encode: Encode) -> None:
        """Note the encoding of a value the code refers to, unless the value cannot change in place."""
        if id(value) in self._contents or _is_immutable(value):
            return
        try:  # plain data (dicts, lists, sets of scalars): compared through marshal, 10x faster
            quick: bytes | None = _quick_data(value)
        except ValueError:  # objects, functions: through the walk's own encoding
            quick = None
        if quick is not None:
            self._contents[id(value)] = _Content(value, blake2b(quick, digest_size=DIGEST_SIZE).digest(), {}, None)
        else:
            digest = blake2b(data, digest_size=DIGEST_SIZE).digest()
            self._contents[id(value)] = _Content(value, digest, dict(identities), encode)

    def freeze(self, digest: str | None, error: TypeError | None) -> CodeFingerprint:
        """Return the fingerprint `digest` (or the `error` the walk raised) with what was read."""
        return CodeFingerprint(
            digest=digest,
            error=error,
            bindings=tuple(self._bindings.values()),
            attributes=tuple(self._attributes.values()),
            cells=tuple(self._cells.values()),
            sizes=tuple(self._sizes.values()),
            files=tuple(self._files.items()),
            contents=tuple(self._contents.values()),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeFingerprint:
    """A code fingerprint, and what its walk read, to tell whether it is still current.

    Attributes:
        digest: The fingerprint (a hex string), or None when the walk failed.
        error: Why the walk failed (a value that cannot be hashed), or None.
    """

    digest: str | None
    error: TypeError | None
    bindings: tuple[tuple[Mapping[str, object], str, object], ...]
    attributes: tuple[tuple[object, str, object], ...]
    cells: tuple[tuple[CellType, object], ...]
    sizes: tuple[tuple[Mapping[str, object], int], ...]
    files: tuple[tuple[str, tuple[int, int] | None], ...]
    contents: tuple[_Content, ...]

    def is_current(self) -> bool:
        """Return whether the code would still be fingerprinted the same (cheap: no source is read)."""
        if not self._bindings_hold():
            return False
        for namespace, size in self.sizes:
            if len(namespace) != size:
                return False
        for path, state in self.files:
            if _file_state(path) != state:
                return False
        return all(content.holds() for content in self.contents)

    def settled(self) -> CodeFingerprint | None:
        """Return this fingerprint with the contents of mutable values taken again, now.

        Called at the end of a run, so that what the run's own nodes did to the values they
        read (append to a global log list, fill a memo dict) is not taken for an edit at the
        start of the next run. Returns self when nothing changed, and None when a binding
        changed or a value can no longer be encoded as before (the fingerprint is stale).
        """
        if not self.contents:
            return self
        digests = [content.digest_now() for content in self.contents]
        if all(new == content.digest for new, content in zip(digests, self.contents)):
            return self
        if None in digests or not self._bindings_hold():
            return None
        contents = tuple(
            dataclasses.replace(content, digest=new)  # type: ignore[arg-type]
            for content, new in zip(self.contents, digests)
        )
        return dataclasses.replace(self, contents=contents)

    def _bindings_hold(self) -> bool:
        for namespace, name, value in self.bindings:
            if namespace.get(name, ABSENT) is not value:
                return False
        for owner, name, value in self.attributes:
            if getattr(owner, name, ABSENT) is not value:
                return False
        return all(_cell_contents(cell) is value for cell, value in self.cells)


def _quick_data(value: object) -> bytes:
    """Serialize plain builtin data, or raise ValueError for anything else.

    Only to tell whether a value changed in this process, never as a key: marshal's bytes are
    not canonical (a set's order follows its hashes). Version 2 writes no back-references,
    whose presence would depend on reference counts.
    """
    return marshal.dumps(value, 2)  # type: ignore[arg-type]  # raises ValueError for what it cannot write


def _cell_contents(cell: CellType) -> object:
    try:
        return cell.cell_contents
    except ValueError:  # a cell not filled yet
        return ABSENT


def _file_state(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
