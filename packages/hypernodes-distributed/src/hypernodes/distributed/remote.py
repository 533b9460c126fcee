"""``RemoteBackend``: ship a whole run or map to a Dask, Ray or Spark cluster and run it there.

WHERE, not HOW: the run (or each chunk of a map's items) is core's run payload, whose config
has a ``LocalBackend``, so on the cluster it runs with the config's own executor (sequential,
threads, ...), cache spec and callbacks (their events relayed to the caller).

How a kind plugs in (for the authors of ``_remote_<kind>.py``)
-----------------------------------------------------------------
Each kind is one private module, ``hypernodes.distributed._remote_<kind>``, imported on first
use, which defines::

    def connect(settings: RemoteSettings) -> Target: ...

returning an object with the :class:`Target` protocol below. The backend calls
``target.run(shared, chunks, receiver)`` once per ``run`` or ``map``: `shared` is
``RunPayload.encode(receiver)`` (the same bytes for every chunk), `chunks` the
``RunPayload.encode_items(start, stop)`` of each chunk (``[None]`` for a run). The target runs
``hypernodes.executor.run_payload(shared, chunk, send)`` once per chunk on the cluster, inside
``_scope.inside_task(_scope.Task(kind))`` (so that work nested there stays there), relays every
event the worker passes to ``send(bytes)`` into ``receiver.receive(bytes)`` in the caller, and
returns the answers **in chunk order**, once every event of every chunk has been received (or
a bounded wait for them has run out). It never decodes answers: the backend does, raising the
node's own error. ``target.parallelism()`` says how many chunks can run at once (the backend
makes about four chunks per slot); ``target.close()`` frees what ``connect`` made (never a
cluster or client the user passed in) and may be called several times.
"""

from __future__ import annotations

import importlib
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

from typing_extensions import override

from hypernodes import Backend, InvalidArgumentError, LocalBackend
from hypernodes.distributed import _scope
from hypernodes.distributed._shipping import ship_user_modules
from hypernodes.executor import EventReceiver, MapRequest, RunPayload, RunRequest

if TYPE_CHECKING:
    from hypernodes.executor import Inputs, OutputNames, Outputs, RunContext
    from hypernodes.graph.pipeline import Pipeline

__all__ = ["RemoteBackend", "RemoteKind", "RemoteSettings", "Target"]

RemoteKind = Literal["dask", "ray", "spark"]

_CHUNKS_PER_SLOT = 4


class Target(Protocol):
    """A connected cluster of one kind, as :class:`RemoteBackend` uses it (see the module docstring)."""

    def parallelism(self) -> int:
        """Return how many chunks the cluster runs at once (worker threads, cores, CPUs)."""
        ...

    def run(self, shared: bytes, chunks: Sequence[bytes | None], receiver: EventReceiver) -> list[bytes]:
        """Run ``run_payload(shared, chunk, send)`` per chunk on the cluster; return the answers in chunk order."""
        ...

    def close(self) -> None:
        """Free what ``connect`` made; safe to call several times."""
        ...


@dataclass(frozen=True, kw_only=True)
class RemoteSettings:
    """What a ``_remote_<kind>.connect`` is given: the backend's arguments.

    Attributes:
        kind: The engine.
        address: Where the cluster is (a Dask scheduler address, a Spark master or ``sc://`` URL,
            a Ray address), or None.
        client: A connection the user already has (a ``distributed.Client``, a ``SparkSession``,
            ...), or None; the target must not close it.
        security: The engine's own security object (a Dask ``Security``, a Spark Connect token).
        options: Engine-specific settings (e.g. Spark configuration entries).
    """

    kind: RemoteKind
    address: str | None = None
    client: Any = None
    security: Any = None
    options: Mapping[str, Any] = field(default_factory=dict)


