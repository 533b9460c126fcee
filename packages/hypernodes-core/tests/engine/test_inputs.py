"""Input validation and map items: messages use the names the user passed."""

from __future__ import annotations

import pytest

from hypernodes import InvalidArgumentError, Pipeline, node
from hypernodes.engine.inputs import build_items


@node(output_name="n")
def count(text: str) -> int:
    return len(text)


@node(output_name="total")
def add(a: int, b: int) -> int:
    return a + b


def test_build_items_names_a_renamed_mapped_input_by_the_users_name() -> None:
    with pytest.raises(InvalidArgumentError, match=r"maps over 'texts' \(inner input 'text'\)") as info:
        build_items(
            {"text": "abc"}, ("text",), "zip", "node 'per_text'", node_name="per_text", outer_names={"text": "texts"}
        )
    assert (info.value.input_name, info.value.node_name) == ("texts", "per_text")
    with pytest.raises(InvalidArgumentError, match=r"different lengths \(xs=2, ys=1\)"):
        build_items({"a": [1, 2], "b": [1]}, ("a", "b"), "zip", "node 'pairs'", outer_names={"a": "xs", "b": "ys"})


def test_build_items_without_renaming_keeps_the_names() -> None:
    with pytest.raises(InvalidArgumentError, match=r"maps over 'text', which must be a non-string sequence"):
        build_items({"text": "abc"}, ("text",), "zip", "pipeline 'p'")


def test_a_nested_map_error_names_the_outer_input_the_user_passed() -> None:
    inner = Pipeline(nodes=[count], name="inner")
    per_text = inner.as_node(input_mapping={"texts": "text"}, map_over="texts", name="per_text")
    with pytest.raises(InvalidArgumentError, match=r"maps over 'texts' \(inner input 'text'\)"):
        Pipeline(nodes=[per_text], name="outer").run(inputs={"texts": "abc"})


def test_an_input_name_that_is_not_a_string_is_a_clear_error() -> None:
    @node(output_name="b")
    def copy(a: int) -> int:
        return a

    with pytest.raises(InvalidArgumentError, match=r"input names must be strings; got int 1 .* inputs are: 'a'"):
        Pipeline(nodes=[copy]).run(inputs={1: 2})  # type: ignore[dict-item]
