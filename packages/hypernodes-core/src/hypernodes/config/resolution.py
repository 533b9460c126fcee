"""Which config applies where: one function, :func:`resolve_config`, for runs and ``explain``.

Highest first: call-site ``config=`` > the node's ``with_config`` > the pipeline's ``config``
> the enclosing pipeline's effective config > ``RuntimeConfig.use`` > ``set_default_config``
> the library default. A full ``RuntimeConfig`` at a level replaces the whole config (fields
are never merged); a :class:`~hypernodes.config.runtime.ConfigPatch` (``with_config(retries=3)``)
changes only its fields of the config that level would otherwise get. A call-site config
applies to every level (it is *locked*).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from hypernodes.config.runtime import ConfigPatch, ConfigSetting, RuntimeConfig, ambient_config
from hypernodes.errors import InvalidArgumentError
from hypernodes.graph.pipeline_node import PipelineNode

if TYPE_CHECKING:
    from hypernodes.graph.pipeline import Pipeline

__all__ = ["ConfigExplanation", "ConfigRow", "ConfigSource", "explain", "resolve_config", "resolve_root"]

ConfigSource = Literal["call-site", "node", "pipeline", "parent", "context", "global", "default"]


def resolve_config(own: ConfigSetting, inherited: RuntimeConfig, *, locked: bool = False) -> RuntimeConfig:
    """Return the config of a level whose own setting is `own`, below a level running `inherited`.

    The one rule of the hierarchy: nothing, or a locked (call-site) config above, inherits;
    a patch changes the inherited config; a full config replaces it.

    >>> base = RuntimeConfig(retries=1)
    >>> resolve_config(None, base) is base, resolve_config(ConfigPatch({"timeout": 2.0}), base).retries
    (True, 1)
    """
    if own is None or locked:
        return inherited
    if type(own) is ConfigPatch:
        return own.apply(inherited)
    return own  # type: ignore[return-value]


def resolve_root(pipeline: Pipeline, config: RuntimeConfig | None) -> tuple[RuntimeConfig, bool]:
    """Return the root run's config and whether it is locked (a call-site config)."""
    if config is not None:
        if not isinstance(config, RuntimeConfig):
            raise InvalidArgumentError(f"config= takes a RuntimeConfig, got {type(config).__name__}")
        return config, True
    return resolve_config(pipeline.config, ambient_config()[0]), False


def resolve_nested(node: PipelineNode, inherited: RuntimeConfig, *, locked: bool) -> RuntimeConfig:
    """Return the config of a nested pipeline node's inner level: its pipeline's, then the node's own."""
    return resolve_config(node.config, resolve_config(node.pipeline.config, inherited, locked=locked), locked=locked)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigRow:
    """One node's effective config and where it came from.

    Attributes:
        node: The node's name; nested nodes are shown as ``outer_node > inner_node``.
        config: The config the node runs with.
        source: The level it came from.
        patch: The patch that level applied (``with_config(retries=3)``), or None.
        base_source: With a patch, the level the patched config came from.
    """

    node: str
    config: RuntimeConfig
    source: ConfigSource
    patch: ConfigPatch | None = None
    base_source: ConfigSource | None = None

    def __iter__(self):  # type: ignore[no-untyped-def]
        """Unpack as ``node, config, source``."""
        return iter((self.node, self.config, self.source))

    @property
    def source_text(self) -> str:
        """The source as shown by ``str(explain())``: ``node (patch retries=3 on pipeline)``."""
        if self.patch is None:
            return self.source
        changes = ", ".join(f"{k}={_short(v)}" for k, v in self.patch.changes.items())
        return f"{self.source} (patch {changes} on {self.base_source})"


@dataclass(frozen=True, slots=True)
class ConfigExplanation:
    """The rows of :meth:`Pipeline.explain`; ``str()`` renders them as a table.

    Attributes:
        rows: One row per node (nested nodes as ``outer > inner``).
        bound_inputs: The bound inputs of each level that has some: ``(level, {name: value})``,
            the level as ``outer > inner`` node names (``""`` for the pipeline itself).
    """

    rows: tuple[ConfigRow, ...]
    bound_inputs: tuple[tuple[str, Mapping[str, Any]], ...] = ()

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
                row.source_text,
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
        for level, values in self.bound_inputs:
            shown = ", ".join(f"{name}={_short(value)}" for name, value in values.items())
            lines.append(f"bound inputs{' of ' + level if level else ''}: {shown}")
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
    if config is not None:
        level = _Level(config, "call-site", None, None)
        locked = True
    else:
        ambient, ambient_source = ambient_config()
        level = _Level(ambient, ambient_source, None, None).below(pipeline.config, "pipeline", locked=False)
        locked = False
    rows: list[ConfigRow] = []
    _explain_level(pipeline, level, locked, (), rows)
    return ConfigExplanation(tuple(rows), tuple(_bound_levels(pipeline, ())))


def _bound_levels(pipeline: Pipeline, prefix: tuple[str, ...]) -> list[tuple[str, Mapping[str, Any]]]:
    levels: list[tuple[str, Mapping[str, Any]]] = []
    if pipeline.bound_inputs:
        levels.append((" > ".join(prefix), dict(pipeline.bound_inputs)))
    for member in pipeline.nodes:
        if isinstance(member, PipelineNode):
            inner = (*prefix, member.name)
            if member.bound_inputs:
                levels.append((" > ".join(inner) + " (node)", dict(member.bound_inputs)))
            levels.extend(_bound_levels(member.pipeline, inner))
    return levels


@dataclass(frozen=True, slots=True)
class _Level:
    """A config being explained, with where it came from (and the patch that made it)."""

    config: RuntimeConfig
    source: ConfigSource
    patch: ConfigPatch | None
    base_source: ConfigSource | None

    def below(self, own: ConfigSetting, source: ConfigSource, *, locked: bool) -> _Level:
        """Return the level a setting `own` of kind `source` makes below this one."""
        if own is None or locked:
            return self
        resolved = resolve_config(own, self.config)  # the same rule as the engine's
        if type(own) is ConfigPatch:
            return _Level(resolved, source, own, self.source)
        return _Level(resolved, source, None, None)

    def row(self, name: str) -> ConfigRow:
        return ConfigRow(
            node=name, config=self.config, source=self.source, patch=self.patch, base_source=self.base_source
        )

    def as_parent(self) -> _Level:
        """Return this level as inherited by a nested pipeline (labelled "parent")."""
        if self.source == "call-site":
            return self
        return _Level(self.config, "parent", None, None)


def _explain_level(
    pipeline: Pipeline, level: _Level, locked: bool, prefix: tuple[str, ...], rows: list[ConfigRow]
) -> None:
    for member in pipeline.nodes:
        name = " > ".join((*prefix, member.name))
        own = level.below(member.config, "node", locked=locked)
        rows.append(own.row(name))
        if isinstance(member, PipelineNode):
            inner = level.as_parent().below(member.pipeline.config, "pipeline", locked=locked)
            inner = inner.below(member.config, "node", locked=locked)
            if member.config is not None and type(member.config) is not ConfigPatch and not locked:
                inner = _Level(inner.config, "parent", None, None)  # the node's own config, inherited inside
            _explain_level(member.pipeline, inner, locked, (*prefix, member.name), rows)
