"""``PipelineRuns``: the entry points of ``Pipeline`` that run it (``run``, ``map`` and their async twins).

A mixin, so that ``Pipeline`` stays a size one can review. Each entry point checks its
arguments, keeps the nodes' code hashes current for the call (``refresh_code_hashes`` before,
``settle_code_hashes`` after) and hands the call to the engine.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hypernodes.errors import InvalidArgumentError
from hypernodes.graph.node import any_fingerprinted

if TYPE_CHECKING:
    from hypernodes._types import Inputs, OutputNames, Outputs
    from hypernodes.config.runtime import RuntimeConfig
    from hypernodes.engine.engine import PipelineExecutionEngine
    from hypernodes.engine.failures import ErrorPolicy
    from hypernodes.graph.node import Node
    from hypernodes.graph.pipeline import Pipeline
    from hypernodes.graph.pipeline_node import MapMode

__all__ = ["PipelineRuns"]


class PipelineRuns:
    """Run the pipeline once (``run``), per item (``map``), or awaited (``run_async``, ``map_async``)."""

    __slots__ = ()

    name: str
    _str_inputs: tuple[tuple[str, str], ...]
    _function_nodes: tuple[Node, ...]

    def run(
        self,
        inputs: Inputs | None = None,
        output_name: OutputNames | None = None,
        config: RuntimeConfig | None = None,
    ) -> Outputs:
        """Run the pipeline once and return its outputs (intermediates included, inputs not).

        Args:
            inputs: Values by input name.
            output_name: Return only these outputs (a name or a list), running only the nodes
                they need.
            config: A call-site config for this run only; it applies to every node of the run,
                nested pipelines included.

        Raises:
            DependencyError: A required input is missing (before any node runs).
            InvalidArgumentError: An unknown output name or input name.
        """
        inputs = {} if inputs is None else inputs
        _check_inputs_mapping(inputs, "run")
        for name, node_name in self._str_inputs:
            if type(inputs.get(name)) in (list, tuple):
                _warn_list_for_str(self, name, node_name)
        with self._current_code():
            return _engine().run_root(self._pipeline, inputs, output_name, config)

    def map(
        self,
        inputs: Inputs,
        map_over: str | Sequence[str],
        map_mode: MapMode = "zip",
        output_name: OutputNames | None = None,
        config: RuntimeConfig | None = None,
        on_error: ErrorPolicy = "raise",
    ) -> dict[str, list[Any]]:
        """Run the pipeline once per item and return each output as a list in item order.

        Args:
            inputs: Values by input name; those named in `map_over` are sequences (any
                non-string sequence), the others are shared by every item.
            map_over: The input name(s) to iterate over.
            map_mode: ``"zip"`` pairs the i-th values (equal lengths needed); ``"product"``
                runs every combination.
            output_name: Return only these outputs, running only the nodes they need.
            config: A call-site config for this map only.
            on_error: ``"raise"`` stops at the first failing item and raises its error;
                ``"continue"`` finishes every other item, and each output of a failed item is
                an :class:`~hypernodes.ItemFailure` record (the successful items are cached,
                so a rerun recomputes only the failures).

        Example:
            >>> from hypernodes import Pipeline, node
            >>> @node(output_name="doubled")
            ... def double(x: int) -> int:
            ...     return 2 * x
            >>> Pipeline(nodes=[double]).map(inputs={"x": [3, 1, 2]}, map_over="x")
            {'doubled': [6, 2, 4]}
        """
        _check_inputs_mapping(inputs, "map")
        with self._current_code():
            return _engine().map_root(self._pipeline, inputs, map_over, map_mode, output_name, config, None, on_error)

    async def run_async(
        self,
        inputs: Inputs | None = None,
        output_name: OutputNames | None = None,
        config: RuntimeConfig | None = None,
    ) -> Outputs:
        """Run like :meth:`run`, awaitable from a coroutine without blocking its event loop.

        Under an executor with its own awaitable entry point (``AsyncExecutor``) the run goes
        on the caller's loop; under any other, the run goes to a worker thread and this
        coroutine awaits it. Arguments and errors are those of :meth:`run`.
        """
        from hypernodes.graph._awaitable import awaitable_run  # the engine imports this module

        inputs = {} if inputs is None else inputs
        _check_inputs_mapping(inputs, "run_async")
        with self._current_code():
            return await awaitable_run(self._pipeline, inputs, output_name, config)

    async def map_async(
        self,
        inputs: Inputs,
        map_over: str | Sequence[str],
        map_mode: MapMode = "zip",
        output_name: OutputNames | None = None,
        config: RuntimeConfig | None = None,
        on_error: ErrorPolicy = "raise",
    ) -> dict[str, list[Any]]:
        """Map like :meth:`map`, awaitable from a coroutine without blocking its event loop (see :meth:`run_async`)."""
        from hypernodes.graph._awaitable import awaitable_map  # the engine imports this module

        _check_inputs_mapping(inputs, "map_async")
        with self._current_code():
            return await awaitable_map(self._pipeline, inputs, map_over, map_mode, output_name, config, on_error)

    @property
    def _pipeline(self) -> Pipeline:
        return self  # type: ignore[return-value]  # the mixin is only ever a Pipeline

    def _current_code(self) -> _CodeCheck:
        """Check the code hashes before a root call and settle them after it (even when it fails)."""
        return _CodeCheck(self)

    def refresh_code_hashes(self) -> None:
        """Let every node (nested ones too) notice a helper or global its code refers to that changed.

        ``run``, ``map``, ``run_async`` and ``map_async`` call it once per call; an executor's own
        entry point that starts a root run without them should call it too. See :meth:`Node.refresh_code_hash`.
        """
        if not any_fingerprinted():  # no cache was ever used in this process: nothing to check
            return
        for member in self._function_nodes:
            member.refresh_code_hash()

    def settle_code_hashes(self) -> None:
        """Let the nodes take their referenced values again at the end of a run (see :meth:`Node.settle_code_hash`)."""
        if not any_fingerprinted():
            return
        for member in self._function_nodes:
            member.settle_code_hash()


_ENGINE: PipelineExecutionEngine | None = None


def _engine() -> PipelineExecutionEngine:
    """Return the shared engine, imported on first use (the engine imports this module)."""
    global _ENGINE
    if _ENGINE is None:
        from hypernodes.engine.engine import ENGINE

        _ENGINE = ENGINE
    return _ENGINE


def _warn_list_for_str(pipeline: PipelineRuns, name: str, node_name: str) -> None:
    warnings.warn(
        f"input {name!r} of pipeline {pipeline.name!r} is a list, but node {node_name!r} takes it as str, so "
        f"the node gets the whole list in one run. To run once per item, use "
        f"pipeline.map(inputs=..., map_over={name!r})",
        UserWarning,
        stacklevel=3,  # the caller of run()
    )


def _check_inputs_mapping(inputs: object, method: str) -> None:
    """Reject inputs that are not a mapping (a set of names is a common slip) before any node runs."""
    if isinstance(inputs, Mapping):
        return
    if isinstance(inputs, set | frozenset):
        names = ", ".join(f"{name!r}: ..." for name in sorted(map(str, inputs)))
        raise InvalidArgumentError(
            f"{method}(inputs=...) got a set of names, {inputs!r}, but needs a dict of input names to values; "
            f"pass inputs={{{names}}}",
            input_name="inputs",
        )
    raise InvalidArgumentError(
        f"{method}(inputs=...) needs a dict of input names to values; got {type(inputs).__name__}. "
        "Pass e.g. inputs={'text': 'A b'}",
        input_name="inputs",
    )



class _CodeCheck:
    """``refresh_code_hashes`` on entry, ``settle_code_hashes`` on exit (a class: ~4x cheaper than a generator)."""

    __slots__ = ("_pipeline",)

    def __init__(self, pipeline: PipelineRuns) -> None:
        self._pipeline = pipeline

    def __enter__(self) -> None:
        self._pipeline.refresh_code_hashes()

    def __exit__(self, *exc_info: object) -> None:
        self._pipeline.settle_code_hashes()
