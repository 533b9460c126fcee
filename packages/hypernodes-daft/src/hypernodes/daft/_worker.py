"""The worker-side query: a row per item that runs through core's ``run_payload`` anywhere (private).

Used on the Ray runner and with ``use_process=True``: Daft then runs the UDFs in other
processes, where the caller's callbacks, caches and locks cannot follow. Each row carries its
item as bytes (``RunPayload.encode_items``); the UDF closes over the bytes every item shares
(``RunPayload.encode``) and runs the item with ``run_payload``, which runs the config's
executor there (this executor, which sees it is inside a UDF and runs the item inline). The
answer and the item's callback events come back as one Binary value per row: every column
is native, so Daft really moves the work to its processes or Ray workers. Events are replayed
into the caller's callbacks when the rows come back, in item order (not as they happen).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hypernodes.daft._query import ROW
from hypernodes.daft._scope import inside_udf
from hypernodes.executor import EventReceiver, MapRequest, RunPayload, dumps, loads, run_payload

if TYPE_CHECKING:
    from daft import Series
    from hypernodes._types import Outputs
    from hypernodes.executor import RunRequest

__all__ = ["run_remote"]

_ANSWER = "__answer"
_ITEM = "__item"


def run_remote(request: RunRequest | MapRequest, *, use_process: bool, batch_size: int | None) -> list[Outputs]:
    """Run a run (one row) or a map (a row per item) through the worker side; return outputs in order.

    Raises:
        Exception: The first failed item's error (by item order), as the node raised it.
        SerializationError: Something the work needs cannot be pickled (it names what).
    """
    import daft

    if isinstance(request, MapRequest):
        payload, count = RunPayload.of_map(request), len(request.items)
    else:
        payload, count = RunPayload.of_run(request), 1
    receiver = EventReceiver(request.ctx)
    shared = payload.encode(receiver)
    items = [payload.encode_items(p, p + 1) for p in range(count)]
    df = daft.from_pydict(
        {
            ROW: daft.Series.from_pylist(list(range(count)), dtype=daft.DataType.int64()),
            _ITEM: daft.Series.from_pylist(items, dtype=daft.DataType.binary()),
        }
    )
    udf = _item_udf(shared, receiver.wants_events, use_process, batch_size)
    table = df.with_column(_ANSWER, udf(daft.col(_ITEM))).select(ROW, _ANSWER).to_pydict()
    answers: list[bytes] = [b""] * count
    for position, blob in zip(table[ROW], table[_ANSWER]):
        answers[position] = blob
    results: list[Outputs] = []
    for position, blob in enumerate(answers):
        answer, events = loads(blob)
        for event in events:
            receiver.receive(event)
        results.extend(payload.decode(answer, position))  # raises the first failed item's error
    return results


def _item_udf(shared: bytes, relay: bool, use_process: bool, batch_size: int | None) -> Any:
    """Return the batch UDF that runs each row's item with ``run_payload`` (where Daft puts it)."""
    import daft

    binary = daft.DataType.binary()

    def hypernodes_items(items: Series) -> Series:
        out = []
        for item in items.to_pylist():
            events: list[bytes] = []
            send: Callable[[bytes], None] | None = events.append if relay else None
            with inside_udf():  # nested work (and this executor in the payload's config) runs inline
                answer = run_payload(shared, item, send)
            out.append(dumps((answer, events)))
        return daft.Series.from_pylist(out, dtype=binary)

    return daft.func.batch(return_dtype=binary, batch_size=batch_size, use_process=use_process or None)(
        hypernodes_items
    )
