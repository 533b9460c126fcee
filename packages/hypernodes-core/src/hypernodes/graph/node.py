"""``Node`` and the ``@node`` decorator: a plain function with named inputs and outputs."""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Self, overload

from hypernodes.config.runtime import UNSET, updated_setting
from hypernodes.errors import InvalidArgumentError
from hypernodes.graph.batch import check_batch
from hypernodes.resources.resource import Resource

if TYPE_CHECKING:
    from hypernodes.cache.signature import CodeFingerprint
    from hypernodes.config.runtime import ConfigPatch, RuntimeConfig

__all__ = ["Node", "node", "normalize_output_name"]

# Set once any node of this process has computed its code hash (a cache was used): until then,
# a run has no fingerprint to check, and ``Pipeline.run`` skips the check altogether.
_FINGERPRINTED = [False]


def any_fingerprinted() -> bool:
    """Return whether some node of this process has a code hash to keep current."""
    return _FINGERPRINTED[0]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def normalize_output_name(output_name: str | tuple[str, ...] | list[str], owner: str) -> tuple[str, ...]:
    """Return `output_name` as a tuple of valid identifiers, or raise naming `owner`."""
    if not isinstance(output_name, str | tuple | list):
        raise InvalidArgumentError(
            f"{owner}: output_name must be a string, or a tuple of strings for several outputs; "
            f"got {type(output_name).__name__} {output_name!r}",
            node_name=owner,
        )
    names = (output_name,) if isinstance(output_name, str) else tuple(output_name)
    if not names:
        raise InvalidArgumentError(f"{owner}: output_name must name at least one output", node_name=owner)
    for name in names:
        if not isinstance(name, str) or not name.isidentifier():
            raise InvalidArgumentError(
                f"{owner}: output name {name!r} is not a valid Python identifier; "
                "names must be usable as parameter names of downstream nodes",
                node_name=owner,
            )
    if len(set(names)) != len(names):
        raise InvalidArgumentError(f"{owner}: output_name {names!r} repeats a name", node_name=owner)
    return names


