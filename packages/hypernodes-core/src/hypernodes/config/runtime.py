"""``RuntimeConfig``: one choice of backend and executor, plus cache, callbacks and policies.

The module also owns the ambient defaults: ``RuntimeConfig.use`` (a context variable, so it
is local to a thread and to an asyncio task) and ``set_default_config`` (process-wide).
"""

from __future__ import annotations

import dataclasses
import difflib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Self, TypeAlias

from hypernodes.backend.base import Backend
from hypernodes.backend.local import LocalBackend
from hypernodes.cache.base import Cache
from hypernodes.callbacks.base import PipelineCallback
from hypernodes.callbacks.dispatch import check_callback_setting
from hypernodes.config.retry import RetryPolicy
from hypernodes.errors import InvalidArgumentError
from hypernodes.executor.base import Executor

if TYPE_CHECKING:
    from hypernodes.cache.spec import CacheSpec

__all__ = [
    "UNSET",
    "CacheSetting",
    "CallbackSetting",
    "ConfigPatch",
    "ConfigSetting",
    "RuntimeConfig",
    "ambient_config",
    "default_executor",
    "get_default_config",
    "library_default_config",
    "set_default_config",
    "updated_setting",
]

CacheSetting: TypeAlias = "Cache | CacheSpec | Callable[[], Cache] | None"
CallbackSetting: TypeAlias = "PipelineCallback | Callable[[], PipelineCallback]"

_default_executor: Executor | None = None
_default_executor_lock = threading.Lock()  # guards _default_executor creation


def default_executor() -> Executor:
    """Return the library's shared default executor, made on first use.

    It is ``ThreadPoolExecutor(max_workers=4)`` when hypernodes-executors is installed and
    in-process sequential execution otherwise. Every ``RuntimeConfig`` that does not name an
    executor shares this one instance (and so its one pool).
    """
    global _default_executor
    executor = _default_executor
    if executor is None:
        with _default_executor_lock:
            executor = _default_executor
            if executor is None:
                executor = _make_default_executor()
                _default_executor = executor
    return executor


def _make_default_executor() -> Executor:
    try:
        from hypernodes.executors import ThreadPoolExecutor  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # only hypernodes-core is installed
        from hypernodes.executor.inline import InlineExecutor

        return InlineExecutor()
    executor: Executor = ThreadPoolExecutor(max_workers=4)
    return executor


