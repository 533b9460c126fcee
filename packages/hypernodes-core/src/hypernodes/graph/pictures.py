"""``PipelinePictures``: the drawing methods of ``Pipeline`` (``visualize``, ``to_dot``, ``to_mermaid``).

A mixin, so that ``Pipeline`` stays a size one can review; the drawing itself lives in the
``diagram*`` modules and ``visualize.py``, imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import os

    from hypernodes._types import OutputNames
    from hypernodes.config.runtime import RuntimeConfig
    from hypernodes.graph.diagram import Orient

__all__ = ["PipelinePictures"]


class PipelinePictures:
    """Draw the pipeline: a graphviz picture, or DOT and Mermaid text."""

    __slots__ = ()

    def visualize(
        self,
        depth: int | None = 1,
        orient: Orient = "TB",
        show_types: bool = True,
        output_name: OutputNames | None = None,
        filename: str | os.PathLike[str] | None = None,
        show_config: bool = False,
        config: RuntimeConfig | None = None,
    ) -> Any:
        """Draw the pipeline with Graphviz (the ``viz`` extra); in Jupyter the result displays itself.

        The picture shows the inputs (required; optional with their defaults; bound), each node
        with its outputs, the edges by name, and nested pipelines as frames; see
        ``docs/advanced/visualization.md`` for what each shape and colour means.

        Args:
            depth: How many levels to draw: 1 draws nested pipelines as one box each, 2 opens
                them, and so on; None opens every level.
            orient: ``"TB"`` (top to bottom), ``"LR"``, ``"BT"`` or ``"RL"``.
            show_types: Show the types annotated on parameters and return values.
            output_name: Highlight what a run of these outputs would execute, grey out the rest.
            filename: Also write the picture there, in the format its suffix names (``.png``,
                ``.svg``, ``.pdf``, ...; ``.dot`` writes the DOT text).
            show_config: Show the executor and backend each node runs with (from :meth:`explain`).
            config: The call-site config to explain with `show_config`, if any.

        Returns:
            A ``graphviz.Source`` (``.source`` is the DOT text of :meth:`to_dot`).

        Raises:
            ImportError: The ``graphviz`` package is missing (``pip install "hypernodes-core[viz]"``).
            InvalidArgumentError: An unknown `output_name`, `orient` or `filename` suffix, or a bad `depth`.
        """
        from hypernodes.graph.diagram import DiagramOptions
        from hypernodes.graph.visualize import visualize  # graphviz is optional: imported on first use

        options = DiagramOptions(
            depth=depth, orient=orient, show_types=show_types, output_name=output_name,
            show_config=show_config, config=config,
        )  # fmt: skip
        return visualize(self, options, filename)  # type: ignore[arg-type]  # self is a Pipeline

    def to_dot(
        self,
        depth: int | None = 1,
        orient: Orient = "TB",
        show_types: bool = True,
        output_name: OutputNames | None = None,
        show_config: bool = False,
        config: RuntimeConfig | None = None,
    ) -> str:
        """Return the picture of :meth:`visualize` as Graphviz DOT text (no dependency needed).

        The arguments are those of :meth:`visualize`; the text is the same for the same pipeline.
        """
        from hypernodes.graph.diagram import DiagramOptions
        from hypernodes.graph.diagram_builder import build_diagram
        from hypernodes.graph.diagram_text import render_dot

        options = DiagramOptions(
            depth=depth, orient=orient, show_types=show_types, output_name=output_name,
            show_config=show_config, config=config,
        )  # fmt: skip
        return render_dot(build_diagram(self, options))  # type: ignore[arg-type]  # self is a Pipeline

    def to_mermaid(
        self,
        depth: int | None = 1,
        orient: Orient = "TB",
        show_types: bool = True,
        output_name: OutputNames | None = None,
        show_config: bool = False,
        config: RuntimeConfig | None = None,
    ) -> str:
        """Return the picture of :meth:`visualize` as a Mermaid flowchart, for Markdown and docs.

        The arguments are those of :meth:`visualize`; paste the text into a fenced ``mermaid``
        block (GitHub renders it).
        """
        from hypernodes.graph.diagram import DiagramOptions
        from hypernodes.graph.diagram_builder import build_diagram
        from hypernodes.graph.diagram_text import render_mermaid

        options = DiagramOptions(
            depth=depth, orient=orient, show_types=show_types, output_name=output_name,
            show_config=show_config, config=config,
        )  # fmt: skip
        return render_mermaid(build_diagram(self, options))  # type: ignore[arg-type]  # self is a Pipeline

