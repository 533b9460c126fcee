"""What every executor of this package shares (private): identity, pickling, item runners.

``LocalExecutor`` adds two things to core's ``Executor``:

* ``map_items_with``: ``map_items`` where each item's pipeline runs through a given function
  (another executor's ``run_pipeline``); ``CompositeExecutor`` is built on it.
* a key that identifies the executor across processes. A ``RunContext`` holds the config and
  so the executor, and it is pickled into worker processes; an executor pickles as its
  constructor arguments and key (never its pools), and unpickles, once per process, into one
  instance per key. So a worker recognises "its own" executor (nested work runs inline, see
  :mod:`hypernodes.executors._scope`) and the pools an executor starts inside a worker
  process are reused across chunks instead of being started once per chunk.
"""

from __future__ import annotations

import abc
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from typing_extensions import override

from hypernodes import Executor, InvalidArgumentError

if TYPE_CHECKING:
    from hypernodes import ExecutionPlan, Pipeline, RunContext
    from hypernodes._types import Inputs, OutputNames, Outputs

__all__ = ["LocalExecutor", "RunPipeline", "is_chain", "positive_int"]

RunPipeline: TypeAlias = "Callable[[Pipeline, Inputs, RunContext, OutputNames | None], Outputs]"
"""Runs one pipeline level: an executor's ``run_pipeline``."""

_restored: dict[str, LocalExecutor] = {}  # key -> the one instance unpickled in this process
_restored_lock = threading.Lock()  # guards _restored


class LocalExecutor(Executor):
    """Base of this package's executors: a process-independent key and item runners."""

    def __init__(self) -> None:
        self._key = uuid.uuid4().hex

    @override
    def map_items(
        self,
        pipeline: Pipeline,
        items: Sequence[Inputs],
        inputs: Inputs,
        ctx: RunContext,
        output_name: OutputNames | None,
    ) -> list[Outputs]:
        return self.map_items_with(pipeline, items, inputs, ctx, output_name, None)

    @abc.abstractmethod
    def map_items_with(
        self,
        pipeline: Pipeline,
        items: Sequence[Inputs],
        inputs: Inputs,
        ctx: RunContext,
        output_name: OutputNames | None,
        run: RunPipeline | None,
    ) -> list[Outputs]:
        """Schedule the items like ``map_items``; each item's pipeline runs through `run` (None: ours)."""

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


_chains: dict[int, tuple[ExecutionPlan, bool]] = {}  # id(plan) -> (plan, is_chain); the plan is kept alive
_CHAINS_KEPT = 1024  # plans remembered; past that the oldest are forgotten (and recomputed if needed)


def is_chain(plan: ExecutionPlan) -> bool:
    """Return whether at most one step of `plan` can be ready at any time (nothing to overlap).

    Computed once per plan: the answer is on every run's path, so a linear chain under a
    pool executor costs what it costs under ``SequentialExecutor``.
    """
    entry = _chains.get(id(plan))
    if entry is not None and entry[0] is plan:
        return entry[1]
    steps = plan.steps
    chain = len(steps) <= 1 or (
        sum(1 for step in steps if not step.dependencies) <= 1
        and all(len(dependents) <= 1 for dependents in plan.dependents)
    )
    if len(_chains) >= _CHAINS_KEPT:
        _chains.pop(next(iter(_chains)), None)  # a benign race at worst: the entry is recomputed
    _chains[id(plan)] = (plan, chain)
    return chain
