"""The "ray" kind of ``RemoteBackend``: run core's run payloads as Ray tasks on a cluster (private).

``RemoteBackend(kind="ray", address=...)`` encodes a whole run, or a map in chunks of items,
as a :class:`~hypernodes.executor.RunPayload` whose config runs locally where it lands, and
hands the bytes to :meth:`RayTarget.run`: one Ray task per chunk runs
:func:`~hypernodes.executor.run_payload` with the config's executor, its callback events come
back into the caller's :class:`~hypernodes.executor.EventReceiver` as they happen, and the
answers return in chunk order for the backend to decode (the user's own errors included).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hypernodes import InvalidArgumentError
from hypernodes.distributed import _ray_cluster, _ray_tasks

if TYPE_CHECKING:
    from hypernodes.distributed.remote import RemoteSettings
    from hypernodes.executor import EventReceiver

__all__ = ["RayTarget", "connect"]


def connect(settings: RemoteSettings) -> RayTarget:
    """Return the target of ``RemoteBackend(kind="ray", ...)`` (the protocol of ``remote.py``)."""
    if settings.client is not None:
        raise InvalidArgumentError(
            "RemoteBackend(kind='ray') takes no client=: Ray has one connection per process; pass "
            "address='host:port' or 'ray://host:port', or call ray.init() yourself and pass no address"
        )
    return RayTarget(settings.address, settings.security, **dict(settings.options))


class RayTarget:
    """A Ray cluster that runs payloads: one task per chunk, events relayed, answers in order.

    Args:
        address: ``"host:port"`` or ``"ray://host:port"``; None uses the Ray initialised in
            this process, or starts a local one.
        security: Ray's auth token for the cluster (a ``str``), used as ``RAY_AUTH_TOKEN``
            with ``RAY_AUTH_MODE=token``; None uses what Ray finds (``~/.ray/auth_token``...).
        **options: ``num_cpus``, ``num_gpus``, ``resources``, ``runtime_env`` and other Ray
            task options for every task; ``init_options`` (a mapping) for ``ray.init``.
    """

    def __init__(self, address: str | None, security: object | None = None, **options: Any) -> None:
        if security is not None and not isinstance(security, str):
            raise InvalidArgumentError(
                f"RemoteBackend(kind='ray', security=...) takes the cluster's auth token as a str, got "
                f"{type(security).__name__}; or leave it None and set RAY_AUTH_TOKEN / ~/.ray/auth_token"
            )
        self.address = address
        self._token = security
        init_options = options.pop("init_options", None) or {}
        if not isinstance(init_options, Mapping):
            raise InvalidArgumentError(f"init_options must be a mapping of ray.init arguments, got {init_options!r}")
        self._init_options = dict(init_options)
        self._options = options
        self._key = uuid.uuid4().hex

    def run(self, shared: bytes, chunks: Sequence[bytes | None], receiver: EventReceiver) -> list[bytes]:
        """Run each chunk of `shared` as one Ray task; return the answers in chunk order.

        Args:
            shared: ``RunPayload.encode(receiver)``.
            chunks: ``RunPayload.encode_items(...)`` per task, or ``[None]`` for a run.
            receiver: Gets every callback event of the tasks, as they happen.

        Raises:
            WorkerCrashedError: A worker died while running a chunk.
            InvalidArgumentError: The tasks ask for resources no node of the cluster has.
        """
        if self._token is not None:
            os.environ["RAY_AUTH_TOKEN"] = self._token  # Ray reads the token from the environment
            os.environ.setdefault("RAY_AUTH_MODE", "token")
        ray = _ray_cluster.connect(self._key, self.address, self._init_options)
        options = self._options
        need = {"CPU": float(options.get("num_cpus", 1.0)), "GPU": float(options.get("num_gpus") or 0.0)}
        need.update({name: float(amount) for name, amount in (options.get("resources") or {}).items()})
        _ray_cluster.check_resources(ray, need, f"RemoteBackend(kind='ray', address={self.address!r})", "this work")
        answers: list[bytes] = [b""] * len(chunks)

        def on_answer(position: int, answer: bytes) -> None:
            answers[position] = answer

        def describe(position: int) -> str:
            return f"chunk {position} of {len(chunks)} sent to the Ray cluster"

        _ray_tasks.run_chunks(None, shared, chunks, receiver, options, on_answer, describe)
        return answers

    def parallelism(self) -> int:
        """Return how many chunks the cluster runs at once (its CPUs, over the CPUs a task asks for)."""
        ray = _ray_cluster.connect(self._key, self.address, self._init_options)
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        per_task = float(self._options.get("num_cpus", 1.0)) or 1.0
        return max(1, int(cpus // per_task))

    def close(self) -> None:
        """Release the Ray connection (shut down only if this made it and nobody else uses it)."""
        _ray_cluster.release(self._key)

    def __repr__(self) -> str:
        return f"RayTarget(address={self.address!r})"
