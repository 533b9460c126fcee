"""The HyperNodes exception tree.

Every error HyperNodes raises derives from :class:`HyperNodesError`. Errors about what the
caller passed are also ``ValueError`` s, and a node that runs too long raises a
``TimeoutError``, so code that catches the builtin types keeps working::

    HyperNodesError
     ├── InvalidArgumentError   (also ValueError)  bad arguments: unknown output name, bad map_over, ...
     │    ├── CycleError         (also ValueError)  the nodes form a cycle
     │    └── DependencyError    (also ValueError)  duplicate output names, a missing required input
     ├── NodeTimeoutError       (also TimeoutError) one node call ran past ``timeout``
     ├── SerializationError     (also TypeError)   a value could not be sent to a worker process
     └── WorkerCrashedError                         a worker process died while running items

An exception raised by a user's node is never wrapped: it propagates as itself, with a PEP 678
note naming the node, the pipeline path and the map item.
"""

from __future__ import annotations

__all__ = [
    "CycleError",
    "DependencyError",
    "HyperNodesError",
    "InvalidArgumentError",
    "NodeTimeoutError",
    "SerializationError",
    "WorkerCrashedError",
]


class HyperNodesError(Exception):
    """Base class of every error HyperNodes raises.

    Attributes:
        node_name: The node the error is about, if any.
        input_name: The input the error is about, if any.
        item_index: The map item the error is about, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        node_name: str | None = None,
        input_name: str | None = None,
        item_index: int | None = None,
    ) -> None:
        super().__init__(message)
        self.node_name = node_name
        self.input_name = input_name
        self.item_index = item_index

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the keyword attributes when the error crosses a process boundary.
        return (
            _rebuild_error,
            (type(self), str(self), self.node_name, self.input_name, self.item_index),
        )


def _rebuild_error(
    cls: type[HyperNodesError],
    message: str,
    node_name: str | None,
    input_name: str | None,
    item_index: int | None,
) -> HyperNodesError:
    error = cls.__new__(cls)
    HyperNodesError.__init__(
        error, message, node_name=node_name, input_name=input_name, item_index=item_index
    )
    return error


class InvalidArgumentError(HyperNodesError, ValueError):
    """An argument has an invalid value (an unknown output name, a bad ``map_over``, ...)."""


class CycleError(InvalidArgumentError):
    """The nodes of a pipeline form a cycle.

    Attributes:
        cycle: The node names along the cycle, first and last equal.
    """

    def __init__(self, message: str, *, cycle: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.cycle = cycle


class DependencyError(InvalidArgumentError):
    """Two nodes produce one output, or a required input is missing."""


class NodeTimeoutError(HyperNodesError, TimeoutError):
    """One node call ran past the configured ``timeout``."""


class SerializationError(HyperNodesError, TypeError):
    """A value could not be pickled to cross a process or machine boundary."""


class WorkerCrashedError(HyperNodesError):
    """A worker process died (killed, out of memory, ``os._exit``) while running work."""
