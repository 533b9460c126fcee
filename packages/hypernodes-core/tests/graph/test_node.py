from __future__ import annotations

import asyncio

import pytest

from hypernodes import InvalidArgumentError, Node, RuntimeConfig, node


def test_bare_decorator_names_the_output_after_the_function() -> None:
    @node
    def tokens(text: str) -> list[str]:
        return text.split()

    assert isinstance(tokens, Node)
    assert tokens.name == "tokens"
    assert tokens.output_names == ("tokens",)
    assert tokens.parameters == ("text",)


def test_tuple_output_name_declares_several_outputs() -> None:
    @node(output_name=("a", "b"))
    def split(x: int) -> tuple[int, int]:
        return x, -x

    assert split.output_names == ("a", "b")
    assert split.output_name == ("a", "b")


def test_defaults_are_optional_inputs() -> None:
    @node(output_name="y")
    def f(x: int, step: int = 2) -> int:
        return x + step

    assert dict(f.defaults) == {"step": 2}


def test_node_stays_callable_as_a_function() -> None:
    @node(output_name="y")
    def f(x: int) -> int:
        return x + 1

    assert f(1) == 2
    assert f(x=2) == 3


def test_async_function_is_detected() -> None:
    @node(output_name="y")
    async def f(x: int) -> int:
        await asyncio.sleep(0)
        return x

    assert f.is_async


def test_with_config_returns_a_new_node_and_keeps_the_original() -> None:
    @node(output_name="y")
    def f(x: int) -> int:
        return x

    config = RuntimeConfig(retries=3)
    g = f.with_config(config)
    assert g.config is config
    assert f.config is None
    assert g.output_names == f.output_names and g.func is f.func


def test_nodes_are_immutable() -> None:
    @node(output_name="y")
    def f(x: int) -> int:
        return x

    with pytest.raises(AttributeError, match="immutable"):
        f.name = "g"  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["1x", "a-b", ""])
def test_invalid_output_names_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidArgumentError, match="output"):
        node(lambda x: x, output_name=bad)


def test_var_args_are_rejected_with_a_fix() -> None:
    def f(*items: int) -> int:
        return sum(items)

    with pytest.raises(InvalidArgumentError, match=r"\*items"):
        node(f)


def test_lambda_needs_an_output_name() -> None:
    with pytest.raises(InvalidArgumentError, match="output_name"):
        node(lambda x: x)
    assert node(lambda x: x, output_name="y").name == "y"


def test_cache_flag_and_version_are_kept() -> None:
    @node(output_name="y", cache=False, version="2")
    def f(x: int) -> int:
        return x

    assert f.cache is False
    assert f.version == "2"
    assert f.with_config(RuntimeConfig()).version == "2"


def test_node_pickles_by_value() -> None:
    import pickle

    from hypernodes.testing.nodes import double

    clone = pickle.loads(pickle.dumps(double))
    assert clone(3) == 6 and clone.output_names == ("doubled",)


def test_a_node_hashes_by_its_function_code() -> None:
    from hypernodes.cache import hash_value

    def first(x: int) -> int:
        return x + 1

    def second(x: int) -> int:
        return x + 2

    assert hash_value(node(first, output_name="y")) == hash_value(node(first, output_name="y"))
    assert hash_value(node(first, output_name="y")) != hash_value(node(second, output_name="y"))


def test_star_parameters_are_rejected_with_their_own_spelling() -> None:
    def keywords(**options: int) -> int:
        return 0

    def positional(*values: int) -> int:
        return 0

    with pytest.raises(InvalidArgumentError, match=r"node 'keywords' takes \*\*options;") as info:
        node(keywords)
    assert info.value.input_name == "options"
    with pytest.raises(InvalidArgumentError, match=r"node 'positional' takes \*values;"):
        node(positional)


@pytest.mark.parametrize("output_name", [5, None.__class__, {"y": 1}])
def test_an_output_name_that_is_not_a_string_or_tuple_is_a_clear_error(output_name: object) -> None:
    def f(x: int) -> int:
        return x

    with pytest.raises(InvalidArgumentError, match="output_name must be a string, or a tuple of strings"):
        node(output_name=output_name)(f)  # type: ignore[call-overload]
