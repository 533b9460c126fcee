"""bind/unbind, config patches, private nested outputs, on_error and RetryPolicy: arguments and errors."""

from __future__ import annotations

import pickle

import pytest

from hypernodes import InvalidArgumentError, ItemFailure, Pipeline, RetryPolicy, RuntimeConfig, node
from hypernodes.config.runtime import ConfigPatch


@node(output_name="y")
def scale(x: int, factor: int) -> int:
    return x * factor


@node(output_name="tmp")
def plus_one(x: int) -> int:
    return x + 1


@node(output_name="out")
def twice(tmp: int) -> int:
    return 2 * tmp


def test_bind_rejects_a_name_that_is_not_an_input() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown input 'factr'.*Did you mean 'factor'"):
        Pipeline(nodes=[scale], name="p").bind(factr=2)


def test_unbind_names_what_is_bound() -> None:
    p = Pipeline(nodes=[scale], name="p").bind(factor=2)
    with pytest.raises(InvalidArgumentError, match="no bound input 'x'; bound inputs: 'factor'"):
        p.unbind("x")
    assert p.unbind().bound_inputs == {}


def test_bound_pipelines_pickle_with_their_values() -> None:
    p = pickle.loads(pickle.dumps(Pipeline(nodes=[scale], name="p").bind(factor=4)))
    assert p.run(inputs={"x": 2}) == {"y": 8}


def test_explain_lists_bound_inputs_of_every_level() -> None:
    inner = Pipeline(nodes=[scale], name="inner").bind(factor=3).as_node(name="per")
    text = str(Pipeline(nodes=[inner], name="outer").explain())
    assert text.splitlines()[-1] == "bound inputs of per: factor=3"


def test_a_patch_names_the_field_it_does_not_know() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown field 'retry'.*Did you mean 'retries'"):
        scale.with_config(retry=2)
    with pytest.raises(InvalidArgumentError, match="not both"):
        scale.with_config(RuntimeConfig(), retries=2)
    with pytest.raises(InvalidArgumentError, match="retries=...\\) must be an int"):
        scale.with_config(retries=-1)


def test_patches_merge_and_a_full_config_stays_full() -> None:
    patched = scale.with_config(retries=2).with_config(timeout=3.0)
    assert patched.config == ConfigPatch({"retries": 2, "timeout": 3.0})
    full = scale.with_config(RuntimeConfig(timeout=1.0)).with_config(retries=1)
    assert isinstance(full.config, RuntimeConfig) and (full.config.retries, full.config.timeout) == (1, 1.0)


def test_output_mapping_exposes_exactly_the_mapped_outputs() -> None:
    wrapped = Pipeline(nodes=[plus_one, twice], name="inner").as_node(output_mapping={"out": "result"})
    assert wrapped.output_names == ("result",)
    assert Pipeline(nodes=[wrapped]).run(inputs={"x": 1}) == {"result": 4}
    with pytest.raises(InvalidArgumentError, match="two inner outputs to one outer name"):
        Pipeline(nodes=[plus_one, twice], name="inner").as_node(output_mapping={"out": "a", "tmp": "a"})


def test_on_error_takes_raise_or_continue() -> None:
    with pytest.raises(InvalidArgumentError, match="on_error of pipeline 'p' must be 'raise'.*got 'skip'"):
        Pipeline(nodes=[scale], name="p").map(inputs={"x": [1], "factor": 1}, map_over="x", on_error="skip")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="on_error of node 'per'"):
        Pipeline(nodes=[scale], name="p").as_node(map_over="x", name="per", on_error="skip")  # type: ignore[arg-type]


def test_item_failures_pickle_even_when_the_exception_does_not() -> None:
    class Local(Exception):  # a local class cannot be pickled by reference
        pass

    failure = ItemFailure(exception=Local("boom"), node_name="n", item_index=3, path=("p",), traceback="tb")
    copy = pickle.loads(pickle.dumps(failure))
    assert (copy.node_name, copy.item_index, str(copy.exception)) == ("n", 3, "Local: boom")
    assert not copy and "item 3 in node 'n'" in repr(copy)


def test_retry_policy_validates_its_fields() -> None:
    with pytest.raises(InvalidArgumentError, match="attempts=...\\) must be an int >= 0"):
        RetryPolicy(attempts=-1)
    with pytest.raises(InvalidArgumentError, match="on=...\\) takes exception types"):
        RetryPolicy(attempts=1, on=("ConnectionError",))  # type: ignore[arg-type]
    assert RetryPolicy(attempts=1, on=ConnectionError).on == (ConnectionError,)  # type: ignore[arg-type]
    assert RuntimeConfig(retries=RetryPolicy(attempts=2)).retries == RetryPolicy(attempts=2)
