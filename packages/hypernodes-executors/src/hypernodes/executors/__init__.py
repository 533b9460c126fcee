"""HyperNodes executors for one machine: HOW nodes and map items are scheduled in this process.

* :class:`SequentialExecutor`: one node and one item at a time, in the caller's thread.
* :class:`AsyncExecutor`: ``async def`` nodes and map items awaited concurrently on an event loop.
* :class:`ThreadPoolExecutor`: independent nodes and map items in parallel threads.
* :class:`ProcessPoolExecutor`: map items in chunks on worker processes (CPU-bound work).
* :class:`CompositeExecutor`: map items through one executor, each item's nodes through another.

See ``docs/advanced/executors.md`` for choosing one, the nesting policy and pickling rules.
"""

from __future__ import annotations

from hypernodes.executors.asynchronous import AsyncExecutor
from hypernodes.executors.composite import CompositeExecutor
from hypernodes.executors.process_pool import ProcessPoolExecutor
from hypernodes.executors.sequential import SequentialExecutor
from hypernodes.executors.thread_pool import ThreadPoolExecutor

__all__ = [
    "AsyncExecutor",
    "CompositeExecutor",
    "ProcessPoolExecutor",
    "SequentialExecutor",
    "ThreadPoolExecutor",
]
