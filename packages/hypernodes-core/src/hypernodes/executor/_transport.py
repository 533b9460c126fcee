"""Pickling for workers (private): cloudpickle, callbacks left behind, clear errors.

Functions, lambdas and closures defined in ``__main__``, a notebook or a test module travel by
value (cloudpickle). Callback objects stay in the caller: a worker relays their events instead
(see :mod:`hypernodes.callbacks.relay`). The callbacks of every ``RuntimeConfig`` in a payload
are sent as one :class:`~hypernodes.callbacks.relay.RelayedCallbacks` token that names them in
the caller, so a callback holding a lock, a file or a progress bar never has to be picklable,
and the events of each level reach that level's callbacks. A value that cannot be pickled
becomes a :class:`~hypernodes.SerializationError` naming the node or input it belongs to, the
map item and the value's type.
"""

from __future__ import annotations

import functools
import io
import pickle
import sys
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import cloudpickle  # type: ignore[import-untyped]

from hypernodes.callbacks.base import PipelineCallback
from hypernodes.callbacks.relay import RelayedCallbacks
from hypernodes.config.runtime import RuntimeConfig
from hypernodes.errors import SerializationError
from hypernodes.graph.node import Node
from hypernodes.graph.pipeline_node import PipelineNode

if TYPE_CHECKING:

    from hypernodes.graph.pipeline import Pipeline

__all__ = ["diagnose_items", "diagnose_outputs", "diagnose_shared", "dumps", "loads"]

_FIX = "or use ThreadPoolExecutor, whose threads need no pickling."


loads = pickle.loads
"""Load bytes made by :func:`dumps` (cloudpickle output is plain pickle data)."""


class _Pickler(cloudpickle.CloudPickler):  # type: ignore[misc]
    def __init__(self, file: io.BytesIO, register: Callable[[Sequence[Any]], RelayedCallbacks | None] | None) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._register = register

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is RuntimeConfig and obj.callbacks and not _is_relayed(obj.callbacks):
            relayed = None if self._register is None else self._register(obj.callbacks)
            config_fields = {name: getattr(obj, name) for name in _CONFIG_FIELDS}
            config_fields["callbacks"] = () if relayed is None else (relayed,)
            return (_rebuild_config, (config_fields,))
        if isinstance(obj, RelayedCallbacks):
            return NotImplemented
        if isinstance(obj, PipelineCallback):
            return (_LeftBehind, (type(obj).__qualname__,))
        if isinstance(obj, Node):
            if _by_value(getattr(obj.func, "__module__", None)):
                # Node pickles a module-level node by reference to it; a worker could not find it.
                fields: dict[str, Any] = {
                    "name": obj.name, "cache": obj.cache, "version": obj.version, "batch": obj.batch
                }  # fmt: skip
                make = functools.partial(Node, config=obj.config, **fields)
                return (_node_by_value, (make, obj.func, obj.output_name, _known_code_hash(obj)))
        elif isinstance(obj, types.FunctionType | type):
            _by_value(getattr(obj, "__module__", None))
        return super().reducer_override(obj)


def _known_code_hash(node: Node) -> str | None:
    """Return the node's code hash as the caller computes it (None when it cannot be hashed)."""
    try:
        return node.code_hash
    except Exception:  # reported where the node's call is cached, as usual
        return None


def _node_by_value(make: Callable[..., Node], func: Any, output_name: Any, code_hash: str | None) -> Node:
    node = make(func, output_name)
    return node if code_hash is None else node.with_known_code_hash(code_hash)


_by_value_modules: dict[str, bool] = {}  # module name -> sent by value (a benign race at worst)


def _by_value(module_name: str | None) -> bool:
    """Return whether a worker must get the functions of `module_name` by value, not by reference.

    cloudpickle sends functions and classes of ``__main__`` by value and those of an imported
    module by reference. A module imported from a file path (pytest's
    ``--import-mode=importlib``, ``runpy``, a notebook helper) has a name no other process can
    import, so it is registered to go by value too. A module registered with
    ``cloudpickle.register_pickle_by_value`` (by the user, or by a backend whose workers lack
    the user's modules) goes by value, nodes included.
    """
    if module_name is None:
        return False
    if _is_registered(module_name):  # checked first: registration may come after a first pickling
        return True
    known = _by_value_modules.get(module_name)
    if known is not None:
        return known
    module = sys.modules.get(module_name)
    if module_name == "__main__":
        by_value = True
    elif module is None or _is_importable(module_name.partition(".")[0]):
        by_value = False
    else:
        cloudpickle.register_pickle_by_value(module)
        by_value = True
    _by_value_modules[module_name] = by_value
    return by_value


def _is_registered(module_name: str) -> bool:
    registered = cloudpickle.list_registry_pickle_by_value()
    if not registered:
        return False
    parts = module_name.split(".")
    return any(".".join(parts[:n]) in registered for n in range(1, len(parts) + 1))


def _is_importable(top_level: str) -> bool:
    if top_level in sys.builtin_module_names:
        return True
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        try:
            if find_spec is not None and find_spec(top_level, None) is not None:
                return True
        except Exception:  # a finder that cannot answer does not know the module
            continue
    return False


