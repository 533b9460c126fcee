"""What every executor of this package shares (private): an identity that survives pickling.

A ``RunContext`` holds the config and so the executor, and it is pickled into worker
processes; an executor pickles as its constructor arguments and key (never its pools), and
unpickles, once per process, into one instance per key. So a worker recognises "its own"
executor (nested work runs inline, see :mod:`hypernodes.executors._scope`) and the pools an
executor starts inside a worker process are reused across chunks instead of being started
once per chunk.
"""

from __future__ import annotations

import abc
import threading
import uuid
from typing import Any

from hypernodes import InvalidArgumentError
from hypernodes.executor import Executor

__all__ = ["LocalExecutor", "positive_int"]

_restored: dict[str, LocalExecutor] = {}  # key -> the one instance unpickled in this process
_restored_lock = threading.Lock()  # guards _restored


class LocalExecutor(Executor):
    """Base of this package's executors: a process-independent key, pickled as its arguments."""

    def __init__(self) -> None:
        self._key = uuid.uuid4().hex

    @abc.abstractmethod
    def _arguments(self) -> dict[str, Any]:
        """Return the constructor arguments that rebuild this executor (for pickling)."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Live pools, threads and queues stay in this process; see the module docstring.
        return (_restore, (type(self), self._key, self._arguments()))

    def __repr__(self) -> str:
        arguments = ", ".join(f"{name}={value!r}" for name, value in self._arguments().items())
        return f"{type(self).__name__}({arguments})"


def _restore(cls: type[LocalExecutor], key: str, arguments: dict[str, Any]) -> LocalExecutor:
    with _restored_lock:
        executor = _restored.get(key)
        if executor is None:
            executor = cls(**arguments)
            executor._key = key
            _restored[key] = executor
        return executor


def positive_int(value: object, argument: str, owner: str) -> int:
    """Return `value` if it is an int >= 1, else raise an error naming `argument` of `owner`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"{owner}({argument}=...) must be an int >= 1, got {value!r}")
    return value
