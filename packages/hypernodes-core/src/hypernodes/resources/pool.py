"""``ResourcePool``: the built values of resources, each built once, kept until the pool closes.

Every executor owns one pool (``Executor.resource_pool``, made on first use, closed by
``Executor.close()``). In a worker process, the executor is the one instance unpickled there
for its key, so its pool lives as long as the worker: a resource is built once per worker.
Executors whose worker side has no such instance use :meth:`ResourcePool.shared`, one pool per
key per process. Pools still open when the process exits are closed then, so worker processes
tear their resources down too.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import warnings
import weakref
from typing import TYPE_CHECKING, Any, Final, TypeVar

if TYPE_CHECKING:
    from hypernodes.engine.context import RunContext
    from hypernodes.engine.plan import FunctionStep
    from hypernodes.resources.resource import Resource

__all__ = ["ResourcePool", "fill_resources", "teardown"]

T = TypeVar("T")

_open_pools: weakref.WeakSet[ResourcePool] = weakref.WeakSet()  # pools to close at exit
_shared: dict[str, ResourcePool] = {}  # key -> the process-wide pool of ResourcePool.shared(key)
_registry_lock: Final = threading.Lock()  # guards _open_pools, _shared and the atexit registration
_atexit_registered = False



class ResourcePool:
    """Build each resource once, on first use, and keep its value until :meth:`close`.

    Thread safe: two threads asking for one resource get one value, built once (the second
    waits for the first); a resource declared ``thread_safe=False`` gets one value per thread.
    A factory that raises builds nothing: the next :meth:`get` tries again. A closed pool may
    be used again; it builds anew.

    A pool pickles as an empty pool: built values stay in the process that built them.

    Example:
        >>> from hypernodes.resources import Resource
        >>> pool = ResourcePool()
        >>> numbers = Resource(lambda: [1, 2, 3], name="numbers")
        >>> pool.get(numbers) is pool.get(numbers)
        True
        >>> pool.built
        ('numbers',)
        >>> pool.close()
        >>> pool.built
        ()
    """

    __slots__ = ("__weakref__", "_entries", "_lock")

    def __init__(self) -> None:
        self._entries: dict[str, _Shared | _PerThread] = {}
        self._lock = threading.Lock()  # guards _entries
        _track(self)

    def get(self, resource: Resource[T]) -> T:
        """Return `resource`'s value in this pool, building it on first use.

        Raises:
            Exception: What the resource's factory raised (nothing is kept).
        """
        entry = self._entries.get(resource.key)
        if entry is None:
            with self._lock:
                entry = self._entries.get(resource.key)
                if entry is None:
                    entry = _Shared(resource) if resource.thread_safe else _PerThread(resource)
                    self._entries[resource.key] = entry
        value: T = entry.value()
        return value

    @property
    def built(self) -> tuple[str, ...]:
        """The names of the resources built in this pool so far, in build order."""
        with self._lock:
            entries = list(self._entries.values())
        return tuple(entry.resource.name for entry in entries if entry.has_values())

    def close(self) -> None:
        """Tear down every built value (latest first) and forget it. Safe to call several times.

        A value is torn down by its ``close()``, or else its ``__exit__(None, None, None)``; a
        teardown that raises is reported as a warning, and the others still run.
        """
        with self._lock:
            entries, self._entries = list(self._entries.values()), {}
        for entry in reversed(entries):
            for value in reversed(entry.take_values()):
                teardown(value, entry.resource.name)

    @classmethod
    def shared(cls, key: str) -> ResourcePool:
        """Return this process's pool for `key` (made on first use), e.g. an executor's key.

        For executors whose worker side has no lasting executor instance (a task function, a
        UDF class): every task of one executor in one process then shares one pool.
        """
        pool = _shared.get(key)
        if pool is None:
            made = cls()  # made outside the lock (it registers itself); a racing extra one stays empty
            with _registry_lock:
                pool = _shared.setdefault(key, made)
        return pool

    def __reduce__(self) -> tuple[Any, ...]:
        return (ResourcePool, ())

    def __repr__(self) -> str:
        return f"ResourcePool(built={list(self.built)!r})"


def fill_resources(step: FunctionStep, kwargs: dict[str, Any], ctx: RunContext) -> None:
    """Put the values of `step`'s resource parameters into `kwargs`, from the executor's pool.

    Raises:
        Exception: What a factory raised, with a note naming the resource and the node.
    """
    pool = ctx.config.executor.resource_pool
    for parameter, resource in step.resources:
        try:
            kwargs[parameter] = pool.get(resource)
        except Exception as exc:
            with contextlib.suppress(Exception):  # an exception that refuses notes still propagates
                exc.add_note(
                    f"in node {step.name!r} of {ctx.location}, building resource {resource.name!r} "
                    f"(parameter {parameter!r}); fix its factory (try it alone with resource.build())"
                )
            raise


def teardown(value: object, name: str) -> None:
    """Close `value` (``close()`` or ``__exit__``) if it has a way to; warn if that raises."""
    close = getattr(value, "close", None)
    try:
        if callable(close):
            close()
        elif callable(getattr(value, "__exit__", None)):
            value.__exit__(None, None, None)  # type: ignore[attr-defined]
    except Exception as exc:  # one failing teardown must not keep the others from running
        warnings.warn(
            f"resource {name!r}: its teardown raised {type(exc).__name__}: {exc}; the other resources are "
            "closed anyway. Make its close() (or __exit__) safe to call once the work is done.",
            RuntimeWarning,
            stacklevel=3,
        )


class _Shared:
    """One value for every thread, built under a lock the first time it is asked for."""

    __slots__ = ("_built", "_lock", "_value", "resource")

    def __init__(self, resource: Resource[Any]) -> None:
        self.resource = resource
        self._built = False
        self._value: Any = None
        self._lock = threading.Lock()  # guards the build: one build, the others wait for it

    def value(self) -> Any:
        if self._built:
            return self._value
        with self._lock:
            if not self._built:
                self._value = self.resource.build()
                self._built = True
        return self._value

    def has_values(self) -> bool:
        return self._built

    def take_values(self) -> list[Any]:
        with self._lock:
            if not self._built:
                return []
            value, self._value, self._built = self._value, None, False
            return [value]


class _PerThread:
    """One value per thread (a resource declared ``thread_safe=False``)."""

    __slots__ = ("_local", "_lock", "_values", "resource")

    def __init__(self, resource: Resource[Any]) -> None:
        self.resource = resource
        # Thread-local storage is this entry's own state (one value per thread), not ambient
        # run state; every value is also listed in _values so that close() finds them all.
        self._local = threading.local()
        self._values: list[Any] = []
        self._lock = threading.Lock()  # guards _values

    def value(self) -> Any:
        try:
            return self._local.value
        except AttributeError:
            pass
        value = self.resource.build()
        self._local.value = value
        with self._lock:
            self._values.append(value)
        return value

    def has_values(self) -> bool:
        with self._lock:
            return bool(self._values)

    def take_values(self) -> list[Any]:
        with self._lock:
            values, self._values = self._values, []
        self._local = threading.local()
        return values


def _track(pool: ResourcePool) -> None:
    global _atexit_registered
    with _registry_lock:
        _open_pools.add(pool)
        if not _atexit_registered:
            atexit.register(_close_open_pools)
            _atexit_registered = True


def _close_open_pools() -> None:
    """Close every pool still open at exit (worker processes tear their resources down so)."""
    with _registry_lock:
        pools = list(_open_pools)
    for pool in pools:
        pool.close()
