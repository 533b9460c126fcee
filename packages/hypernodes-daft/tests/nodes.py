"""Node functions and value types of the DaftExecutor tests (importable: Daft's processes load them)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

import numpy as np
import pydantic

from hypernodes import node

__all__ = ["Doc", "Point"]


@dataclass(frozen=True)
class Point:
    x: int
    y: int


class Doc(pydantic.BaseModel):
    text: str
    tags: list[str]


class Handle:
    """Holds a lock: cannot be pickled, so it must never go through Daft's Python dtype."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.lock = threading.Lock()


@node(output_name="point")
def make_point(x: int) -> Point:
    return Point(x, -x)


@node(output_name="doc")
def make_doc(x: int) -> Doc:
    return Doc(text=f"doc {x}", tags=["a"] * x)


@node(output_name="array")
def make_array(x: int) -> np.ndarray:  # type: ignore[type-arg]
    return np.arange(x, dtype=np.float32)


@node(output_name="records")
def make_records(x: int) -> list[dict[str, int]]:
    return [{"i": i} for i in range(x)]


@node(output_name="ragged")
def make_ragged(x: int) -> dict[str, object]:
    return {"x": x} if x % 2 else {"x": x, "extra": [x, "mixed"]}


@node(output_name="nothing")
def make_nothing(x: int) -> None:
    return None


@node(output_name="handle")
def make_handle(x: int) -> Handle:
    return Handle(x)


@node(output_name="summary")
def summarize(point: Point, doc: Doc, array: np.ndarray, records: list[dict[str, int]], handle: Handle) -> str:  # type: ignore[type-arg]
    assert isinstance(doc, Doc) and isinstance(point, Point) and isinstance(array, np.ndarray)
    return f"{point.x}:{len(doc.tags)}:{array.size}:{len(records)}:{handle.value}"


class Gauge:
    """Counts how many calls are in flight at once (thread safe)."""

    def __init__(self) -> None:
        self.current = 0
        self.peak = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.current += 1
            self.peak = max(self.peak, self.current)

    def leave(self) -> None:
        with self._lock:
            self.current -= 1


async def wait_with(gauge: Gauge, x: int, release: asyncio.Event | None = None) -> int:
    gauge.enter()
    try:
        await asyncio.sleep(0.01)
        return x
    finally:
        gauge.leave()
