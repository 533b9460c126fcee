"""The ``Executor`` extension point: HOW the steps of a run and the items of a map are scheduled."""

from __future__ import annotations

import abc
import functools
import inspect
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from hypernodes._types import Outputs
    from hypernodes.executor.request import MapRequest, RunRequest
    from hypernodes.resources.pool import ResourcePool

__all__ = ["Executor"]

_POOL_ATTRIBUTE = "_hypernodes_resource_pool"
_pool_lock = threading.Lock()  # guards making an executor's resource pool (once per executor)


class Executor(abc.ABC):
    """Schedule the steps of a run and the items of a map.

    An executor only decides what runs when and where; what running one step means (input
    resolution, cache, callbacks, retries, timeout, nested pipelines) is the engine's, which
    every executor reaches through :mod:`hypernodes.executor`. There is one abstract method,
    :meth:`run_pipeline`; :meth:`map_items` is derived from it (each item run in turn) and is
    worth overriding only to run items concurrently. The pipeline, map and item hooks fire
    around what the executor is handed, so an executor never fires hooks itself.

    An executor owns its resources (pools, clients): it makes them on first use and frees
    them in :meth:`close`, which ``__exit__`` calls and which is safe to call several times.
    The values of resources (:func:`~hypernodes.resource`) that its node calls use live in
    its :attr:`resource_pool`; an override of :meth:`close` calls :meth:`close_resources`.
    See ``docs/advanced/writing-an-executor.md``.

    Executors written against HyperNodes 0.1, whose methods take the loose arguments
    (``run_pipeline(pipeline, inputs, ctx, output_name)``, ``map_items(pipeline, items,
    inputs, ctx, output_name)``), keep working: such a method is adapted when its class is
    defined, and the methods of this package accept the loose arguments from their
    ``super()`` calls.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, arity in (("run_pipeline", 4), ("map_items", 5)):
            method = cls.__dict__.get(name)
            if callable(method) and _takes_loose_arguments(method, arity):
                setattr(cls, name, _adapt_loose(method))
                # Its super() calls pass loose arguments: let the methods it may reach take them.
                # (Done only now, so that executors written for this API pay no wrapper per call.)
                for base in cls.__mro__[1:]:
                    inherited = base.__dict__.get(name)
                    if (
                        callable(inherited)
                        and not getattr(inherited, "_hypernodes_adapted", False)
                        and not getattr(inherited, "__isabstractmethod__", False)
                    ):
                        setattr(base, name, _accept_loose(inherited, name))

    @abc.abstractmethod
    def run_pipeline(self, request: RunRequest) -> Outputs:
        """Run the steps of ``request.plan`` once; return the outputs ``request.select`` picks.

        Run each step after the steps it depends on (``step.dependencies``), with
        :func:`~hypernodes.executor.run_step`, or hand the whole request to
        :func:`~hypernodes.executor.run_in_order`.
        """

    def map_items(self, request: MapRequest) -> list[Outputs]:
        """Run ``request.pipeline`` once per item; return the outputs in item order.

        The default runs the items one after the other with
        :func:`~hypernodes.executor.run_item` (which fires the item hooks), each through
        ``request.runner`` or else this executor's :meth:`run_pipeline`.
        """
        from hypernodes.engine.engine import ENGINE  # the engine imports this module (through the config)

        run = request.runner or self.run_pipeline
        run_item = ENGINE.run_item
        return [run_item(request, position, run) for position in range(len(request.items))]

    def close(self) -> None:
        """Free the executor's resources. Safe to call several times.

        Overrides call :meth:`close_resources` (this default does only that).
        """
        self.close_resources()

    @property
    def resource_pool(self) -> ResourcePool:
        """The built resources of the node calls this executor runs (made on first use).

        In a worker process, the executor unpickled there has its own pool (a pool pickles
        as an empty one), so a resource is built once per worker as long as the worker keeps
        one executor instance (or overrides this to return ``ResourcePool.shared(key)``).
        """
        pool: ResourcePool | None = self.__dict__.get(_POOL_ATTRIBUTE)
        if pool is None:
            from hypernodes.resources.pool import ResourcePool  # light; imported here to keep this module minimal

            with _pool_lock:
                pool = self.__dict__.setdefault(_POOL_ATTRIBUTE, ResourcePool())
        return pool

    def close_resources(self) -> None:
        """Tear down the resources built in :attr:`resource_pool`. Safe to call several times."""
        pool: ResourcePool | None = self.__dict__.get(_POOL_ATTRIBUTE)
        if pool is not None:
            pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _takes_loose_arguments(method: Callable[..., Any], arity: int) -> bool:
    if getattr(method, "_hypernodes_adapted", False) or getattr(method, "__isabstractmethod__", False):
        return False
    try:
        parameters = list(inspect.signature(method).parameters.values())[1:]
    except (TypeError, ValueError):
        return False
    return sum(1 for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)) >= arity


def _adapt_loose(method: Callable[..., Any]) -> Callable[..., Any]:
    """Let an old-style `method` (loose arguments) be called with a request."""

    @functools.wraps(method)
    def adapted(self: Executor, request: Any, *rest: Any) -> Any:
        if rest:
            return method(self, request, *rest)
        return method(self, *request.loose())

    adapted._hypernodes_adapted = True  # type: ignore[attr-defined]
    return adapted


def _accept_loose(method: Callable[..., Any], name: str) -> Callable[..., Any]:
    """Let a request `method` also be called with the loose arguments (from an old-style super() call)."""
    from hypernodes.executor.request import MapRequest, RunRequest  # light module; no cycle

    make = RunRequest.of if name == "run_pipeline" else MapRequest.of

    @functools.wraps(method)
    def adapted(self: Executor, request: Any, *rest: Any) -> Any:
        if rest:
            request = make(request, *rest)
        return method(self, request)

    adapted._hypernodes_adapted = True  # type: ignore[attr-defined]
    return adapted
