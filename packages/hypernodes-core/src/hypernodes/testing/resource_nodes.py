"""Resources and batch nodes used by the behaviour suite (importable by worker processes).

Builds and teardowns are recorded in a log file (``tmp_path``), each tagged with the process
and thread it happened in, so that tests count them across threads and processes alike.
"""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any

from hypernodes.graph.node import Node, node
from hypernodes.resources.resource import Resource
from hypernodes.testing.nodes import read_calls, record_call

__all__ = [
    "CountingFactory",
    "CountingModel",
    "builds",
    "computed",
    "counting_resource",
    "failing_resource",
    "scaling_node",
    "short_batch",
    "split",
    "teardowns",
    "triple",
]


_thread = threading.local()  # a tag per thread object: thread idents are reused once a thread ends


def _where() -> str:
    tag = getattr(_thread, "tag", None)
    if tag is None:
        tag = _thread.tag = uuid.uuid4().hex[:12]
    return f"{os.getpid()}:{tag}"


class CountingModel:
    """A stand-in for a loaded model: ``predict(x) = x * factor``; records its teardown."""

    def __init__(self, factor: int, log: str, tag: str) -> None:
        self.factor = factor
        self.log = log
        self.tag = tag

    def predict(self, x: int) -> int:
        """Return ``x * factor``."""
        return x * self.factor

    def close(self) -> None:
        """Record the teardown."""
        record_call(self.log, f"close {self.tag} {_where()}")


class CountingFactory:
    """Build a :class:`CountingModel`, recording each build (process and thread) in `log`."""

    def __init__(self, log: str, factor: int = 2, tag: str = "model") -> None:
        self.log = log
        self.factor = factor
        self.tag = tag

    def __call__(self) -> CountingModel:
        record_call(self.log, f"build {self.tag} {_where()}")
        return CountingModel(self.factor, self.log, self.tag)


def counting_resource(
    log: str, *, factor: int = 2, version: str | None = None, thread_safe: bool = True, tag: str = "model"
) -> Resource[CountingModel]:
    """Return a resource named `tag` whose builds and teardowns are recorded in `log`."""
    return Resource(CountingFactory(log, factor, tag), name=tag, version=version, thread_safe=thread_safe)


def _fail_to_build() -> CountingModel:
    raise RuntimeError("the model file is missing")


def failing_resource() -> Resource[CountingModel]:
    """Return a resource named 'broken' whose factory raises RuntimeError."""
    return Resource(_fail_to_build, name="broken")


def builds(log: str, tag: str = "model") -> list[str]:
    """Return where (``pid:thread``) each build of `tag` recorded in `log` happened."""
    return [line.split()[2] for line in read_calls(log) if line.startswith(f"build {tag} ")]


def teardowns(log: str, tag: str = "model") -> list[str]:
    """Return where (``pid:thread``) each teardown of `tag` recorded in `log` happened."""
    return [line.split()[2] for line in read_calls(log) if line.startswith(f"close {tag} ")]


def computed(log: str) -> list[int]:
    """Return the items computed by :data:`triple`, by either of its forms."""
    return [int(line.split()[1]) for line in read_calls(log) if line.startswith(("item ", "batch "))]


def scaling_node(model: Resource[CountingModel], *, batch: bool = False) -> Node:
    """Return the node ``scaled = model.predict(x) + offset`` using `model`, with a batch form if `batch`."""

    def scale(x: int, offset: int = 0, model: Any = model) -> int:
        return int(model.predict(x)) + offset

    def scale_batch(x: list[int], offset: list[int], model: Any) -> list[int]:
        return [int(model.predict(v)) + o for v, o in zip(x, offset)]

    return Node(scale, "scaled", batch=scale_batch if batch else None)


def _triple_batch(x: list[int], log: list[str]) -> list[int]:
    record_call(log[0], f"batch-call {len(x)}")
    for value in x:
        record_call(log[0], f"batch {value}")
    return [3 * value for value in x]


@node(output_name="tripled", batch=_triple_batch)
def triple(x: int, log: str) -> int:
    """Triple `x`, recording the call; its batch form records each item it computes."""
    record_call(log, f"item {x}")
    return 3 * x


def _split_batch(tripled: list[int]) -> list[tuple[int, int]]:
    return [divmod(value, 2) for value in tripled]


@node(output_name=("half", "parity"), batch=_split_batch)
def split(tripled: int) -> tuple[int, int]:
    """Return ``divmod(tripled, 2)``; its batch form gives a tuple per item."""
    return divmod(tripled, 2)


def _short_batch(x: list[int]) -> list[int]:
    return [2 * value for value in x][:-1]  # one result short: a bug the engine must report


@node(output_name="doubled", batch=_short_batch)
def short_batch(x: int) -> int:
    """Double `x`; its batch form (wrongly) returns one result too few."""
    return 2 * x