class Node:
    """A function that handles one item, with named inputs (its parameters) and outputs.

    Build nodes with :func:`node`. A node is immutable: :meth:`with_config` returns a new one.
    Calling a node calls its function, so nodes stay testable as plain functions.

    Attributes:
        func: The wrapped function.
        name: The node's name (the function's name unless given).
        output_name: The name given to ``@node`` (a string, or a tuple for several outputs).
        output_names: The outputs as a tuple, in order.
        parameters: The function's parameter names, in order, but its resource parameters;
            these are the node's inputs.
        defaults: Parameters with a default value; they are optional inputs.
        resources: Resource parameters (whose default is a :func:`~hypernodes.resource`) and
            their resources; they are not inputs: the engine passes the built values.
        batch: The node's batch form, or None (see :meth:`with_batch`).
        is_async: Whether the function is ``async def``.
        cache: Whether the node's outputs may be cached.
        version: A user-chosen string that is part of the cache signature (bump it to
            invalidate entries when a change is invisible to code hashing).
        config: A node-level ``RuntimeConfig`` override, or None.
    """

    __slots__ = (
        "_fingerprints",
        "batch",
        "cache",
        "config",
        "defaults",
        "func",
        "is_async",
        "name",
        "output_name",
        "output_names",
        "parameters",
        "resources",
        "version",
    )

    func: Callable[..., Any]
    name: str
    output_name: str | tuple[str, ...]
    output_names: tuple[str, ...]
    parameters: tuple[str, ...]
    defaults: Mapping[str, Any]
    resources: Mapping[str, Resource[Any]]
    batch: Callable[..., Any] | None
    is_async: bool
    cache: bool
    version: str | None
    config: RuntimeConfig | ConfigPatch | None
    _fingerprints: tuple[str | TypeError, tuple[CodeFingerprint, ...]] | None  # the hash, and what it read

    def __init__(
        self,
        func: Callable[..., Any],
        output_name: str | tuple[str, ...] | None = None,
        *,
        name: str | None = None,
        cache: bool = True,
        version: str | None = None,
        config: RuntimeConfig | ConfigPatch | None = None,
        batch: Callable[..., Any] | None = None,
    ) -> None:
        if not callable(func):
            raise InvalidArgumentError(f"@node needs a function, got {type(func).__name__}")
        node_name = name or getattr(func, "__name__", None) or type(func).__name__
        if node_name == "<lambda>" and name is None and output_name is None:
            raise InvalidArgumentError(
                "a lambda node needs an output_name: node(lambda x: ..., output_name='y')"
            )
        if node_name == "<lambda>":
            node_name = output_name if isinstance(output_name, str) else "lambda"
        names = normalize_output_name(output_name if output_name is not None else node_name, node_name)
        parameters, defaults, resources = _inspect_parameters(func, node_name)
        if batch is not None:
            check_batch(batch, node_name, (*parameters, *resources))
        set_ = object.__setattr__
        set_(self, "func", func)
        set_(self, "name", node_name)
        set_(self, "output_name", names[0] if isinstance(output_name, str) or output_name is None else names)
        set_(self, "output_names", names)
        set_(self, "parameters", parameters)
        set_(self, "defaults", defaults)
        set_(self, "resources", resources)
        set_(self, "batch", batch)
        set_(self, "is_async", inspect.iscoroutinefunction(func))
        set_(self, "cache", bool(cache))
        set_(self, "version", version)
        set_(self, "config", config)
        set_(self, "_fingerprints", None)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(
            f"Node is immutable; use with_config() or node(...) to derive a new one ({name!r})"
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped function.

        A resource parameter left out is built for this call (``resource.build()``); pass
        your own value (a fake model in a unit test) to skip building it.
        """
        if self.resources:
            given = inspect.signature(self.func).bind_partial(*args, **kwargs).arguments
            for name, declared in self.resources.items():
                if name not in given:
                    kwargs[name] = declared.build()
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Node({self.name!r}, inputs={self.parameters!r}, outputs={self.output_names!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        fields = (self.output_name, self.name, self.cache, self.version, self.config, self.batch)
        module_name = getattr(self.func, "__module__", None)
        qualname = getattr(self.func, "__qualname__", "")
        module = sys.modules.get(module_name) if module_name else None
        if module is not None and "<" not in qualname:
            # `@node` rebinds the function's module name to the Node, so plain pickle cannot find
            # the function by reference; refer to the module-level node instead.
            target: object = module
            for part in qualname.split("."):
                target = getattr(target, part, None)
            if isinstance(target, Node) and target.func is self.func:
                return (_node_from_reference, (module_name, qualname, *fields))
        return (_rebuild_node, (self.func, *fields))

    @property
    def code_hash(self) -> str:
        """The fingerprint of the node's code (computed on first use, then kept).

        It is not recomputed per call: :meth:`refresh_code_hash`, called once per run, tells
        whether what the code refers to changed since.

        Raises:
            TypeError: The code refers to a value that cannot be hashed by content (the
                failure is remembered, so it is not recomputed on every call).
        """
        memo = self._fingerprints
        if memo is None:
            memo = self._fingerprint_code()
        code_hash = memo[0]
        if isinstance(code_hash, TypeError):
            raise TypeError(str(code_hash))  # a fresh error: re-raising one object grows its traceback
        return code_hash

    def with_known_code_hash(self, code_hash: str) -> Self:
        """Return this node with `code_hash` as its fingerprint, trusted as it is (never recomputed).

        A node sent by value to a worker cannot read its own source there, so its fingerprint
        would differ from the caller's: the caller's hash travels with it instead (see
        ``hypernodes.executor.dumps``), and a worker's run hits the entries a local run wrote.
        """
        object.__setattr__(self, "_fingerprints", (code_hash, ()))
        return self

    def refresh_code_hash(self) -> bool:
        """Forget the code hash if a helper or global the code refers to changed; return whether it did.

        Cheap when nothing changed: it compares the objects names are bound to with the ones
        the fingerprint saw, and re-encodes only mutable values (a dict, a list, an object),
        without reading any source. ``Pipeline.run`` and ``map`` call it once per run for
        every node, so that redefining a helper, or changing a module-level value, in the
        same process (a notebook) invalidates the node's cache entries. A node whose hash was
        never computed has nothing to check.
        """
        memo = self._fingerprints
        if memo is None or all(fingerprint.is_current() for fingerprint in memo[1]):
            return False
        object.__setattr__(self, "_fingerprints", None)  # recomputed by the next code_hash
        return True

    def settle_code_hash(self) -> None:
        """Take the contents of the mutable values the code reads again, at the end of a run.

        So that what the run itself did to them (a node appending to a global list it reads,
        a helper filling a memo dict) is not mistaken for an edit by the next
        :meth:`refresh_code_hash`. ``Pipeline.run`` and ``map`` call it after every run.
        """
        memo = self._fingerprints
        if memo is None or not any(fingerprint.contents for fingerprint in memo[1]):
            return
        settled = tuple(fingerprint.settled() for fingerprint in memo[1])
        if all(new is old for new, old in zip(settled, memo[1])):
            return
        if any(new is None for new in settled):
            object.__setattr__(self, "_fingerprints", None)  # stale: recomputed by the next code_hash
        else:
            object.__setattr__(self, "_fingerprints", (memo[0], settled))

    def _fingerprint_code(self) -> tuple[str | TypeError, tuple[CodeFingerprint, ...]]:
        from hypernodes.cache.signature import fingerprint_code, node_signature  # the cache is optional work

        forms = (self.func,) if self.batch is None else (self.func, self.batch)
        fingerprints = tuple(fingerprint_code(form, version=self.version) for form in forms)
        error = next((f.error for f in fingerprints if f.error is not None), None)
        code_hash: str | TypeError
        if error is not None:
            code_hash = error
        else:
            code_hash = str(fingerprints[0].digest)
            if len(fingerprints) > 1:  # either form may have computed a cached result
                code_hash = node_signature(code_hash, [("batch form", str(fingerprints[1].digest))])
        memo = (code_hash, fingerprints)
        object.__setattr__(self, "_fingerprints", memo)  # a memo of a derived value, not state
        _FINGERPRINTED[0] = True
        return memo

    def __cache_key__(self) -> object:
        """Hash a node by its function's code, so a node calling another node sees its edits."""
        return (self.func, self.output_name, self.version)

    def with_config(self, config: RuntimeConfig | ConfigPatch | None = UNSET, **changes: Any) -> Self:
        """Return a copy of this node with its own config.

        ``with_config(RuntimeConfig(...))`` runs the node under that whole config (None removes
        it); ``with_config(retries=3)`` patches the config the node would otherwise inherit,
        so it keeps the pipeline's cache, callbacks and executor.
        """
        return self._copy(config=updated_setting(self.config, config, changes, f"node {self.name!r}"))

    def with_name(self, name: str) -> Self:
        """Return a copy of this node with another name (its outputs keep their names)."""
        return self._copy(name=name)

    def with_batch(self, batch: Callable[..., Any] | None) -> Self:
        """Return a copy of this node with a batch form: the same function over lists of inputs.

        `batch` takes the node's parameters by name, each as a list with one value per item
        (shared inputs and defaults repeated), resource parameters as their one built value,
        and returns one result per item, in item order (a tuple per item for tuple outputs):
        ``batch(**lists)[i] == func(**item_i)``. Vectorising executors use it for maps; every
        other call uses the per-item function. None removes the batch form.

        Raises:
            InvalidArgumentError: `batch` is not callable or does not take the node's parameters.
        """
        return self._copy(batch=batch)

    def _copy(self, **changes: Any) -> Self:
        fields = {
            "name": self.name,
            "cache": self.cache,
            "version": self.version,
            "config": self.config,
            "batch": self.batch,
            **changes,
        }
        return type(self)(self.func, self.output_name, **fields)


def _rebuild_node(
    func: Callable[..., Any],
    output_name: str | tuple[str, ...],
    name: str,
    cache: bool,
    version: str | None,
    config: RuntimeConfig | ConfigPatch | None,
    batch: Callable[..., Any] | None = None,
) -> Node:
    return Node(func, output_name, name=name, cache=cache, version=version, config=config, batch=batch)


def _node_from_reference(
    module_name: str,
    qualname: str,
    output_name: str | tuple[str, ...],
    name: str,
    cache: bool,
    version: str | None,
    config: RuntimeConfig | ConfigPatch | None,
    batch: Callable[..., Any] | None = None,
) -> Node:
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return Node(target.func, output_name, name=name, cache=cache, version=version, config=config, batch=batch)


def _inspect_parameters(
    func: Callable[..., Any], node_name: str
) -> tuple[tuple[str, ...], Mapping[str, Any], Mapping[str, Resource[Any]]]:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"cannot read the parameters of node {node_name!r}: {exc}") from exc
    parameters: list[str] = []
    defaults: dict[str, Any] = {}
    resources: dict[str, Resource[Any]] = {}
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            stars = "**" if parameter.kind is parameter.VAR_KEYWORD else "*"
            raise InvalidArgumentError(
                f"node {node_name!r} takes {stars}{parameter.name}; nodes are wired by parameter name, "
                "so list each input as a named parameter",
                node_name=node_name,
                input_name=parameter.name,
            )
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise InvalidArgumentError(
                f"node {node_name!r} has positional-only parameter {parameter.name!r}; "
                "nodes are called with keyword arguments, so remove the '/'",
                node_name=node_name,
                input_name=parameter.name,
            )
        if isinstance(parameter.default, Resource):  # filled by the engine; not an input
            resources[parameter.name] = parameter.default
            continue
        parameters.append(parameter.name)
        if parameter.default is not parameter.empty:
            defaults[parameter.name] = parameter.default
    return (
        tuple(parameters),
        MappingProxyType(defaults) if defaults else _EMPTY,
        MappingProxyType(resources) if resources else _EMPTY,
    )


