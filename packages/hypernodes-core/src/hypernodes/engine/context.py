"""Per-run state: ``RunState`` (one per root run) and ``RunContext`` (one per pipeline level).

A ``RunContext`` tells the engine where it is (pipeline path, depth, map item), which config
is in force there, and the cache and callback dispatcher that config materialised. Contexts
are immutable and cheap to derive: one per nested pipeline call and one per map item.
"""

from __future__ import annotations

import itertools
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from hypernodes.callbacks.context import CallbackContext
from hypernodes.callbacks.dispatch import CallbackDispatcher
from hypernodes.config.retry import RetryPolicy

if TYPE_CHECKING:
    from hypernodes.cache.base import Cache
    from hypernodes.config.runtime import CacheSetting, CallbackSetting, RuntimeConfig
    from hypernodes.engine.failures import ErrorPolicy
    from hypernodes.graph.pipeline import Pipeline

__all__ = ["EventSink", "RunContext", "RunState"]

_RUN_ID_PREFIX = uuid.uuid4().hex[:8]  # one random prefix per process: ids stay unique across processes
_run_counter = itertools.count(1)  # next() on a count is atomic under the GIL
_frame_counter = itertools.count(1)

EventSink = Callable[[int, str, CallbackContext, tuple[Any, ...]], None]
"""Receives ``(callbacks_token, hook, ctx, args)`` for relaying callback events out of a worker.

The token names the callbacks (of one level's config) in the caller that the event is for.
"""


def _renew_prefix() -> None:
    # A forked child inherits the prefix and the counters: without a prefix of its own, two
    # children of one parent would make the same frame ids (a fork-based pool of a third-party
    # executor, say), and callbacks would mix up their events.
    global _RUN_ID_PREFIX
    _RUN_ID_PREFIX = uuid.uuid4().hex[:8]


if hasattr(os, "register_at_fork"):  # POSIX only; Windows cannot fork
    os.register_at_fork(after_in_child=_renew_prefix)


def new_frame_id() -> str:
    """Return an id for a new level of a run, unique across processes."""
    return f"{_RUN_ID_PREFIX}.{next(_frame_counter):x}"


class RunState:
    """What one root ``run``/``map`` call shares across all its levels and items.

    Caches and callbacks are materialised here once per run (a ``CacheSpec`` or a factory is
    called once, where the run executes). Thread safe.

    Attributes:
        run_id: Identifies the run in callback contexts.
        state: The dict shared by the callbacks of the run.
        event_sink: In a worker process, where callback events are sent instead of being
            dispatched (set by the executor that runs the worker).
    """

    __slots__ = ("_caches", "_dispatchers", "_lock", "_run_id", "_warned", "event_sink", "state")

    def __init__(self, run_id: str | None = None, event_sink: EventSink | None = None) -> None:
        self._run_id = run_id  # made on first read: only callbacks need it
        self.state: dict[str, Any] = {}
        self.event_sink = event_sink
        self._caches: dict[int, tuple[object, Cache | None]] = {}
        self._dispatchers: dict[int, tuple[object, CallbackDispatcher | None]] = {}
        self._warned: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()  # guards _caches, _dispatchers and _warned

    def __reduce__(self) -> tuple[Any, ...]:
        # Materialised caches and callbacks stay in this process; a worker makes its own.
        return (RunState, (self.run_id,))

    @property
    def run_id(self) -> str:
        """Identify the run in callback contexts (made on first read)."""
        run_id = self._run_id
        if run_id is None:
            with self._lock:
                if self._run_id is None:
                    self._run_id = f"{_RUN_ID_PREFIX}-{next(_run_counter):x}"
                run_id = self._run_id
        return run_id

    def cache_for(self, setting: CacheSetting) -> Cache | None:
        """Return the cache `setting` makes, made once per run."""
        if setting is None:
            return None
        key = id(setting)
        entry = self._caches.get(key)
        if entry is None:
            from hypernodes.cache.spec import materialize_cache  # the cache package is optional work

            with self._lock:
                entry = self._caches.get(key)
                if entry is None:
                    # keep `setting` alive in the entry so its id cannot be reused during the run
                    entry = (setting, materialize_cache(setting))
                    self._caches[key] = entry
        return entry[1]

    def dispatcher_for(self, callbacks: Sequence[CallbackSetting]) -> CallbackDispatcher | None:
        """Return the dispatcher for `callbacks` (None when there are none), made once per run."""
        if not callbacks:
            return None
        key = id(callbacks)
        entry = self._dispatchers.get(key)
        if entry is None:
            with self._lock:
                entry = self._dispatchers.get(key)
                if entry is None:
                    entry = (callbacks, self._make_dispatcher(callbacks))
                    self._dispatchers[key] = entry
        return entry[1]

    def _make_dispatcher(self, callbacks: Sequence[CallbackSetting]) -> CallbackDispatcher:
        from hypernodes.callbacks.relay import RelayDispatcher, RelayedCallbacks

        sink = self.event_sink
        if sink is not None and len(callbacks) == 1 and isinstance(callbacks[0], RelayedCallbacks):
            # A worker: these are the callbacks of some level's config in the caller.
            return RelayDispatcher(sink, callbacks[0])
        from hypernodes.callbacks.base import PipelineCallback

        return CallbackDispatcher([cb if isinstance(cb, PipelineCallback) else cb() for cb in callbacks])

    def warn_once(self, *key: str) -> bool:
        """Return True the first time `key` is seen in this run (for once-per-run warnings)."""
        with self._lock:
            if key in self._warned:
                return False
            self._warned.add(key)
            return True


