from __future__ import annotations

import pytest

from hypernodes import InvalidArgumentError, Pipeline, PipelineNode
from hypernodes.testing.nodes import clean, count, double, increment


def test_pipeline_in_nodes_becomes_a_pipeline_node() -> None:
    inner = Pipeline(nodes=[clean], name="inner")
    outer = Pipeline(nodes=[inner, count])
    assert isinstance(outer.nodes[0], PipelineNode)
    assert outer.nodes[0].name == "inner"


def test_as_node_exposes_renamed_inputs_and_outputs() -> None:
    inner = Pipeline(nodes=[increment], name="inner")
    wrapped = inner.as_node(input_mapping={"value": "x"}, output_mapping={"y": "result"}, name="inc")
    assert wrapped.parameters == ("value", "step")
    assert wrapped.output_names == ("result",)
    assert wrapped.optional == frozenset({"step"})


def test_input_mapping_to_an_unknown_inner_input_is_an_error() -> None:
    with pytest.raises(InvalidArgumentError, match="'X'.*Did you mean 'x'"):
        Pipeline(nodes=[double], name="inner").as_node(input_mapping={"a": "X"})


def test_output_mapping_of_an_unknown_output_is_an_error() -> None:
    with pytest.raises(InvalidArgumentError, match="'double'.*Did you mean 'doubled'"):
        Pipeline(nodes=[double], name="inner").as_node(output_mapping={"double": "d"})


def test_map_over_must_name_an_outer_input() -> None:
    with pytest.raises(InvalidArgumentError, match="map_over.*'xs'"):
        Pipeline(nodes=[double], name="inner").as_node(map_over="xs")


def test_mapped_node_over_a_non_sequence_names_the_node() -> None:
    mapped = Pipeline(nodes=[double], name="inner").as_node(map_over="x", name="per_x")
    with pytest.raises(InvalidArgumentError, match="node 'per_x'.*non-string sequence"):
        Pipeline(nodes=[mapped]).run(inputs={"x": 3})


def test_product_map_inside_a_node() -> None:
    mapped = Pipeline(nodes=[increment], name="inner").as_node(map_over=["x", "step"], map_mode="product")
    assert Pipeline(nodes=[mapped]).run(inputs={"x": [0, 10], "step": [1, 2]}) == {"y": [1, 2, 11, 12]}


def test_nested_output_selection_requests_only_needed_inner_outputs() -> None:
    inner = Pipeline(nodes=[clean, count], name="prep")
    outer = Pipeline(nodes=[inner], name="outer")
    step = outer.plan("clean").steps[0]
    assert step.inner_output_names == ("clean",)
    assert outer.run(inputs={"text": "A"}, output_name="clean") == {"clean": "a"}
