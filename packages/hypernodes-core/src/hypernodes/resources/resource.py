"""``Resource`` and ``resource()``: declare a value that is built once per worker, not per call.

A node parameter whose default is a :class:`Resource` is a *resource parameter*: it is not a
pipeline input, and the engine passes the built value at call time, taken from the pool of
the executor running the call (:class:`~hypernodes.resources.pool.ResourcePool`). A resource
is part of a call's cache signature by its name and version only, never by its value or by
what its factory closes over.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

from hypernodes.errors import InvalidArgumentError

__all__ = ["Resource", "resource"]

T = TypeVar("T")


class Resource(Generic[T]):
    """How to build a value that nodes share: a zero-argument factory, a name and a version.

    Make one with :func:`resource`. A resource is immutable and cheap to pickle: it travels
    to worker processes as its factory (by reference when importable, else by value), never as
    the built value. Its :attr:`key` survives pickling, so the copies a worker unpickles from
    every task are the same resource and share one built value there.

    Attributes:
        factory: Builds the value (called with no arguments).
        name: Names the resource in errors and in cache signatures.
        version: Part of cache signatures; change it when what the factory builds changes
            in a way that should invalidate cached results (new weights, a new model).
        thread_safe: False builds one value per thread that uses it.
        key: Identifies this declaration in every process (made once, when declared).
        signature: What stands for the resource in cache signatures: its name and version.
    """

    __slots__ = ("factory", "key", "name", "signature", "thread_safe", "version")

    factory: Callable[[], T]
    name: str
    version: str | None
    thread_safe: bool
    key: str
    signature: str

    def __init__(
        self,
        factory: Callable[[], T],
        *,
        name: str | None = None,
        version: str | None = None,
        thread_safe: bool = True,
        key: str | None = None,
    ) -> None:
        resource_name = name if name is not None else getattr(factory, "__name__", None) or type(factory).__name__
        _check(factory, resource_name, name, version)
        set_ = object.__setattr__
        set_(self, "factory", factory)
        set_(self, "name", resource_name)
        set_(self, "version", version)
        set_(self, "thread_safe", bool(thread_safe))
        set_(self, "key", key or uuid.uuid4().hex)
        set_(self, "signature", f"resource:{len(resource_name)}:{resource_name}:{version!r}")

    def build(self) -> T:
        """Call the factory and return a new value (pools call this; nodes never need to)."""
        return self.factory()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Resource is immutable; declare another one with resource(...) ({name!r})")

    def __cache_key__(self) -> object:
        """Identify the resource in cache signatures by its name and version, never by its value."""
        return ("hypernodes.resource", self.name, self.version)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Resource) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.factory, self.name, self.version, self.thread_safe, self.key))

    def __repr__(self) -> str:
        version = "" if self.version is None else f", version={self.version!r}"
        unsafe = "" if self.thread_safe else ", thread_safe=False"
        return f"Resource({self.name!r}{version}{unsafe})"


def _rebuild(factory: Callable[[], Any], name: str, version: str | None, thread_safe: bool, key: str) -> Resource[Any]:
    return Resource(factory, name=name, version=version, thread_safe=thread_safe, key=key)


def _check(factory: object, resource_name: str, name: object, version: object) -> None:
    if not callable(factory):
        raise InvalidArgumentError(
            f"resource() needs a zero-argument function that builds the value, got {type(factory).__name__}; "
            "write resource(load_model) or decorate the function with @resource"
        )
    if name is not None and (not isinstance(name, str) or not name):
        raise InvalidArgumentError(f"resource(name=...) must be a non-empty string, got {name!r}")
    if version is not None and not isinstance(version, str):
        raise InvalidArgumentError(
            f"resource {resource_name!r}: version must be a string such as version='2', got {type(version).__name__}"
        )
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return  # a builtin or C callable without a signature: trust it
    required = [
        p.name
        for p in parameters
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if required:
        raise InvalidArgumentError(
            f"resource {resource_name!r}: its factory must take no arguments, but it requires "
            f"{', '.join(map(repr, required))}. Bind them first, e.g. resource(functools.partial(load, path=...)), "
            "or give them defaults"
        )


@overload
def resource(
    factory: Callable[[], T], /, *, name: str | None = None, version: str | None = None, thread_safe: bool = True
) -> T: ...


@overload
def resource(
    factory: None = None, /, *, name: str | None = None, version: str | None = None, thread_safe: bool = True
) -> Callable[[Callable[[], T]], T]: ...


def resource(
    factory: Callable[[], T] | None = None,
    /,
    *,
    name: str | None = None,
    version: str | None = None,
    thread_safe: bool = True,
) -> T | Callable[[Callable[[], T]], T]:
    """Declare a resource: a value built by `factory` once per worker and shared by node calls.

    Use the result as the default of a node parameter; that parameter is then filled with
    the built value at call time and is not a pipeline input. The value is built lazily (a
    run served entirely from the cache never builds it), once per executor and per worker
    process, and reused across items and runs until the executor closes, which tears it down
    (``close()``, or ``__exit__(None, None, None)``, when the value has one).

    The return value is typed as the value it stands for (as ``dataclasses.field()`` is), so
    ``model: Model = MODEL`` type-checks; at run time it is a :class:`Resource`.

    Args:
        factory: A zero-argument callable building the value, when not used as ``@resource(...)``.
        name: The resource's name (default: the factory's name).
        version: Part of cache signatures (the value and the factory's code are not): change
            it to invalidate the cached results computed with the old value.
        thread_safe: False builds one value per thread (for clients that must not be shared).

    Returns:
        A :class:`Resource`, or a decorator making one.

    Example:
        >>> from hypernodes import Pipeline, node
        >>> @resource(version="1")
        ... def vocabulary() -> dict[str, int]:
        ...     return {"a": 1, "b": 2}
        >>> @node(output_name="ids")
        ... def encode(text: str, vocab: dict[str, int] = vocabulary) -> list[int]:
        ...     return [vocab[t] for t in text.split()]
        >>> Pipeline(nodes=[encode]).root_args
        ('text',)
        >>> Pipeline(nodes=[encode]).run(inputs={"text": "b a"})
        {'ids': [2, 1]}
    """
    if factory is not None:
        return Resource(factory, name=name, version=version, thread_safe=thread_safe)  # type: ignore[return-value]

    def declare(function: Callable[[], T]) -> T:
        return Resource(function, name=name, version=version, thread_safe=thread_safe)  # type: ignore[return-value]

    return declare
