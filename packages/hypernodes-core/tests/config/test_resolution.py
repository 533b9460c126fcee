"""The resolution order, observed through which executor really runs each level."""

from __future__ import annotations

from collections.abc import Sequence

from hypernodes import InlineExecutor, Pipeline, RunContext, RuntimeConfig, set_default_config
from hypernodes.testing.nodes import double, square


class TaggedExecutor(InlineExecutor):
    """A real in-process executor that records which pipelines it ran."""

    def __init__(self, tag: str, log: list[tuple[str, str]]) -> None:
        self.tag = tag
        self.log = log

    def run_pipeline(self, pipeline: Pipeline, inputs, ctx: RunContext, output_name):  # type: ignore[no-untyped-def]
        self.log.append((self.tag, pipeline.name))
        return super().run_pipeline(pipeline, inputs, ctx, output_name)

    def map_items(self, pipeline: Pipeline, items: Sequence, inputs, ctx: RunContext, output_name):  # type: ignore[no-untyped-def]
        self.log.append((self.tag, pipeline.name))
        return super().map_items(pipeline, items, inputs, ctx, output_name)


def tagged(tag: str, log: list[tuple[str, str]]) -> RuntimeConfig:
    return RuntimeConfig(executor=TaggedExecutor(tag, log))


def test_pipeline_config_beats_context_and_global() -> None:
    log: list[tuple[str, str]] = []
    p = Pipeline(nodes=[double], name="p", config=tagged("pipeline", log))
    try:
        set_default_config(tagged("global", log))
        with RuntimeConfig.use(tagged("context", log)):
            p.run(inputs={"x": 1})
    finally:
        set_default_config(None)
    assert log == [("pipeline", "p")]


def test_context_beats_global_and_global_beats_default() -> None:
    log: list[tuple[str, str]] = []
    p = Pipeline(nodes=[double], name="p")
    try:
        set_default_config(tagged("global", log))
        p.run(inputs={"x": 1})
        with RuntimeConfig.use(tagged("context", log)):
            p.run(inputs={"x": 1})
    finally:
        set_default_config(None)
    assert log == [("global", "p"), ("context", "p")]


def test_nested_pipeline_inherits_the_parent_config() -> None:
    log: list[tuple[str, str]] = []
    inner = Pipeline(nodes=[double], name="inner")
    outer = Pipeline(nodes=[inner, square], name="outer", config=tagged("outer", log))
    outer.run(inputs={"x": 2})
    assert log == [("outer", "outer"), ("outer", "inner")]


def test_nested_pipeline_config_beats_the_parent() -> None:
    log: list[tuple[str, str]] = []
    inner = Pipeline(nodes=[double], name="inner", config=tagged("inner", log))
    outer = Pipeline(nodes=[inner, square], name="outer", config=tagged("outer", log))
    outer.run(inputs={"x": 2})
    assert log == [("outer", "outer"), ("inner", "inner")]


def test_node_config_runs_the_node_as_a_one_node_pipeline() -> None:
    log: list[tuple[str, str]] = []
    p = Pipeline(
        nodes=[double.with_config(tagged("node", log)), square], name="p", config=tagged("pipeline", log)
    )
    assert p.run(inputs={"x": 3}) == {"doubled": 6, "squared": 9}
    assert log == [("pipeline", "p"), ("node", "double")]


def test_call_site_config_beats_every_level_including_nested_and_node() -> None:
    log: list[tuple[str, str]] = []
    inner = Pipeline(
        nodes=[double.with_config(tagged("node", log))], name="inner", config=tagged("inner", log)
    )
    outer = Pipeline(nodes=[inner, square], name="outer", config=tagged("outer", log))
    outer.run(inputs={"x": 2}, config=tagged("call", log))
    assert log == [("call", "outer"), ("call", "inner")]


def test_call_site_config_applies_to_map() -> None:
    log: list[tuple[str, str]] = []
    p = Pipeline(nodes=[double], name="p", config=tagged("pipeline", log))
    assert p.map(inputs={"x": [1, 2]}, map_over="x", config=tagged("call", log)) == {"doubled": [2, 4]}
    assert log == [("call", "p")]  # map_items ran the whole map


def test_explain_reports_each_level_source() -> None:
    log: list[tuple[str, str]] = []
    node_config, inner_config, outer_config = tagged("n", log), tagged("i", log), tagged("o", log)
    deep = Pipeline(nodes=[square], name="deep")
    inner = Pipeline(nodes=[double.with_config(node_config), deep], name="inner", config=inner_config)
    outer = Pipeline(nodes=[inner], name="outer", config=outer_config)
    rows = {row.node: (row.config, row.source) for row in outer.explain()}
    assert rows == {
        "inner": (outer_config, "pipeline"),
        "inner > double": (node_config, "node"),
        "inner > deep": (inner_config, "pipeline"),
        "inner > deep > square": (inner_config, "parent"),
    }
    call = tagged("c", log)
    assert {row.source for row in outer.explain(config=call)} == {"call-site"}
    assert all(row.config is call for row in outer.explain(config=call))


def test_explain_without_configs_names_the_ambient_source() -> None:
    p = Pipeline(nodes=[double], name="p")
    assert [tuple(row)[2] for row in p.explain()] == ["default"]
    with RuntimeConfig.use(RuntimeConfig(retries=1)):
        assert p.explain()["double"].source == "context"


def test_explain_renders_a_readable_table() -> None:
    text = str(Pipeline(nodes=[double, square], name="p").explain(config=RuntimeConfig(retries=2, timeout=5)))
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["node", "source", "backend"]
    assert lines[2].split()[:2] == ["double", "call-site"]
    assert "5s" in lines[2] and len(lines) == 4
