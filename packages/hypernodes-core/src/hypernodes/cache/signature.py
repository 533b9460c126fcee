"""Code fingerprints of node functions and the signatures of node calls.

A node call's signature is :func:`node_signature` of the node's :func:`code_fingerprint` and
its inputs, where a root input is given by :func:`~hypernodes.cache._hashing.hash_value` of its
value and an upstream output by the producing call's signature (``"<signature>:<output>"``),
so upstream outputs are never hashed again.

The code fingerprint is computed once per node (never per call) and checked once per run
with :meth:`~hypernodes.cache._freshness.CodeFingerprint.is_current`, which repeats only the
cheap reads of the walk (see :mod:`hypernodes.cache._freshness`), so a helper redefined or a
global rebound or mutated in a notebook invalidates without re-reading any source. It covers
what a function would run: its source (as a syntax tree, so comments and formatting do not
count), its bytecode and constants (so a source file edited after import cannot pass for the
code that runs), defaults, closure values, and everything it references by name: module globals (by
content), user functions and classes (walked the same way, cycles included), and modules.
Library and standard-library code is not walked: it is represented by its distribution's
version (``numpy==2.1.0``) or ``stdlib@3.11``.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterable
from hashlib import blake2b

from hypernodes.cache._code_reading import code_digest, imported_module, references, source_digest
from hypernodes.cache._encoders import is_routine
from hypernodes.cache._freshness import ABSENT, CodeFingerprint, Recorder
from hypernodes.cache._hashing import Fallback, UnhashableValueError, encode_value
from hypernodes.cache._libraries import library_marker, qualified_name
from hypernodes.errors import InvalidArgumentError

__all__ = ["CodeFingerprint", "code_fingerprint", "fingerprint_code", "node_signature"]

_FORMAT = b"hypernodes-code/1"  # bump when the fingerprint's recipe changes
_DIGEST_SIZE = 16
# Class-body entries that are bookkeeping, not behaviour (or already covered by the source).
_SKIPPED_CLASS_ATTRIBUTES = frozenset({"__dict__", "__weakref__", "__module__", "__doc__", "__qualname__"})


def code_fingerprint(func: Callable[..., object], *, version: str | None = None) -> str:
    """Return a hex digest of the code `func` runs, stable across processes and runs.

    Call it once per node, not per call: it reads source files.

    Args:
        func: A function, method, class, ``functools.partial`` or other callable.
        version: An explicit version (``@node(version="2")``) mixed into the fingerprint, for
            what hashing cannot see (a model file, a remote service). With a version, a
            referenced global that cannot be hashed by content is represented by its type
            instead of raising: the version vouches for it.

    Returns:
        A 32-character hex string.

    Raises:
        UnhashableValueError: Without `version`, a referenced global, closure value or
            default of user code cannot be hashed by content.
        InvalidArgumentError: `func` is not callable or `version` is not a string.
    """
    fingerprint = fingerprint_code(func, version=version)
    if fingerprint.error is not None:
        raise fingerprint.error
    assert fingerprint.digest is not None  # a walk gives a digest or an error
    return fingerprint.digest


def fingerprint_code(func: Callable[..., object], *, version: str | None = None) -> CodeFingerprint:
    """Return :func:`code_fingerprint` of `func` and what it read, to check it again cheaply.

    A failed walk (a referenced value that cannot be hashed) is returned in ``error``, not
    raised, along with what it read until then: rebinding the offending global makes the
    result stale, so the walk is tried again.

    Raises:
        InvalidArgumentError: `func` is not callable or `version` is not a string.
    """
    if not callable(func):
        raise InvalidArgumentError(f"code_fingerprint() needs a function or other callable; got {type(func).__name__}")
    if version is not None and not isinstance(version, str):
        raise InvalidArgumentError(f"version must be a string such as version='2'; got {type(version).__name__}")
    walker = _Walker(strict=version is None, root=qualified_name(func))
    try:
        identity = walker.identity(func)
    except TypeError as exc:  # UnhashableValueError, or an odd callable the walk cannot read
        return walker.recorder.freeze(None, exc)
    tail = b"v%d:%b" % (len(version), version.encode()) if version is not None else b"-"
    digest = blake2b(b"%b|%b|%b" % (_FORMAT, identity.encode(), tail), digest_size=_DIGEST_SIZE).hexdigest()
    return walker.recorder.freeze(digest, None)


def node_signature(code_hash: str, inputs: Iterable[tuple[str, str]]) -> str:
    """Return the signature of one node call.

    Args:
        code_hash: The node's :func:`code_fingerprint` (the engine may mix in more, such as
            its output names, as long as it does so the same way every time).
        inputs: ``(input name, value signature)`` pairs, in any order: ``hash_value(value)``
            for a root input, ``f"{upstream_signature}:{output_name}"`` for an upstream output.

    Returns:
        A 32-character hex string.

    >>> node_signature("c0de", [("b", "2"), ("a", "1")]) == node_signature("c0de", [("a", "1"), ("b", "2")])
    True
    """
    parts = [b"node|%d:%b" % (len(code_hash), code_hash.encode())]
    for name, value_signature in sorted(inputs):
        name_bytes, sig_bytes = name.encode(), value_signature.encode()
        parts.append(b"%d:%b%d:%b" % (len(name_bytes), name_bytes, len(sig_bytes), sig_bytes))
    return blake2b(b"".join(parts), digest_size=_DIGEST_SIZE).hexdigest()


class CallSigner:
    """Signs the calls of one node as :func:`node_signature` does, its input names framed once.

    A node's input names never change, so their order and framing are worked out when its
    plan is built; a call then frames only the values' signatures (half the work of
    :func:`node_signature`, which a cached call pays on every lookup).

    Args:
        names: The input names, in the order :meth:`sign` gets their signatures.

    >>> signer = CallSigner(["b", "a"])
    >>> signer.sign("c0de", ["2", "1"]) == node_signature("c0de", [("b", "2"), ("a", "1")])
    True
    """

    __slots__ = ("_framed", "_head", "_order")

    def __init__(self, names: Iterable[str]) -> None:
        given = list(names)
        if len(set(given)) != len(given):
            raise ValueError(f"a node's input names must be unique; got {given!r}")
        self._order = sorted(range(len(given)), key=given.__getitem__)
        framed = []
        for position in self._order:
            name = given[position].encode()
            framed.append(b"%d:%b" % (len(name), name))
        self._framed = tuple(framed)
        self._head: tuple[str, bytes] = ("", b"")  # (code hash, its framing): swapped whole, so thread safe

    def sign(self, code_hash: str, signatures: list[str]) -> str:
        """Return the signature of a call whose inputs have `signatures` (in the names' order)."""
        known, head = self._head
        if known != code_hash:
            head = b"node|%d:%b" % (len(code_hash), code_hash.encode())
            self._head = (code_hash, head)
        framed = self._framed
        if len(framed) == 1:  # the common case, without a loop
            value = signatures[0].encode()
            data = b"%b%b%d:%b" % (head, framed[0], len(value), value)
        else:
            parts = [head]
            for name, position in zip(framed, self._order):
                value = signatures[position].encode()
                parts.append(b"%b%d:%b" % (name, len(value), value))
            data = b"".join(parts)
        return blake2b(data, digest_size=_DIGEST_SIZE).hexdigest()


def _digest(parts: list[bytes]) -> str:
    framed = b"".join(b"%d:%b" % (len(part), part) for part in parts)
    return blake2b(framed, digest_size=_DIGEST_SIZE).hexdigest()


class _Walker:
    """One fingerprint computation: what has been walked, and what is being walked."""

    def __init__(self, *, strict: bool, root: str) -> None:
        self.strict = strict
        self.root = root
        self._active: dict[int, str] = {}  # id -> name of the objects being walked (cycles)
        self._done: dict[int, str] = {}  # id -> identity of the objects walked in this call
        self._keep: list[object] = []  # keeps walked objects alive, so that ids stay unique
        self._modules: set[str] = set()  # user modules whose attributes are being walked
        self.recorder = Recorder()  # what the walk reads, to tell later whether it is still current

    def identity(self, obj: object) -> str:
        """Return the identity digest of a callable, class or module (memoized per walk)."""
        key = id(obj)
        done = self._done.get(key)
        if done is not None:
            return done
        if key in self._active:  # a cycle (recursion, mutual references): name it, do not walk
            return f"cycle:{self._active[key]}"
        self._active[key] = qualified_name(obj)
        try:
            identity = _digest(self._describe(obj))
        finally:
            del self._active[key]
        self._done[key] = identity
        self._keep.append(obj)
        return identity

    def _describe(self, obj: object) -> list[bytes]:
        name = qualified_name(obj).encode()
        if isinstance(obj, types.ModuleType):
            return [b"module", obj.__name__.encode(), (library_marker(obj.__name__) or "user").encode()]
        marker = library_marker(getattr(obj, "__module__", None))
        if isinstance(obj, types.FunctionType | type) and marker is not None:
            return [b"library", name, marker.encode()]
        if isinstance(obj, types.FunctionType):
            return self._function(obj)
        if isinstance(obj, type):
            return self._class(obj)
        if isinstance(obj, types.MethodType):
            return [b"method", self.identity(obj.__func__).encode(), self._value(obj.__self__, "bound object")]
        if isinstance(obj, functools.partial):
            return [
                b"partial",
                self.identity(obj.func).encode(),
                self._value(obj.args, "partial argument"),
                self._value(obj.keywords, "partial argument"),
            ]
        wrapped = getattr(obj, "__wrapped__", None)
        if wrapped is not None and callable(wrapped):  # lru_cache and other C wrappers
            self.recorder.attribute(obj, "__wrapped__")
            return [b"wrapper", qualified_name(type(obj)).encode(), self.identity(wrapped).encode()]
        owner = getattr(obj, "__self__", None)
        if is_routine(obj):  # builtins and their bound forms
            if owner is None or isinstance(owner, types.ModuleType | type):
                module = getattr(owner, "__name__", None) or getattr(obj, "__module__", None)
                return [b"builtin", name, (library_marker(module) or str(module)).encode()]
            return [b"builtin method", name, self._value(owner, "bound object")]
        return [b"callable", self._reference(obj, "callable object", frozenset())]

    def _function(self, func: types.FunctionType) -> list[bytes]:
        code = func.__code__
        recorder = self.recorder
        for attribute in ("__code__", "__defaults__", "__kwdefaults__"):
            recorder.attribute(func, attribute)
        parts = [b"function", qualified_name(func).encode(), source_digest(func), code_digest(code)]
        for default in (*(func.__defaults__ or ()), *sorted((func.__kwdefaults__ or {}).items())):
            parts.append(self._reference(default, f"a default of {func.__qualname__}()", frozenset()))
        globals_, attributes, imports = references(code)
        for name, cell in zip(code.co_freevars, func.__closure__ or (), strict=True):
            recorder.cell(cell)
            try:
                content = cell.cell_contents
            except ValueError:  # a cell not filled yet (a name bound after the def)
                parts.append(b"%b=<empty>" % name.encode())
                continue
            what = f"closure variable {name!r} of {func.__qualname__}()"
            parts.append(name.encode() + b"=" + self._reference(content, what, attributes))
        namespace = func.__globals__
        for name in sorted(globals_):
            value = recorder.binding(namespace, name)
            if value is not ABSENT:
                what = f"global {name!r} (used by {func.__qualname__}())"
                parts.append(name.encode() + b"=" + self._reference(value, what, attributes))
        package = namespace.get("__package__")
        for module_name, level in sorted(imports):
            description, origin = imported_module(module_name, level, package)
            recorder.file(origin)
            parts.append(b"import " + description.encode())
        return parts

    def _class(self, cls: type) -> list[bytes]:
        parts = [b"class", qualified_name(cls).encode(), source_digest(cls)]
        self.recorder.attribute(cls, "__bases__")
        parts.extend(self.identity(base).encode() for base in cls.__bases__)
        namespace = vars(cls)
        self.recorder.size(namespace)
        for attribute in sorted(namespace):
            member = self.recorder.binding(namespace, attribute)
            if attribute in _SKIPPED_CLASS_ATTRIBUTES:
                continue
            functions = _member_functions(member)
            if functions:
                parts.extend(attribute.encode() + b"=" + self.identity(f).encode() for f in functions)
            elif isinstance(member, type):
                parts.append(attribute.encode() + b"=" + self.identity(member).encode())
            elif not attribute.startswith("_"):
                # Class data is in the class source too; hash it if we can, never fail on it.
                parts.append(attribute.encode() + b"=" + self._value(member, attribute, lenient=True))
        return parts

    def _reference(self, value: object, what: str, attributes: frozenset[str]) -> bytes:
        """Describe a value that code refers to: a global, a closure variable or a default."""
        if isinstance(value, types.ModuleType):
            parts = [self.identity(value).encode()]
            # A user module: walk the attributes the code names (once per module on the path:
            # a package and its submodules refer to each other).
            if library_marker(value.__name__) is None and value.__name__ not in self._modules:
                self._modules.add(value.__name__)
                try:
                    members = vars(value)
                    for attribute in sorted(attributes):
                        member = self.recorder.binding(members, attribute)
                        if member is ABSENT:
                            continue
                        reference = self._reference(member, f"{value.__name__}.{attribute}", attributes)
                        parts.append(attribute.encode() + b"=" + reference)
                finally:
                    self._modules.discard(value.__name__)
            return b"".join(b"%d:%b" % (len(part), part) for part in parts)
        if isinstance(value, type) or is_routine(value) or callable(getattr(value, "__wrapped__", None)):
            return self.identity(value).encode()
        return self._value(value, what)

    def _value(self, value: object, what: str, *, lenient: bool = False) -> bytes:
        """Encode a value by content; objects without content follow :func:`_stand_in`."""
        seen: dict[int, tuple[object, str]] = {}  # the callables in the value, and their identities

        def identity(obj: object) -> str:
            found = seen[id(obj)] = (obj, self.identity(obj))
            return found[1]

        fallback: Fallback = _type_stand_in if lenient else functools.partial(_stand_in, self.strict)
        encode = functools.partial(_encode_content, fallback=fallback, lenient=lenient)
        try:
            data = encode(value, identity)
        except UnhashableValueError as exc:
            raise UnhashableValueError(
                f"the code of {self.root} refers to {what}, which cannot be hashed by content: {exc}. "
                "Give the node an explicit version (@node(version=...)) to vouch for it, or define "
                "__cache_key__() on its class"
            ) from exc
        self.recorder.content(value, data, seen, encode)
        return data


def _encode_content(value: object, identity: Callable[[object], str], *, fallback: Fallback, lenient: bool) -> bytes:
    """Encode a value that code refers to; `lenient` stands in for what cannot be hashed."""
    out: list[bytes] = []
    try:
        encode_value(value, out, identity, fallback)
    except UnhashableValueError as exc:
        if lenient:  # nested too deeply, or a class that cannot be fingerprinted
            return _type_stand_in(value, exc)
        raise
    return b"".join(out)


def _stand_in(strict: bool, value: object, error: UnhashableValueError) -> bytes | None:
    """Stand in for an object without hashable content, or return None to fail.

    A library's object (a logger, a lock, a ufunc, a client) is represented by its type and
    the library's version: its state is the library's business. A user object is represented
    that way only when the node has an explicit version that vouches for it (not `strict`).
    """
    if strict and library_marker(type(value).__module__) is None:
        return None
    return _type_stand_in(value, error)


def _type_stand_in(value: object, error: UnhashableValueError) -> bytes:
    kind = type(value)
    marker = library_marker(kind.__module__) or "user"
    label = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)  # which ufunc
    text = f"{qualified_name(kind)}|{marker}|{label}".encode()
    return b"%d:%b" % (len(text), text)


def _member_functions(member: object) -> list[object]:
    """Return the functions behind a class member (a method, property, staticmethod...)."""
    if isinstance(member, staticmethod | classmethod):
        return [member.__func__]
    if isinstance(member, property):
        return [f for f in (member.fget, member.fset, member.fdel) if f is not None]
    if isinstance(member, functools.cached_property):
        return [member.func]
    if isinstance(member, types.FunctionType) or is_routine(member):
        return [member]
    return []
