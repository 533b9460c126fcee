"""Which config applies where: root resolution for runs, and ``Pipeline.explain``.

Highest first, each level replacing the whole config (fields are never merged):
call-site ``config=`` > the node's ``with_config`` > the pipeline's ``config`` > the
enclosing pipeline's effective config > ``RuntimeConfig.use`` > ``set_default_config`` >
the library default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from hypernodes.config.runtime import RuntimeConfig, ambient_config
from hypernodes.errors import InvalidArgumentError
from hypernodes.graph.pipeline_node import PipelineNode

if TYPE_CHECKING:
    from hypernodes.graph.pipeline import Pipeline

__all__ = ["ConfigExplanation", "ConfigRow", "ConfigSource", "explain", "resolve_root"]

ConfigSource = Literal["call-site", "node", "pipeline", "parent", "context", "global", "default"]


def resolve_root(pipeline: Pipeline, config: RuntimeConfig | None) -> tuple[RuntimeConfig, bool]:
    """Return the root run's config and whether it is locked (a call-site config)."""
    if config is not None:
        if not isinstance(config, RuntimeConfig):
            raise InvalidArgumentError(f"config= takes a RuntimeConfig, got {type(config).__name__}")
        return config, True
    if pipeline.config is not None:
        return pipeline.config, False
    return ambient_config()[0], False


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigRow:
    """One node's effective config and where it came from.

    Attributes:
        node: The node's name; nested nodes are shown as ``outer_node > inner_node``.
        config: The config the node runs with.
        source: The level it came from.
    """

    node: str
    config: RuntimeConfig
    source: ConfigSource

    def __iter__(self):  # type: ignore[no-untyped-def]
        """Unpack as ``node, config, source``."""
        return iter((self.node, self.config, self.source))


@dataclass(frozen=True, slots=True)
class ConfigExplanation:
    """The rows of :meth:`Pipeline.explain`; ``str()`` renders them as a table."""

    rows: tuple[ConfigRow, ...]

    def __iter__(self):  # type: ignore[no-untyped-def]
        """Iterate over the rows."""
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, node: str) -> ConfigRow:
        """Return the row of the node named `node`."""
        for row in self.rows:
            if row.node == node:
                return row
        raise KeyError(f"no node {node!r}; nodes: {', '.join(r.node for r in self.rows)}")

    def __str__(self) -> str:
        header = ("node", "source", "backend", "executor", "cache", "callbacks", "retries", "timeout")
        body = [
            (
                row.node,
                row.source,
                _short(row.config.backend),
                _short(row.config.executor),
                _short(row.config.cache),
                str(len(row.config.callbacks)),
                str(row.config.retries),
                "-" if row.config.timeout is None else f"{row.config.timeout:g}s",
            )
            for row in self.rows
        ]
        widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in (header, *body)
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)


def _short(value: object) -> str:
    if value is None:
        return "-"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def explain(pipeline: Pipeline, config: RuntimeConfig | None = None) -> ConfigExplanation:
    """Return which config each node of `pipeline` runs with, and which level it came from."""
    source: ConfigSource
    if config is not None:
        root, source, locked = config, "call-site", True
    elif pipeline.config is not None:
        root, source, locked = pipeline.config, "pipeline", False
    else:
        ambient, ambient_source = ambient_config()
        root, source, locked = ambient, ambient_source, False
    rows: list[ConfigRow] = []
    _explain_level(pipeline, root, source, locked, (), rows)
    return ConfigExplanation(tuple(rows))


def _explain_level(
    pipeline: Pipeline,
    config: RuntimeConfig,
    source: ConfigSource,
    locked: bool,
    prefix: tuple[str, ...],
    rows: list[ConfigRow],
) -> None:
    for member in pipeline.nodes:
        name = " > ".join((*prefix, member.name))
        own: RuntimeConfig
        own_source: ConfigSource
        if locked:
            own, own_source = config, source
        elif member.config is not None:
            own, own_source = member.config, "node"
        else:
            own, own_source = config, source
        if isinstance(member, PipelineNode):
            rows.append(ConfigRow(node=name, config=own, source=own_source))
            inner: RuntimeConfig
            inner_source: ConfigSource
            if locked:
                inner, inner_source = config, source
            elif member.config is not None:
                inner, inner_source = member.config, "parent"
            elif member.pipeline.config is not None:
                inner, inner_source = member.pipeline.config, "pipeline"
            else:
                inner, inner_source = config, "parent"
            _explain_level(member.pipeline, inner, inner_source, locked, (*prefix, member.name), rows)
        else:
            rows.append(ConfigRow(node=name, config=own, source=own_source))
