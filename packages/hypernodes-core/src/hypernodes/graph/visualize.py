"""``Pipeline.visualize``: the diagram as a Graphviz object that Jupyter displays, or a file.

Graphviz (the ``viz`` extra) is imported here, on the first call, never by ``import
hypernodes``. The picture is the DOT text of ``Pipeline.to_dot``, so the two always agree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hypernodes.errors import InvalidArgumentError
from hypernodes.graph.diagram_builder import build_diagram
from hypernodes.graph.diagram_text import render_dot

if TYPE_CHECKING:
    from hypernodes.graph.diagram import DiagramOptions
    from hypernodes.graph.pipeline import Pipeline

__all__ = ["visualize"]

_INSTALL = 'pip install "hypernodes-core[viz]"'


def visualize(pipeline: Pipeline, options: DiagramOptions, filename: str | os.PathLike[str] | None = None) -> Any:
    """Draw `pipeline` as a ``graphviz.Source``, also written to `filename` if given.

    See :meth:`Pipeline.visualize` for what the options and `filename` do.

    Raises:
        ImportError: The ``graphviz`` package is missing (the message says what to install).
        InvalidArgumentError: An unknown output name, or `filename` has no suffix Graphviz renders.
    """
    try:
        import graphviz  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ImportError(
            f"Pipeline.visualize() needs the graphviz package: {_INSTALL} (and Graphviz's `dot` "
            "program, e.g. apt-get install graphviz or brew install graphviz). "
            "Pipeline.to_dot() and Pipeline.to_mermaid() need neither."
        ) from exc
    source = graphviz.Source(render_dot(build_diagram(pipeline, options)))
    if filename is not None:
        _render(source, Path(filename), graphviz.FORMATS)
    return source


def _render(source: Any, path: Path, formats: set[str]) -> None:
    """Write `source` to `path` in the format its suffix names (DOT text for ``.dot``/``.gv``)."""
    suffix = path.suffix.lstrip(".").lower()
    if suffix in ("dot", "gv"):
        path.write_text(source.source, encoding="utf-8")
        return
    if suffix not in formats:
        raise InvalidArgumentError(
            f"visualize(filename={str(path)!r}) needs a suffix naming the format, such as .png, .svg or "
            f".pdf; got {path.suffix or 'no suffix'!r}"
        )
    path.write_bytes(source.pipe(format=suffix))  # no source file left beside it, none overwritten
