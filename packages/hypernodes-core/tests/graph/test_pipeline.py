from __future__ import annotations

import pytest

from hypernodes import CycleError, DependencyError, InvalidArgumentError, Pipeline, RuntimeConfig, node
from hypernodes.testing.nodes import add, clean, count, double, increment, square


@node(output_name="a")
def make_a(b: int) -> int:
    return b


@node(output_name="b")
def make_b(a: int) -> int:
    return a


def test_root_args_are_unproduced_parameters_in_a_stable_order() -> None:
    p = Pipeline(nodes=[count, clean])
    assert p.root_args == ("lower", "text")
    assert Pipeline(nodes=[clean, count]).root_args == ("text", "lower")
    assert p.optional_args == frozenset({"lower"})


def test_nodes_run_in_dependency_order_whatever_the_list_order() -> None:
    p = Pipeline(nodes=[add, square, double])
    assert p.run(inputs={"x": 2}) == {"sum": 8, "squared": 4, "doubled": 4}
    assert [n.name for n in p.order] == ["square", "double", "add"]


def test_a_cycle_fails_at_construction_naming_the_nodes() -> None:
    with pytest.raises(CycleError, match="make_a|make_b") as info:
        Pipeline(nodes=[make_a, make_b])
    assert isinstance(info.value, ValueError)
    assert set(info.value.cycle) == {"make_a", "make_b"}


def test_two_nodes_with_one_output_name_fail_at_construction() -> None:
    other = node(lambda x: x, output_name="doubled")
    with pytest.raises(DependencyError, match="'doubled'.*'double'"):
        Pipeline(nodes=[double, other])


def test_missing_input_names_the_input_and_the_nodes_and_the_fix() -> None:
    p = Pipeline(nodes=[clean, count], name="prep")
    message = (
        "pipeline 'prep' is missing required input 'text' (needed by node 'clean'). "
        "Pass it in inputs={'text': ...} or give the parameter a default."
    )
    with pytest.raises(DependencyError) as info:
        p.run(inputs={})
    assert str(info.value) == message
    assert info.value.input_name == "text" and info.value.node_name == "clean"


def test_unknown_output_name_lists_the_available_ones() -> None:
    p = Pipeline(nodes=[clean, count], name="prep")
    with pytest.raises(InvalidArgumentError) as info:
        p.run(inputs={"text": "a"}, output_name="n_word")
    assert str(info.value) == (
        "unknown output_name 'n_word' for pipeline 'prep'; available: 'clean', 'n_chars', 'n_words'. "
        "Did you mean 'n_words'?"
    )
    assert isinstance(info.value, ValueError)


def test_unknown_input_name_is_an_error_with_a_suggestion() -> None:
    p = Pipeline(nodes=[clean], name="prep")
    with pytest.raises(InvalidArgumentError, match="Did you mean 'text'"):
        p.run(inputs={"txt": "a"})


def test_passing_an_output_as_input_is_explained() -> None:
    p = Pipeline(nodes=[clean, count], name="prep")
    with pytest.raises(InvalidArgumentError, match="'clean' is an output of node 'clean'"):
        p.run(inputs={"text": "a", "clean": "b"})


def test_selective_output_needs_only_its_inputs() -> None:
    p = Pipeline(nodes=[double, increment])
    assert p.run(inputs={"x": 3}, output_name="doubled") == {"doubled": 6}


def test_tuple_output_of_wrong_shape_names_the_node() -> None:
    bad = node(lambda x: x, output_name=("a", "b"))
    with pytest.raises(InvalidArgumentError, match="returned int"):
        Pipeline(nodes=[bad]).run(inputs={"x": 1})


def test_with_config_returns_a_new_pipeline() -> None:
    p = Pipeline(nodes=[double], name="p")
    config = RuntimeConfig(retries=1)
    q = p.with_config(config)
    assert q is not p and q.config is config and p.config is None
    assert q.name == "p" and q.nodes == p.nodes


def test_unnamed_pipeline_is_named_after_its_outputs() -> None:
    assert Pipeline(nodes=[double, square]).name == "pipeline[doubled,squared]"


def test_a_plain_function_in_nodes_is_rejected_with_a_fix() -> None:
    def f(x: int) -> int:
        return x

    with pytest.raises(InvalidArgumentError, match="@node"):
        Pipeline(nodes=[f])  # type: ignore[list-item]


def test_plans_are_built_once_per_output_selection() -> None:
    p = Pipeline(nodes=[double, square, add])
    assert p.plan() is p.plan()
    assert p.plan("sum") is p.plan("sum")
    assert p.plan(["doubled"]) is p.plan(("doubled",))
    assert [s.name for s in p.plan("doubled").steps] == ["double"]


def test_pipelines_are_immutable() -> None:
    p = Pipeline(nodes=[double])
    with pytest.raises(AttributeError, match="immutable"):
        p.name = "other"  # type: ignore[misc]


def test_pipeline_pickles_and_runs_after() -> None:
    import pickle

    p = Pipeline(nodes=[double, square, add], name="diamond")
    clone = pickle.loads(pickle.dumps(p))
    assert clone.name == "diamond" and clone.run(inputs={"x": 1}) == {"doubled": 2, "squared": 1, "sum": 3}


def test_a_set_of_input_names_is_rejected_with_the_dict_to_pass() -> None:
    p = Pipeline(nodes=[clean], name="prep")
    with pytest.raises(InvalidArgumentError, match=r"run\(inputs=\.\.\.\) got a set of names.*\{'text': \.\.\.\}"):
        p.run(inputs={"text"})  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"map\(inputs=\.\.\.\) needs a dict of input names .*; got list"):
        p.map(inputs=[("text", ["a"])], map_over="text")  # type: ignore[arg-type]


def test_an_output_name_that_is_an_input_says_so() -> None:
    p = Pipeline(nodes=[clean, count], name="prep")
    with pytest.raises(InvalidArgumentError, match=r"output_name 'text' is an input of pipeline 'prep'") as info:
        p.run(inputs={"text": "a"}, output_name="text")
    assert "'clean'" in str(info.value) and info.value.input_name == "text"


def test_a_list_for_an_input_annotated_str_hints_at_map_and_still_runs() -> None:
    @node(output_name="shouted")
    def shout(text: str) -> str:
        return str(text).upper()

    p = Pipeline(nodes=[shout], name="prep")
    with pytest.warns(UserWarning, match=r"input 'text' of pipeline 'prep' is a list.*node 'shout'.*map_over='text'"):
        assert p.run(inputs={"text": ["a", "b"]}) == {"shouted": "['A', 'B']"}


def test_a_list_for_an_input_annotated_otherwise_runs_silently() -> None:
    import warnings

    @node(output_name="n")
    def count_words(words: list[str]) -> int:
        return len(words)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Pipeline(nodes=[count_words]).run(inputs={"words": ["a", "b"]}) == {"n": 2}
        assert Pipeline(nodes=[clean]).run(inputs={"text": " A "}) == {"clean": "a"}