@dataclass(frozen=True, kw_only=True)
class RuntimeConfig:
    """Choose where (backend), how (executor) and under which policies nodes run.

    A config is immutable: :meth:`replace` returns a modified copy. Give one to a pipeline
    (``Pipeline(config=...)``, ``with_config``), a node (``node.with_config``), a single call
    (``run(config=...)``), a block (``with RuntimeConfig.use(...)``) or the whole process
    (:func:`set_default_config`). The most specific level wins and replaces the whole config;
    fields are never merged across levels.

    Attributes:
        backend: WHERE the code runs (default: this process).
        executor: HOW nodes and map items are scheduled there (default: the shared
            :func:`default_executor`).
        cache: A ``Cache``, a ``CacheSpec`` (made where the run executes), a zero-argument
            factory, or None for no caching.
        callbacks: Callbacks, or zero-argument factories made once per run.
        retries: Extra attempts per node call after a failure (0: no retry), or a
            :class:`~hypernodes.RetryPolicy` (delays, backoff, which exception types).
        timeout: Seconds one node call may take, or None for no limit.

    >>> RuntimeConfig(retries=2).replace(timeout=30.0).retries
    2
    """

    backend: Backend = field(default_factory=LocalBackend)
    executor: Executor = field(default_factory=default_executor)
    cache: CacheSetting = None
    callbacks: Sequence[CallbackSetting] = ()
    retries: int | RetryPolicy = 0
    timeout: float | None = None

    def __new__(cls, *args: Any, **fields: Any) -> Self:
        """Reject a field name that does not exist, naming the one meant (before ``__init__``)."""
        # The dataclass __init__ would reject an unknown field with a bare TypeError; name the
        # field the caller probably meant instead (replace() comes through here too).
        unknown = [name for name in fields if name not in _FIELDS]
        if unknown:
            raise InvalidArgumentError(_unknown_field_message(unknown[0]), input_name=unknown[0])
        return super().__new__(cls)

    def __post_init__(self) -> None:
        if not isinstance(self.backend, Backend):
            raise InvalidArgumentError(
                f"RuntimeConfig(backend=...) needs a Backend such as LocalBackend(), got {self.backend!r}"
            )
        if not isinstance(self.executor, Executor):
            raise InvalidArgumentError(
                "RuntimeConfig(executor=...) needs an Executor such as ThreadPoolExecutor(), "
                f"got {self.executor!r}"
            )
        if self.cache is not None and not _is_cache_setting(self.cache):
            raise InvalidArgumentError(
                "RuntimeConfig(cache=...) takes a Cache, a CacheSpec, a zero-argument factory or None, "
                f"got {type(self.cache).__name__}"
            )
        callbacks = self.callbacks
        if isinstance(callbacks, PipelineCallback) or callable(callbacks):
            callbacks = (callbacks,)  # type: ignore[assignment,unused-ignore]
        callbacks = tuple(callbacks)
        for index, callback in enumerate(callbacks):
            check_callback_setting(callback, index)
        object.__setattr__(self, "callbacks", callbacks)
        if not isinstance(self.retries, RetryPolicy) and (
            isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0
        ):
            raise InvalidArgumentError(
                "RuntimeConfig(retries=...) must be an int >= 0 (extra attempts) or a RetryPolicy, "
                f"got {self.retries!r}"
            )
        if self.timeout is not None:
            if (
                isinstance(self.timeout, bool)
                or not isinstance(self.timeout, int | float)
                or self.timeout <= 0
            ):
                raise InvalidArgumentError(
                    f"RuntimeConfig(timeout=...) must be a number of seconds > 0 or None, got {self.timeout!r}"
                )
            object.__setattr__(self, "timeout", float(self.timeout))

    def replace(self, **changes: Any) -> Self:
        """Return a copy with `changes` applied; this config is not modified."""
        return dataclasses.replace(self, **changes)

    @staticmethod
    @contextmanager
    def use(config: RuntimeConfig) -> Iterator[RuntimeConfig]:
        """Make `config` the default for the block (local to this thread and asyncio task).

        Example:
            >>> with RuntimeConfig.use(RuntimeConfig(retries=1)) as config:
            ...     config.retries
            1
        """
        if not isinstance(config, RuntimeConfig):
            raise InvalidArgumentError(
                f"RuntimeConfig.use() needs a RuntimeConfig, got {type(config).__name__}"
            )
        token = _context_config.set(config)
        try:
            yield config
        finally:
            _context_config.reset(token)


_FIELDS = ("backend", "executor", "cache", "callbacks", "retries", "timeout")  # pinned by a test
_PATCH_MEMO = 64  # bases remembered per patch; past that the oldest results are made again


def _unknown_field_message(name: str, what: str = "RuntimeConfig has no field") -> str:
    """Return the message for an unknown config field `name`, naming the field meant."""
    close = difflib.get_close_matches(name, _FIELDS, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    if close == ["retries"]:
        hint += " (retries counts extra attempts per node call: retries=2 allows three calls in all)"
    return f"{what} {name!r}; the fields of RuntimeConfig are: {', '.join(_FIELDS)}.{hint}"


class ConfigPatch:
    """Field changes applied to whatever config a level would otherwise inherit.

    ``node.with_config(retries=3)`` and ``pipeline.with_config(executor=...)`` make one: the
    node (or pipeline) keeps the cache, callbacks, backend... of the config it runs under,
    with only these fields changed. A full ``RuntimeConfig`` replaces everything instead.
    The patched config is made once per base config (memoised), not per call.

    >>> patch = ConfigPatch({"retries": 3})
    >>> patch.apply(RuntimeConfig(timeout=5.0)).retries, patch.apply(RuntimeConfig(timeout=5.0)).timeout
    (3, 5.0)
    >>> patch
    ConfigPatch(retries=3)
    """

    __slots__ = ("_lock", "_memo", "changes")

    def __init__(self, changes: Mapping[str, Any]) -> None:
        unknown = [name for name in changes if name not in _FIELDS]
        if unknown:
            raise InvalidArgumentError(_unknown_field_message(unknown[0], "with_config() got an unknown field"))
        if not changes:
            raise InvalidArgumentError("with_config() needs a RuntimeConfig, None, or field changes such as retries=3")
        library_default_config().replace(**changes)  # validate the values now, not at run time
        self.changes: Mapping[str, Any] = MappingProxyType(dict(changes))
        self._memo: dict[int, tuple[RuntimeConfig, RuntimeConfig]] = {}
        self._lock = threading.Lock()  # guards _memo

    def apply(self, base: RuntimeConfig) -> RuntimeConfig:
        """Return `base` with these changes (the same object for the same base)."""
        entry = self._memo.get(id(base))
        if entry is not None and entry[0] is base:
            return entry[1]
        patched = base.replace(**self.changes)
        with self._lock:
            if len(self._memo) >= _PATCH_MEMO:
                self._memo.pop(next(iter(self._memo)))
            self._memo[id(base)] = (base, patched)  # keeps `base` alive, so its id is not reused
        return patched

    def merged(self, changes: Mapping[str, Any]) -> ConfigPatch:
        """Return a patch with `changes` on top of these."""
        return ConfigPatch({**self.changes, **changes})

    def __reduce__(self) -> tuple[Any, ...]:
        return (ConfigPatch, (dict(self.changes),))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfigPatch) and dict(self.changes) == dict(other.changes)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.changes)))

    def __repr__(self) -> str:
        return f"ConfigPatch({', '.join(f'{k}={v!r}' for k, v in self.changes.items())})"


