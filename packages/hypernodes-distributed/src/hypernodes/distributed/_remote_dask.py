"""``RemoteBackend(kind="dask")``: each chunk one Dask task running core's payload (private).

See :mod:`hypernodes.distributed.remote` for the protocol. Events are live: the tasks log
them under a topic the caller subscribes to (:mod:`hypernodes.distributed._dask_relay`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hypernodes import InvalidArgumentError
from hypernodes.distributed._dask_relay import run_payload_tasks, untyped
from hypernodes.distributed._engines import require

if TYPE_CHECKING:
    from distributed import Client
    from hypernodes.distributed.remote import RemoteSettings
    from hypernodes.executor import EventReceiver

__all__ = ["DaskTarget", "connect"]


def connect(settings: RemoteSettings) -> DaskTarget:
    """Connect to the Dask cluster of `settings` (its `client`, or a new client to its `address`)."""
    require("distributed", "RemoteBackend('dask')")
    import distributed

    if settings.client is not None:
        if not isinstance(settings.client, distributed.Client):
            raise InvalidArgumentError(
                f"RemoteBackend('dask', client=...) needs a distributed.Client, got {type(settings.client).__name__}"
            )
        return DaskTarget(settings.client, owned=False)
    if settings.address is None:
        raise InvalidArgumentError(
            "RemoteBackend('dask') needs the scheduler's address (RemoteBackend('dask', 'tcp://host:8786')) or "
            "client=distributed.Client(...); to run on this machine, start one with distributed.LocalCluster()"
        )
    client = untyped(distributed.Client)(settings.address, security=settings.security, set_as_default=False)
    return DaskTarget(client, owned=True)


class DaskTarget:
    """A Dask cluster reached through `client` (closed by :meth:`close` only when `owned`)."""

    def __init__(self, client: Client, *, owned: bool) -> None:
        self._client: Client | None = client
        self._owned = owned

    def parallelism(self) -> int:
        workers = untyped(self._live()).scheduler_info(n_workers=-1).get("workers", {})
        return max(1, sum(int(info.get("nthreads", 1)) for info in workers.values()))

    def run(self, shared: bytes, chunks: Sequence[bytes | None], receiver: EventReceiver) -> list[bytes]:
        answers: list[Any] = [None] * len(chunks)
        for position, answer in run_payload_tasks(self._live(), shared, chunks, receiver):
            answers[position] = answer
        return answers

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._owned:
            untyped(client).close()

    def _live(self) -> Client:
        if self._client is None:
            raise InvalidArgumentError("this RemoteBackend('dask') was closed; make a new one")
        return self._client
