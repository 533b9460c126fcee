"""Whether the current code runs inside one of this package's Daft UDFs (private).

A UDF runs the steps of its rows through the engine, and a step may be a nested pipeline (or
a nested map) whose config names a ``DaftExecutor`` too. Starting a second Daft query from a
UDF of a running query would wait on the runner that runs this very UDF, so nested levels run
inline, in the UDF's thread. The mark is a context variable, so it follows the work into the
threads a UDF hands rows to (``copy_context().run``) and into the worker processes, where
``run_payload`` runs inside the mark.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["inside_udf", "is_inside_udf"]

_inside: ContextVar[bool] = ContextVar("hypernodes_daft_inside_udf", default=False)


def is_inside_udf() -> bool:
    """Return whether this code runs inside a HyperNodes Daft UDF."""
    return _inside.get()


@contextmanager
def inside_udf() -> Iterator[None]:
    """Mark the block as running inside a HyperNodes Daft UDF."""
    token = _inside.set(True)
    try:
        yield
    finally:
        _inside.reset(token)