class RunContext:
    """Where the engine is in a run, and what is in force there.

    A context is immutable by contract (its attributes are never reassigned once it is
    built); derive a new one with :meth:`for_item`, :meth:`for_nested` or
    :meth:`for_node_config`. It is a plain slotted class, not a frozen dataclass, because one
    is built per map item and a frozen dataclass costs four times as much to build.

    Attributes:
        run: The root run's shared state.
        config: The effective config at this level.
        pipeline_name: The current pipeline's name.
        path: Pipeline names from the root, root first.
        depth: 0 at the root.
        item_index: The innermost map item, or None.
        item_indices: For each level of ``path``, the map item being run there (None where
            that level is not a map item).
        locked: The root config came from the call site and applies to every level.
        transparent: This level runs one node under its own config; it fires no pipeline hooks.
        cache: The materialised cache of ``config``, or None.
        dispatcher: The callback dispatcher of ``config``, or None when there are no callbacks.
        callback_context: What hooks receive at this level (None without callbacks); its
            ``frame_id`` identifies this level.
        frame_id: This level's frame id (None when no callback listens anywhere in the run).
        parent_frame_id: The frame that started this level, or None.
        plain_calls: No retries and no timeout: node functions are called directly.
        on_error: What a map at this level does when an item fails (``"raise"``/``"continue"``).
        input_signatures: Cache signatures of input values already known (shared by the items
            of one map, so broadcast inputs are hashed once).
    """

    __slots__ = (
        "cache",
        "callback_context",
        "config",
        "depth",
        "dispatcher",
        "frame_id",
        "input_signatures",
        "item_index",
        "item_indices",
        "locked",
        "on_error",
        "parent_frame_id",
        "path",
        "pipeline_name",
        "plain_calls",
        "run",
        "transparent",
    )

    def __init__(
        self,
        *,
        run: RunState,
        config: RuntimeConfig,
        pipeline_name: str,
        path: tuple[str, ...],
        depth: int = 0,
        item_index: int | None = None,
        item_indices: tuple[int | None, ...] | None = None,
        locked: bool = False,
        transparent: bool = False,
        input_signatures: dict[str, str] | None = None,
        frame_id: str | None = None,
        parent_frame_id: str | None = None,
        on_error: ErrorPolicy = "raise",
    ) -> None:
        self.run = run
        self.on_error = on_error
        self.config = config
        self.pipeline_name = pipeline_name
        self.path = path
        self.depth = depth
        self.item_index = item_index
        self.item_indices = (None,) * len(path) if item_indices is None else item_indices
        self.locked = locked
        self.transparent = transparent
        # A remote backend's level is cached where it runs: building the cache here would be useless.
        self.cache = None if config.backend.is_remote else run.cache_for(config.cache)
        self.dispatcher = dispatcher = run.dispatcher_for(config.callbacks)
        self.parent_frame_id = parent_frame_id
        if frame_id is None and (dispatcher is not None or parent_frame_id is not None):
            frame_id = new_frame_id()
        self.frame_id = frame_id
        self.callback_context = None if dispatcher is None else self._callback_context(item_index)
        retries = config.retries
        no_retry = retries == 0 or (type(retries) is RetryPolicy and not retries.attempts)
        self.plain_calls = no_retry and config.timeout is None
        self.input_signatures = {} if input_signatures is None else input_signatures

    def _callback_context(self, item_index: int | None) -> CallbackContext:
        return CallbackContext(
            run_id=self.run.run_id,
            pipeline=self.pipeline_name,
            path=self.path,
            depth=self.depth,
            item_index=item_index,
            item_indices=self.item_indices,
            frame_id=self.frame_id or "",
            parent_frame_id=self.parent_frame_id,
            state=self.run.state,
        )

    def __repr__(self) -> str:
        item = "" if self.item_index is None else f", item_index={self.item_index}"
        return f"RunContext(path={' > '.join(self.path)!r}, depth={self.depth}{item})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_context, ({**self.worker_fields(), "run": self.run},))

    def worker_fields(self) -> dict[str, Any]:
        """Return what a worker needs to rebuild this context, all but the run state.

        A worker rebuilds it as ``RunContext(run=RunState(run_id, event_sink=...), **fields)``.
        """
        return {
            "config": self.config,
            "pipeline_name": self.pipeline_name,
            "path": self.path,
            "depth": self.depth,
            "item_index": self.item_index,
            "item_indices": self.item_indices,
            "locked": self.locked,
            "transparent": self.transparent,
            "input_signatures": self.input_signatures,
            "frame_id": self.frame_id,
            "parent_frame_id": self.parent_frame_id,
            "on_error": self.on_error,
        }

    @property
    def location(self) -> str:
        """Describe where this is, for error messages: ``prep > per_item, map item 17``.

        Formatted on each read: read it only to report an error or a timeout.
        """
        *outer, innermost = self.item_indices
        where = " > ".join(
            name if index is None else f"{name}[item {index}]" for name, index in zip(self.path, (*outer, None))
        )
        return where if innermost is None else f"{where}, map item {innermost}"

    def for_item(self, index: int) -> RunContext:
        """Return the context of map item `index` at this level (cheap: once per item)."""
        item = RunContext.__new__(RunContext)
        item.run = self.run
        item.config = self.config
        item.pipeline_name = self.pipeline_name
        item.path = self.path
        item.depth = self.depth
        item.item_index = index
        item.item_indices = (*self.item_indices[:-1], index)
        item.locked = self.locked
        item.transparent = False
        item.cache = self.cache  # same config, same run: already materialised
        item.dispatcher = self.dispatcher
        if self.frame_id is None:
            item.frame_id = item.parent_frame_id = None
        else:
            item.parent_frame_id = self.frame_id  # the map's frame
            item.frame_id = new_frame_id()
        item.callback_context = None if self.dispatcher is None else item._callback_context(index)
        item.plain_calls = self.plain_calls
        item.input_signatures = self.input_signatures
        item.on_error = self.on_error
        return item

    def for_nested(
        self,
        pipeline_name: str,
        config: RuntimeConfig,
        input_signatures: dict[str, str] | None = None,
        on_error: ErrorPolicy = "raise",
    ) -> RunContext:
        """Return the context of a nested pipeline named `pipeline_name`, running under `config`.

        `config` is the nested level's resolved config (``resolve_nested``); `on_error` is the
        nested node's policy for its map.
        """
        return RunContext(
            run=self.run,
            config=config,
            pipeline_name=pipeline_name,
            path=(*self.path, pipeline_name),
            depth=self.depth + 1,
            item_index=self.item_index,
            item_indices=(*self.item_indices, None),
            locked=self.locked,
            input_signatures=input_signatures,
            parent_frame_id=self.frame_id,
            on_error=on_error,
        )

    def for_node_config(self, config: RuntimeConfig) -> RunContext:
        """Return a transparent context running one node of this level under `config`.

        It is the same frame as this level: its events belong here.
        """
        return RunContext(
            run=self.run,
            config=config,
            pipeline_name=self.pipeline_name,
            path=self.path,
            depth=self.depth,
            item_index=self.item_index,
            item_indices=self.item_indices,
            transparent=True,
            frame_id=self.frame_id,
            parent_frame_id=self.parent_frame_id,
        )

    def for_worker(self, event_sink: EventSink | None) -> RunContext:
        """Return this context rebuilt for a worker, relaying callback events to `event_sink`."""
        return RunContext(run=RunState(self.run.run_id, event_sink=event_sink), **self.worker_fields())

    @classmethod
    def root(
        cls, pipeline_name: str, config: RuntimeConfig, *, locked: bool, on_error: ErrorPolicy = "raise"
    ) -> RunContext:
        """Return the context of a new root run."""
        return cls(
            run=RunState(), config=config, pipeline_name=pipeline_name, path=(pipeline_name,), locked=locked,
            on_error=on_error,
        )  # fmt: skip

    @classmethod
    def for_pipeline(cls, pipeline: Pipeline, config: RuntimeConfig | None = None) -> RunContext:
        """Return the context a root run of `pipeline` gets (`config` as a call-site config).

        For tests and tools that drive an executor directly; ``Pipeline.run`` makes its own.
        """
        from hypernodes.config.resolution import resolve_root  # the config package imports the engine's users

        effective, locked = resolve_root(pipeline, config)
        return cls.root(pipeline.name, effective, locked=locked)


def _rebuild_context(fields: dict[str, Any]) -> RunContext:
    return RunContext(**fields)