@overload
def node(func: Callable[..., Any], /) -> Node: ...


@overload
def node(
    func: None = None,
    /,
    *,
    output_name: str | tuple[str, ...] | None = None,
    name: str | None = None,
    cache: bool = True,
    version: str | None = None,
    batch: Callable[..., Any] | None = None,
) -> Callable[[Callable[..., Any]], Node]: ...


def node(
    func: Callable[..., Any] | None = None,
    /,
    *,
    output_name: str | tuple[str, ...] | None = None,
    name: str | None = None,
    cache: bool = True,
    version: str | None = None,
    batch: Callable[..., Any] | None = None,
) -> Node | Callable[[Callable[..., Any]], Node]:
    """Turn a function into a pipeline node.

    Args:
        func: The function, when used as bare ``@node``.
        output_name: The output's name (default: the function's name), or a tuple of names
            when the function returns a tuple.
        name: The node's name (default: the function's name).
        cache: False keeps this node's outputs out of the cache.
        version: Part of the cache signature; change it to invalidate cached outputs when a
            change is invisible to code hashing (a model file, a remote service).
        batch: The node's batch form, taking lists of inputs (see :meth:`Node.with_batch`).

    Returns:
        A :class:`Node`, or a decorator making one.

    Example:
        >>> @node(output_name="doubled")
        ... def double(x: int) -> int:
        ...     return 2 * x
        >>> double.parameters, double.output_names, double(4)
        (('x',), ('doubled',), 8)
    """
    if func is not None:
        return Node(func, output_name, name=name, cache=cache, version=version, batch=batch)

    def decorate(function: Callable[..., Any]) -> Node:
        return Node(function, output_name, name=name, cache=cache, version=version, batch=batch)

    return decorate