ConfigSetting: TypeAlias = "RuntimeConfig | ConfigPatch | None"
"""What a node or pipeline holds as its config: a full config, a patch, or nothing (inherit)."""

UNSET: Any = object()
"""The default of ``with_config(config)``: no config given (field changes may be)."""


def updated_setting(
    current: ConfigSetting, config: RuntimeConfig | ConfigPatch | None, changes: Mapping[str, Any], owner: str
) -> ConfigSetting:
    """Return the config setting of ``owner.with_config(config)`` or ``owner.with_config(**changes)``."""
    if changes:
        if config is not UNSET:
            raise InvalidArgumentError(
                f"{owner}.with_config() takes a RuntimeConfig or field changes (retries=3, ...), not both"
            )
        if isinstance(current, RuntimeConfig):
            return current.replace(**changes)  # a full config stays full
        if isinstance(current, ConfigPatch):
            return current.merged(changes)
        return ConfigPatch(changes)
    if config is UNSET:
        raise InvalidArgumentError(
            f"{owner}.with_config() needs a RuntimeConfig, None, or field changes such as retries=3"
        )
    if config is not None and not isinstance(config, RuntimeConfig | ConfigPatch):
        raise InvalidArgumentError(
            f"{owner}.with_config() takes a RuntimeConfig (or field changes such as retries=3), "
            f"got {type(config).__name__}"
        )
    return config


def _is_cache_setting(value: object) -> bool:
    if isinstance(value, Cache) or callable(value):
        return True
    from hypernodes.cache.spec import CacheSpec  # imported late: the cache package is optional work

    return isinstance(value, CacheSpec)


_context_config: ContextVar[RuntimeConfig | None] = ContextVar("hypernodes_context_config", default=None)
_global_config: RuntimeConfig | None = None
_library_default: RuntimeConfig | None = None


def set_default_config(config: RuntimeConfig | None) -> None:
    """Set the process-wide default config (None restores the library default)."""
    global _global_config
    if config is not None and not isinstance(config, RuntimeConfig):
        raise InvalidArgumentError(
            f"set_default_config() needs a RuntimeConfig or None, got {type(config).__name__}"
        )
    _global_config = config


def get_default_config() -> RuntimeConfig:
    """Return the process-wide default config: the one set, else the library default."""
    return _global_config if _global_config is not None else library_default_config()


def library_default_config() -> RuntimeConfig:
    """Return the library default, ``RuntimeConfig(backend=LocalBackend(), executor=default)``."""
    global _library_default
    if _library_default is None:
        _library_default = RuntimeConfig()
    return _library_default


def ambient_config() -> tuple[RuntimeConfig, Literal["context", "global", "default"]]:
    """Return the config in force outside any pipeline, and its source label."""
    config = _context_config.get()
    if config is not None:
        return config, "context"
    if _global_config is not None:
        return _global_config, "global"
    return library_default_config(), "default"
