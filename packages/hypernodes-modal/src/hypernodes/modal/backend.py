"""``ModalBackend``: run a pipeline, or one node, in Modal's cloud (GPUs included)."""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from typing_extensions import override

from hypernodes import Backend, HyperNodesError, InvalidArgumentError, LocalBackend, WorkerCrashedError
from hypernodes.executor import EventReceiver, MapRequest, RunPayload, RunRequest
from hypernodes.modal import _connection, _container
from hypernodes.modal._session import EventDrain, LocalSession, RemoteSession, Session, WorkerFunction
from hypernodes.modal.image import HypernodesSource, hypernodes_image, resolve_source

if TYPE_CHECKING:
    import modal
    from hypernodes.executor import Inputs, OutputNames, Outputs, RunContext
    from hypernodes.graph.pipeline import Pipeline

__all__ = ["FUNCTION_NAME", "ModalBackend", "Mode"]

Mode = Literal["remote", "local"]
"""``"remote"``: calls run in Modal containers; ``"local"``: the same Function body runs here, offline."""

FUNCTION_NAME = "hypernodes_worker"
"""The name of the Modal Function in the backend's App."""

_CALLS_WITHOUT_LIMIT = 32  # a map's default number of calls when max_containers is not set


class ModalBackend(Backend):
    """Run pipelines on Modal: a whole pipeline, or one node (``node.with_config(backend=ModalBackend(gpu=...))``).

    The backend builds real Modal objects: an ``App`` named `app_name` and one ``Function``
    (``serialized=True``) whose body runs core's run payload with the config's executor,
    cache and callbacks, in an image that has HyperNodes (see :func:`hypernodes_image`).

    * ``run`` is one ``.remote`` call; ``map`` sends the items in chunks of `items_per_call`
      through the Function's ``.map`` (outputs in item order; a failing item raises its own
      exception type, with the node and item in its notes).
    * One app session (``with app.run():``) is opened on first use and serves every later
      run and map of this backend, so items never pay for one each: :meth:`close` (or
      ``with ModalBackend(...) as backend:``) stops it; it also stops at interpreter exit.
    * Callback events come back while the containers work (a ``modal.Queue``), so progress
      bars move and spans nest under the caller's run.
    * A ``CacheSpec`` whose path is on one of `volumes` is built in the container, and the
      volumes are committed after each call, so the next run sees the entries.
    * Before the session opens, credentials are checked (no network), then the Modal API
      must answer within `connect_timeout` seconds: either failure is a ``HyperNodesError``
      saying how to fix it, instead of Modal's retries of about a minute.
    * In a container, a level whose config has another ``ModalBackend`` runs right there.

    ``mode="local"`` runs the very same Function body with Modal's ``Function.local`` in this
    process: the payload bytes, the event relay and the answer decoding are those of a remote
    run, with no account and no network. It is the offline test path, and a way to try a
    pipeline before paying for containers; it ignores resources and volumes.

    Args:
        image: The container image (default: :func:`hypernodes_image` with
            `python_packages`, `python_sources` and `hypernodes_source`). Your own image must
            have this process's Python minor version and HyperNodes installed.
        gpu: A Modal GPU request, e.g. ``"A10G"``, ``"H100:2"`` or a list of fallbacks.
        cpu: CPU cores to request (or ``(request, limit)``).
        memory: MiB of memory to request (or ``(request, limit)``).
        timeout: Seconds one call (a run, or one chunk of a map) may take, start-up included.
        volumes: ``{mount path: modal.Volume}`` mounted in every container.
        secrets: ``modal.Secret`` objects injected as environment variables.
        max_containers: At most this many containers at once.
        app_name: The Modal App's name (shown in the Modal dashboard).
        python_packages: More pip requirements for the default image.
        python_sources: Local modules your nodes import, for the default image.
        hypernodes_source: How the default image gets HyperNodes: ``"pypi"``, ``"local"``
            (the local sources, for a checkout) or ``"auto"`` (local for an editable install).
        items_per_call: Map items per Modal call (default: about four calls per container of
            `max_containers`, or 32 calls).
        call_retries: Modal's own retries of a call whose container failed (node retries
            are the config's ``retries``).
        connect_timeout: Seconds to wait for the Modal API before failing.
        mode: ``"remote"`` (Modal's cloud) or ``"local"`` (``Function.local``, offline).
        function_options: Any other keyword argument of ``modal.App.function`` (e.g.
            ``{"region": "us-east", "scaledown_window": 60}``).

    Example:
        >>> backend = ModalBackend(gpu="A10G", memory=8192, mode="local")
        >>> backend
        ModalBackend(gpu='A10G', memory=8192, mode='local')
        >>> backend.function.info().gpus
        [('A10G', 1)]
    """

    is_remote: ClassVar[bool] = True  # the level's cache is built in the container, not here

    def __init__(
        self,
        image: modal.Image | None = None,
        gpu: str | Sequence[str] | None = None,
        cpu: float | tuple[float, float] | None = None,
        memory: int | tuple[int, int] | None = None,
        timeout: float = 600,
        volumes: Mapping[str, modal.Volume] | None = None,
        secrets: Sequence[modal.Secret] | None = None,
        max_containers: int | None = None,
        app_name: str = "hypernodes",
        python_packages: Sequence[str] = (),
        python_sources: Sequence[str] = (),
        hypernodes_source: HypernodesSource = "auto",
        items_per_call: int | None = None,
        call_retries: int | None = None,
        connect_timeout: float = 10.0,
        mode: Mode = "remote",
        function_options: Mapping[str, Any] | None = None,
    ) -> None:
        if mode not in ("remote", "local"):
            raise InvalidArgumentError(f"ModalBackend(mode=...) must be 'remote' or 'local', got {mode!r}")
        if hypernodes_source not in ("auto", "pypi", "local"):
            resolve_source(hypernodes_source)  # raises the error that lists the choices
        self.image = image
        self.gpu = gpu if gpu is None or isinstance(gpu, str) else list(gpu)
        self.cpu = cpu
        self.memory = memory
        self.timeout = math.ceil(_positive(timeout, "timeout"))
        self.volumes = dict(volumes or {})
        self.secrets = list(secrets or ())
        self.max_containers = None if max_containers is None else _positive_int(max_containers, "max_containers")
        self.app_name = app_name
        self.python_packages = tuple(python_packages)
        self.python_sources = tuple(python_sources)
        self.hypernodes_source: HypernodesSource = hypernodes_source
        self.items_per_call = None if items_per_call is None else _positive_int(items_per_call, "items_per_call")
        self.call_retries = call_retries
        self.connect_timeout = _positive(connect_timeout, "connect_timeout")
        self.mode: Mode = mode
        self.function_options = dict(function_options or {})
        self._detached = False  # a copy unpickled elsewhere: it has lost its Modal objects
        self._app: modal.App | None = None
        self._function: WorkerFunction | None = None
        self._session: Session | None = None
        self._lock = threading.RLock()  # guards _app, _function and _session (_ensure_session calls _build)

    # -- the Modal objects ------------------------------------------------------------------

    @property
    def app(self) -> modal.App:
        """The Modal App (built on first use; no network)."""
        return self._build()[0]

    @property
    def function(self) -> WorkerFunction:
        """The Modal Function whose body runs the payloads (built on first use; no network)."""
        return self._build()[1]

    def function_arguments(self) -> dict[str, Any]:
        """Return the keyword arguments the Function is created with by ``modal.App.function``."""
        arguments: dict[str, Any] = {
            "image": self.image if self.image is not None else self._default_image(),
            "gpu": self.gpu,
            "cpu": self.cpu,
            "memory": self.memory,
            "timeout": self.timeout,
            "volumes": dict(self.volumes) if self.mode == "remote" else {},  # .local() has no volumes
            "secrets": list(self.secrets),
            "max_containers": self.max_containers,
            "retries": self.call_retries,
            **self.function_options,
        }
        arguments.update(serialized=True, name=FUNCTION_NAME)
        return arguments

    def _default_image(self) -> modal.Image:
        return hypernodes_image(
            python_packages=self.python_packages, python_sources=self.python_sources, source=self.hypernodes_source
        )

    def _check_attached(self) -> None:
        if self._detached:
            raise HyperNodesError(
                f"{self!r} was sent to another process and has lost its Modal objects (image, volumes, secrets), so "
                "it cannot start Modal calls there. Give the node or pipeline that runs on Modal its config in the "
                "process that calls run() or map(), not inside a worker process"
            )

    def _build(self) -> tuple[modal.App, WorkerFunction]:
        self._check_attached()
        with self._lock:
            if self._app is None or self._function is None:
                import modal

                app = modal.App(self.app_name)
                self._function = app.function(**self.function_arguments())(_container.run_in_container)
                self._app = app
            return self._app, self._function

    # -- running ----------------------------------------------------------------------------

    @override
    def run(
        self, pipeline: Pipeline, inputs: Inputs, ctx: RunContext, output_name: OutputNames | None
    ) -> Outputs:
        if _container.is_inside():  # already in a container: run this level here
            return LocalBackend().run(pipeline, inputs, ctx, output_name)
        request = RunRequest.of(pipeline, inputs, ctx, output_name)
        payload = RunPayload.of_run(request, config=ctx.config.replace(backend=LocalBackend()))  # no recursion there
        return self._call(payload, ctx, [(0, None)])[0]

    @override
    def map(
        self,
        pipeline: Pipeline,
        items: Sequence[Inputs],
        inputs: Inputs,
        ctx: RunContext,
        output_name: OutputNames | None,
    ) -> list[Outputs]:
        if _container.is_inside():
            return LocalBackend().map(pipeline, items, inputs, ctx, output_name)
        count = len(items)
        if not count:
            return []
        request = MapRequest.of(pipeline, items, inputs, ctx, output_name)
        payload = RunPayload.of_map(request, config=ctx.config.replace(backend=LocalBackend()))
        calls = 4 * self.max_containers if self.max_containers else _CALLS_WITHOUT_LIMIT
        size = self.items_per_call or math.ceil(count / calls)
        chunks = [(start, min(start + size, count)) for start in range(0, count, size)]
        return self._call(payload, ctx, chunks)

    def _call(self, payload: RunPayload, ctx: RunContext, chunks: Sequence[tuple[int, int | None]]) -> list[Outputs]:
        """Send every chunk (one Modal call each) and return the outputs in item order."""
        session = self._ensure_session()  # first: no credentials fails before any other work
        function = self.function
        receiver = EventReceiver(ctx)
        shared = payload.encode(receiver)
        blobs = [payload.encode_items(start, stop) if payload.is_map else None for start, stop in chunks]
        partition = uuid.uuid4().hex
        drain = EventDrain(session.queue, partition, receiver) if receiver.wants_events else None
        kwargs = {
            "shared": shared,
            "events": None if drain is None else session.queue,
            "partition": partition,
            "volumes": tuple(self.volumes.values()) if self.mode == "remote" else (),
        }
        results: list[Outputs] = []
        answers = session.call(function, blobs, kwargs)
        try:
            for (start, stop), answer in zip(chunks, answers):
                if isinstance(answer, BaseException):
                    raise self._failed_call(answer, payload, start, stop) from answer
                results += payload.decode(answer, start)  # raises the first failing item's own error
        finally:
            _close(answers)  # stops a .map early when an item failed: its other inputs are cancelled
            if drain is not None:
                drain.finish()
        return results

    def _failed_call(self, error: BaseException, payload: RunPayload, start: int, stop: int | None) -> Exception:
        what = "a run" if stop is None else f"map items {start}-{stop - 1}"
        where = f"{what} of pipeline {payload.pipeline.name!r} on {self!r}"
        if type(error).__name__ == "FunctionTimeoutError":
            return HyperNodesError(
                f"{where} ran past ModalBackend(timeout={self.timeout}) (seconds, container start included). "
                "Raise the timeout, or lower items_per_call so each call does less",
                item_index=None if stop is None else start,
            )
        return WorkerCrashedError(
            f"Modal failed to run {where} ({type(error).__name__}: {error}); the container may have run out of "
            "memory or been preempted. See the app's logs in the Modal dashboard; raise memory=..., or set "
            "call_retries=... to let Modal retry",
            item_index=None if stop is None else start,
        )

    def _ensure_session(self) -> Session:
        self._check_attached()
        with self._lock:
            if self._session is None:
                if self.mode == "local":
                    self._session = LocalSession()
                else:
                    _connection.check_credentials()
                    _connection.check_reachable(self.connect_timeout)
                    self._session = RemoteSession(self._build()[0])
            return self._session

    # -- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the app session, if one is open (idempotent); the next run opens a new one."""
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()

    def __reduce__(self) -> tuple[Any, ...]:
        # Modal objects do not pickle before their app runs; a copy in a container only runs inline.
        return (_detached, (self._arguments(),))

    def _arguments(self) -> dict[str, Any]:
        return {
            "gpu": self.gpu, "cpu": self.cpu, "memory": self.memory, "timeout": self.timeout,
            "max_containers": self.max_containers, "app_name": self.app_name,
            "python_packages": self.python_packages, "python_sources": self.python_sources,
            "hypernodes_source": self.hypernodes_source, "items_per_call": self.items_per_call,
            "call_retries": self.call_retries, "connect_timeout": self.connect_timeout, "mode": self.mode,
        }  # fmt: skip

    def __repr__(self) -> str:
        defaults = _DEFAULTS
        shown = [f"{name}={value!r}" for name, value in self._arguments().items() if defaults.get(name) != value]
        if self.image is not None:
            shown.insert(0, "image=...")
        shown += [f"{name}=..." for name in ("volumes", "secrets") if getattr(self, name)]
        return f"ModalBackend({', '.join(shown)})"


def _detached(arguments: dict[str, Any]) -> ModalBackend:
    backend = ModalBackend(**arguments)
    backend._detached = True
    return backend


def _close(answers: Iterator[Any]) -> None:
    close = getattr(answers, "close", None)
    if close is not None:
        close()


def _positive(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InvalidArgumentError(f"ModalBackend({name}=...) must be a positive number, got {value!r}")
    return float(value)


def _positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"ModalBackend({name}=...) must be a positive int, got {value!r}")
    return value


_DEFAULTS: dict[str, Any] = ModalBackend()._arguments()