class RemoteBackend(Backend):
    """Run whole runs and maps on a Dask, Ray or Spark cluster, with the config's executor there.

    Choose it over ``DaskExecutor`` / ``RayExecutor`` when the work should leave this machine
    as a whole: a ``run`` is one task on the cluster; a ``map`` is split into chunks of items,
    one task each, and each chunk runs its items with the config's executor (e.g. a
    ``ThreadPoolExecutor`` for I/O-bound nodes). Callback events come back to the caller;
    a node's error comes back as itself. The cache is made on the cluster from the config's
    ``CacheSpec``: a disk cache must be on storage every worker sees.

    * ``kind="dask"``: `address` of a scheduler (``"tcp://10.0.0.5:8786"``, with `security`, a
      ``distributed.Security``, for TLS) or `client`, a ``distributed.Client``. Events arrive live.
    * ``kind="spark"``: `address` a master URL (``"local[2]"``, ``"spark://host:7077"``) or a Spark
      Connect URL (``"sc://host:15002"``), or `client`, a ``SparkSession``; `options` are Spark
      configuration entries for the session it builds. Events arrive live over a TCP
      connection from each task to the caller (``options={"event_host": ...}``: the caller's
      address as the executors see it; default ``127.0.0.1``).
    * ``kind="ray"``: see the Ray section of ``docs/advanced/distributed.md``.

    The connection is made on first use and freed by :meth:`close` (a `client` passed in is
    never closed). Install the engine with ``pip install "hypernodes-distributed[<kind>]"``.

    Args:
        kind: ``"dask"``, ``"ray"`` or ``"spark"``.
        address: Where the cluster is; or a connection (a ``distributed.Client``, a
            ``SparkSession``), taken as `client`.
        client: A connection to use instead of `address`.
        security: The engine's security object.
        chunksize: Map items per task (None: about four chunks per slot of the cluster).
        options: Engine-specific settings.

    Example:
        >>> RemoteBackend("dask", "tcp://127.0.0.1:8786")
        RemoteBackend(kind='dask', address='tcp://127.0.0.1:8786')
    """

    def __init__(
        self,
        kind: RemoteKind,
        address: str | Any = None,
        *,
        client: Any = None,
        security: Any = None,
        chunksize: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        if kind not in get_args(RemoteKind):
            raise InvalidArgumentError(f"RemoteBackend(kind={kind!r}) must be one of 'dask', 'ray', 'spark'")
        if chunksize is not None and (isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1):
            raise InvalidArgumentError(f"RemoteBackend(chunksize=...) must be an int >= 1, got {chunksize!r}")
        if address is not None and not isinstance(address, str):  # a connection passed in its place
            if client is not None:
                raise InvalidArgumentError(
                    f"RemoteBackend({kind!r}) got a connection as address and client=; pass one of them"
                )
            address, client = None, address
        self.kind: RemoteKind = kind
        self.address = address
        self.chunksize = chunksize
        self.settings = RemoteSettings(kind=kind, address=address, client=client, security=security,
                                       options=dict(options or {}))  # fmt: skip
        self._target: Target | None = None
        self._lock = threading.Lock()  # guards _target

    @override
    def run(self, pipeline: Pipeline, inputs: Inputs, ctx: RunContext, output_name: OutputNames | None) -> Outputs:
        request = RunRequest.of(pipeline, inputs, ctx, output_name)
        if _scope.current_task() is not None:  # already on the cluster (a nested level): run here
            return ctx.config.executor.run_pipeline(request)
        ship_user_modules(pipeline)
        payload = RunPayload.of_run(request, config=ctx.config.replace(backend=LocalBackend()))
        receiver = EventReceiver(ctx)
        shared = payload.encode(receiver)
        (answer,) = self._connected().run(shared, [None], receiver)
        return payload.decode(answer)[0]

    @override
    def map(
        self,
        pipeline: Pipeline,
        items: Sequence[Inputs],
        inputs: Inputs,
        ctx: RunContext,
        output_name: OutputNames | None,
    ) -> list[Outputs]:
        request = MapRequest.of(pipeline, items, inputs, ctx, output_name)
        if _scope.current_task() is not None:
            return ctx.config.executor.map_items(request)
        count = len(items)
        if not count:
            return []
        target = self._connected()
        size = self.chunksize or max(1, math.ceil(count / (_CHUNKS_PER_SLOT * max(1, target.parallelism()))))
        starts = range(0, count, size)
        ship_user_modules(pipeline)
        payload = RunPayload.of_map(request, config=ctx.config.replace(backend=LocalBackend()))
        receiver = EventReceiver(ctx)
        shared = payload.encode(receiver)
        answers = target.run(shared, [payload.encode_items(start, start + size) for start in starts], receiver)
        results: list[Outputs] = []
        for start, answer in zip(starts, answers):
            results.extend(payload.decode(answer, start))  # raises the first failed chunk's error
        return results

    def _connected(self) -> Target:
        target = self._target
        if target is None:
            with self._lock:
                target = self._target
                if target is None:
                    target = self._target = _load(self.kind).connect(self.settings)
        return target

    def close(self) -> None:
        """Close the connection this backend made (a `client` passed in stays open). Safe to call twice."""
        with self._lock:
            target, self._target = self._target, None
        if target is not None:
            target.close()

    def __reduce__(self) -> tuple[Any, ...]:
        # Inside a config sent to a worker: the settings travel, never a live connection.
        return (_rebuild, (self.kind, self.address, self.chunksize, dict(self.settings.options)))

    def __repr__(self) -> str:
        where = f", address={self.address!r}" if self.address is not None else ""
        client = ", client=..." if self.settings.client is not None else ""
        return f"RemoteBackend(kind={self.kind!r}{where}{client})"


def _rebuild(kind: RemoteKind, address: str | None, chunksize: int | None, options: dict[str, Any]) -> RemoteBackend:
    return RemoteBackend(kind, address, chunksize=chunksize, options=options)


class _Connector(Protocol):
    def connect(self, settings: RemoteSettings) -> Target: ...


def _load(kind: RemoteKind) -> _Connector:
    """Import the module of `kind`; say which extra to install when it or its engine is missing."""
    module_name = f"hypernodes.distributed._remote_{kind}"
    try:
        module: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise ImportError(
                f"RemoteBackend(kind={kind!r}) is not in this version of hypernodes-distributed; "
                f'install or upgrade it with: pip install -U "hypernodes-distributed[{kind}]"',
                name=module_name,
            ) from exc
        raise ImportError(
            f"RemoteBackend(kind={kind!r}) needs {exc.name}, which is not installed; install it with: "
            f'pip install "hypernodes-distributed[{kind}]"',
            name=exc.name,
        ) from exc
    connector: _Connector = module
    return connector
