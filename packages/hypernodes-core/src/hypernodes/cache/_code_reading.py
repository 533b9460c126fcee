"""How a fingerprint reads code: names, imports, source and bytecode (machinery, *not* a public API)."""

from __future__ import annotations

import ast
import dis
import importlib.util
import inspect
import textwrap
import types
from hashlib import blake2b

from hypernodes.cache._hashing import UnhashableValueError, encode_value
from hypernodes.cache._libraries import library_marker

__all__ = ["code_digest", "imported_module", "references", "source_digest"]

_DIGEST_SIZE = 16
_GLOBAL_OPS = frozenset({"LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL"})
_ATTRIBUTE_OPS = frozenset({"LOAD_ATTR", "LOAD_METHOD", "LOAD_SUPER_ATTR", "IMPORT_FROM", "STORE_ATTR"})


def references(code: types.CodeType) -> tuple[set[str], frozenset[str], set[tuple[str, int]]]:
    """Return the global names, attribute names and ``(module, level)`` imports in `code`."""
    globals_: set[str] = set()
    attributes: set[str] = set()
    imports: set[tuple[str, int]] = set()
    pending = [code]
    while pending:
        current = pending.pop()
        constants: list[object] = []  # IMPORT_NAME follows LOAD_CONST level, LOAD_CONST fromlist
        for instruction in dis.get_instructions(current):
            op = instruction.opname
            if op in _GLOBAL_OPS:
                globals_.add(instruction.argval)
            elif op in _ATTRIBUTE_OPS:
                attributes.add(instruction.argval)
            elif op == "IMPORT_NAME":
                level = constants[-2] if len(constants) >= 2 and isinstance(constants[-2], int) else 0
                imports.add((instruction.argval, level))
            constants = [*constants[-1:], instruction.argval] if op == "LOAD_CONST" else constants
        pending.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
    return globals_, frozenset(attributes), imports


def imported_module(name: str, level: int, package: object) -> tuple[str, str | None]:
    """Describe a module imported inside a function, whether or not it was imported yet.

    The description must not depend on whether the function already ran, so a user module is
    described by its whole source file, found without executing it. Returns the description
    and the path of the file read, if any.
    """
    try:
        absolute = importlib.util.resolve_name("." * level + name, str(package)) if level else name
    except (ImportError, ValueError):
        return f"unresolved {'.' * level}{name}", None
    marker = library_marker(absolute)
    if marker is not None:
        return f"{absolute} {marker}", None
    try:
        spec = importlib.util.find_spec(absolute)
    except (ImportError, ValueError):
        spec = None
    origin = getattr(spec, "origin", None)
    if not isinstance(origin, str):
        return f"{absolute} unreadable", None
    try:
        with open(origin, "rb") as file:
            source = file.read()
    except OSError:
        return f"{absolute} unreadable", origin
    return f"{absolute} {blake2b(source, digest_size=_DIGEST_SIZE).hexdigest()}", origin


def source_digest(obj: types.FunctionType | type) -> bytes:
    """Return a digest of `obj`'s source syntax tree, or of nothing when there is no source."""
    try:
        source = inspect.getsource(obj)
    except Exception:  # inspect raises OSError, TypeError, IndexError... on odd sources
        return b"no source"
    try:
        text = ast.dump(ast.parse(textwrap.dedent(source)), annotate_fields=False)
    except SyntaxError:  # a lambda's source is its whole line, which may not parse alone
        text = source
    return blake2b(text.encode(), digest_size=_DIGEST_SIZE).hexdigest().encode()


def code_digest(code: types.CodeType) -> bytes:
    """Return a digest of a code object's bytecode, names and constants (nested code too)."""
    out: list[bytes] = [
        code.co_code,
        "|".join((*code.co_names, "#", *code.co_varnames, "#", *code.co_freevars, "#", *code.co_cellvars)).encode(),
        b"%d,%d,%d,%d" % (code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_flags),
    ]
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            out.append(code_digest(constant))
        else:  # literals only: str, bytes, numbers, tuples, frozensets, None, Ellipsis
            encode_value(constant, out, _no_code)
    return blake2b(b"".join(b"%d:%b" % (len(p), p) for p in out), digest_size=_DIGEST_SIZE).digest()


def _no_code(obj: object) -> str:
    raise UnhashableValueError(f"unexpected code object in constants: {obj!r}")
