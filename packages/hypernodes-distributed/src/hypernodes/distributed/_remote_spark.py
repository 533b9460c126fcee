"""``RemoteBackend(kind="spark")``: each chunk one Spark task running core's payload (private).

See :mod:`hypernodes.distributed.remote` for the protocol.

* Classic Spark (``local[2]``, ``spark://...``, or a ``SparkSession`` with a ``sparkContext``):
  ``sc.parallelize(chunks, n).map(run).collect()``, which keeps the order; `shared` is a
  broadcast variable.
* Spark Connect (``sc://...``, or a Connect ``SparkSession``): no RDDs, so the chunks are the
  rows of a DataFrame of binary payloads, run by a ``BinaryType`` UDF that carries `shared`,
  and sorted back into order by their position.

Events: Spark has no channel from tasks to the driver program, so each task connects to an
:class:`~hypernodes.distributed._event_server.EventServer` in the caller (``options
{"event_host": ...}``, default ``127.0.0.1``) and sends them as they happen.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hypernodes.distributed._engines import require
from hypernodes.distributed._event_server import EventServer
from hypernodes.distributed._spark_tasks import run_spark_chunk

if TYPE_CHECKING:
    from hypernodes.distributed.remote import RemoteSettings
    from hypernodes.executor import EventReceiver

__all__ = ["SparkTarget", "connect"]

logger = logging.getLogger(__name__)

EVENT_GRACE = 30.0  # seconds to wait for the last events of the tasks after the job finished


def connect(settings: RemoteSettings) -> SparkTarget:
    """Use `settings.client` (a ``SparkSession``) or build a session for `settings.address`."""
    from hypernodes import InvalidArgumentError

    options = dict(settings.options)
    event_host = str(options.pop("event_host", "127.0.0.1"))
    if settings.client is not None:
        return SparkTarget(settings.client, owned=False, event_host=event_host)
    if settings.address is None:
        raise InvalidArgumentError(
            "RemoteBackend('spark') needs a master URL ('local[2]', 'spark://host:7077'), a Spark Connect URL "
            "('sc://host:15002') or client=SparkSession"
        )
    require("pyspark", "RemoteBackend('spark')")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # else the workers start the system's Python
    from pyspark.sql import SparkSession

    builder: Any = SparkSession.builder.appName("hypernodes")
    address = settings.address
    if address.startswith("sc://"):
        if settings.security is not None:  # a Spark Connect token, as a parameter of the URL
            address += (";" if "/;" in address else "/;") + f"token={settings.security}"
        builder = builder.remote(address)
    elif settings.security is not None:
        raise InvalidArgumentError(
            "RemoteBackend('spark', security=...) is a Spark Connect token, for an sc:// address; configure "
            "classic Spark's security with options={'spark.authenticate': 'true', ...} instead"
        )
    else:
        builder = builder.master(address).config("spark.ui.enabled", "false")
    for key, value in options.items():
        builder = builder.config(key, value)
    return SparkTarget(builder.getOrCreate(), owned=True, event_host=event_host)


def _is_connect(session: Any) -> bool:
    return type(session).__module__.startswith("pyspark.sql.connect")


class SparkTarget:
    """A Spark session (stopped by :meth:`close` only when `owned`)."""

    def __init__(self, session: Any, *, owned: bool, event_host: str) -> None:
        self._session: Any = session
        self._owned = owned
        self._event_host = event_host
        self._connect = _is_connect(session)

    def parallelism(self) -> int:
        if not self._connect:
            return max(1, int(self._session.sparkContext.defaultParallelism))
        configured = self._session.conf.get("spark.default.parallelism", None)
        return max(1, int(configured)) if configured else 2

    def run(self, shared: bytes, chunks: Sequence[bytes | None], receiver: EventReceiver) -> list[bytes]:
        server = EventServer(receiver, self._event_host) if receiver.wants_events else None
        prefix = uuid.uuid4().hex[:12]
        task = functools.partial(_run_row, shared, None if server is None else server.address, prefix)
        try:
            answers = self._run_connect(task, chunks) if self._connect else self._run_classic(task, chunks)
            if server is not None and not server.wait_for([f"{prefix}-{i}" for i in range(len(chunks))], EVENT_GRACE):
                logger.warning("some callback events did not arrive from the Spark tasks within %ss", EVENT_GRACE)
            return answers
        finally:
            if server is not None:
                server.close()

    def _run_classic(self, task: functools.partial[bytes], chunks: Sequence[bytes | None]) -> list[bytes]:
        rows = list(enumerate(chunks))
        answers: list[bytes] = self._session.sparkContext.parallelize(rows, len(rows)).map(task).collect()
        return [bytes(answer) for answer in answers]

    def _run_connect(self, task: functools.partial[bytes], chunks: Sequence[bytes | None]) -> list[bytes]:
        from pyspark.sql.functions import col, udf
        from pyspark.sql.types import BinaryType

        run = udf(lambda position, chunk: task((position, chunk)), BinaryType())
        frame = self._session.createDataFrame(list(enumerate(chunks)), "position int, chunk binary")
        answer = run(col("position"), col("chunk")).alias("answer")
        frame = frame.repartition(len(chunks)).select(col("position"), answer)
        rows = sorted(frame.collect(), key=lambda row: row["position"])
        return [bytes(row["answer"]) for row in rows]

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and self._owned:
            session.stop()


def _run_row(shared: bytes, events: str | None, prefix: str, row: tuple[int, bytes | None]) -> bytes:
    position, chunk = row
    return run_spark_chunk(shared, events, f"{prefix}-{position}", chunk)