class _LeftBehind(PipelineCallback):
    """Stands in, in a worker, for a callback that stays in the caller (its events are relayed)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<callback {self.name} (in the caller)>"


_CONFIG_FIELDS = ("backend", "executor", "cache", "callbacks", "retries", "timeout")


def _rebuild_config(fields: dict[str, Any]) -> RuntimeConfig:
    return RuntimeConfig(**fields)


def _is_relayed(callbacks: Sequence[Any]) -> bool:
    return len(callbacks) == 1 and isinstance(callbacks[0], RelayedCallbacks)


def dumps(value: Any, register: Callable[[Sequence[Any]], RelayedCallbacks | None] | None = None) -> bytes:
    """Pickle `value` with cloudpickle, leaving callbacks behind.

    Args:
        value: What to pickle.
        register: Called with the callbacks of each config met; returns their stand-in
            (None: the worker sends no events for them).
    """
    buffer = io.BytesIO()
    _Pickler(buffer, register).dump(value)
    return buffer.getvalue()


def diagnose_shared(
    pipeline: Pipeline, inputs: Mapping[str, Any], config: RuntimeConfig, extra: Mapping[str, object], exc: Exception
) -> SerializationError:
    """Explain why the values every item shares could not be pickled (`exc` was the failure)."""
    for name, value in inputs.items():
        if (failure := _failure(value)) is not None:
            return _input_error(pipeline, name, value, failure, None)
    for member, path in _members(pipeline, ()):
        if (failure := _failure(member)) is not None:
            where = " > ".join(path)
            return SerializationError(
                f"node {member.name!r} of {where} cannot be pickled to send it to a worker "
                f"({_describe(failure)}). Its function (with its closure, defaults and config) must be "
                f"picklable: build unpicklable resources inside the function, {_FIX}",
                node_name=member.name,
            )
    if (failure := _failure(config)) is not None:
        return SerializationError(
            f"the RuntimeConfig of pipeline {pipeline.name!r} cannot be pickled to send it to a worker "
            f"process ({_describe(failure)}). Use a CacheSpec instead of a cache object, {_FIX}"
        )
    for what, value in extra.items():
        if (failure := _failure(value)) is not None:
            return SerializationError(
                f"{what} ({type(value).__name__}) cannot be pickled to send it to a worker "
                f"({_describe(failure)}); {_FIX}"
            )
    return SerializationError(
        f"pipeline {pipeline.name!r} could not be pickled to send it to a worker ({_describe(exc)}); {_FIX}"
    )


def diagnose_items(
    pipeline: Pipeline, start: int, items: Sequence[Mapping[str, Any]], exc: Exception
) -> SerializationError:
    """Explain why map items starting at index `start` could not be pickled."""
    for offset, item in enumerate(items):
        for name, value in item.items():
            if (failure := _failure(value)) is not None:
                return _input_error(pipeline, name, value, failure, start + offset)
    return SerializationError(
        f"map items {start}-{start + len(items) - 1} of pipeline {pipeline.name!r} could not be pickled "
        f"({_describe(exc)}); {_FIX}"
    )


def diagnose_outputs(
    pipeline: Pipeline, start: int | None, results: Sequence[Mapping[str, Any]], exc: Exception
) -> SerializationError:
    """Explain why outputs computed in a worker could not be pickled to return them."""
    for offset, outputs in enumerate(results):
        for name, value in outputs.items():
            if (failure := _failure(value)) is not None:
                producer = pipeline.producers[name].name if name in pipeline.producers else name
                item_index = None if start is None else start + offset
                item = "" if item_index is None else f", map item {item_index}"
                return SerializationError(
                    f"output {name!r} of node {producer!r} (pipeline {pipeline.name!r}{item}) is a "
                    f"{type(value).__name__}, which cannot be pickled to return it from the worker "
                    f"({_describe(failure)}). Return picklable values from this node (or select other "
                    f"outputs with output_name=...), {_FIX}",
                    node_name=producer,
                    item_index=item_index,
                )
    return SerializationError(
        f"the outputs of pipeline {pipeline.name!r} could not be pickled to return them from the worker "
        f"process ({_describe(exc)}); {_FIX}"
    )


def _input_error(
    pipeline: Pipeline, name: str, value: object, failure: Exception, item_index: int | None
) -> SerializationError:
    users = ", ".join(repr(member.name) for member in pipeline.consumers.get(name, ()))
    item = "" if item_index is None else f" (map item {item_index})"
    return SerializationError(
        f"input {name!r}{item} of pipeline {pipeline.name!r} is a {type(value).__name__}, which cannot be "
        f"pickled to send it to a worker ({_describe(failure)}); it is used by node(s) {users}. "
        f"Pass something picklable instead (e.g. a path or an address, and open the resource inside the "
        f"node), {_FIX}",
        node_name=pipeline.consumers[name][0].name if pipeline.consumers.get(name) else None,
        input_name=name,
        item_index=item_index,
    )


def _members(pipeline: Pipeline, path: tuple[str, ...]) -> Iterator[tuple[Any, tuple[str, ...]]]:
    """Yield every node, innermost first, with the pipeline path it lives in."""
    path = (*path, pipeline.name)
    for member in pipeline.nodes:
        if isinstance(member, PipelineNode):
            yield from _members(member.pipeline, path)
        yield member, path


def _failure(value: object) -> Exception | None:
    try:
        dumps(value)
    except Exception as exc:
        return exc
    return None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
