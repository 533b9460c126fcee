from __future__ import annotations

import functools
import pickle

import pytest

from hypernodes import InvalidArgumentError, Pipeline, Resource, node, resource
from hypernodes.cache._hashing import hash_value
from hypernodes.executor import dumps, loads


def load_vocabulary() -> dict[str, int]:
    return {"a": 1}


def test_resource_called_on_a_factory_declares_it() -> None:
    declared = resource(load_vocabulary, version="2")
    assert isinstance(declared, Resource)
    assert (declared.name, declared.version, declared.thread_safe) == ("load_vocabulary", "2", True)
    assert declared.build() == {"a": 1}


def test_bare_and_called_decorators_declare_resources() -> None:
    @resource
    def first() -> int:
        return 1

    @resource(name="second_one", thread_safe=False)
    def second() -> int:
        return 2

    assert isinstance(first, Resource) and first.name == "first"
    assert isinstance(second, Resource) and (second.name, second.thread_safe) == ("second_one", False)
    assert repr(second) == "Resource('second_one', thread_safe=False)"


def test_a_factory_needing_arguments_is_an_error_with_a_fix() -> None:
    def load(path: str) -> str:
        return path

    with pytest.raises(InvalidArgumentError, match=r"requires 'path'.*functools.partial"):
        resource(load)
    assert resource(functools.partial(load, path="m.bin")).build() == "m.bin"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"version": 2}, "version must be a string"), ({"name": ""}, "non-empty string")],
)
def test_bad_arguments_are_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        resource(load_vocabulary, **kwargs)  # type: ignore[arg-type]


def test_a_non_callable_factory_is_an_error() -> None:
    with pytest.raises(InvalidArgumentError, match="zero-argument function"):
        resource(42)  # type: ignore[call-overload]


def test_a_resource_is_immutable() -> None:
    declared = Resource(load_vocabulary)
    with pytest.raises(AttributeError, match="immutable"):
        declared.name = "other"  # type: ignore[misc]


def test_pickled_copies_are_the_same_resource() -> None:
    declared = Resource(load_vocabulary, version="1")
    copy = pickle.loads(pickle.dumps(declared))
    by_value = loads(dumps(Resource(lambda: 3, name="three")))
    assert copy == declared and copy.key == declared.key and hash(copy) == hash(declared)
    assert copy is not declared and copy.factory is load_vocabulary
    assert by_value.build() == 3
    assert Resource(load_vocabulary) != Resource(load_vocabulary)  # two declarations, two values


def test_a_resource_hashes_by_name_and_version_only() -> None:
    def one() -> int:
        return 1

    def two() -> int:
        return 2

    assert hash_value(Resource(one, name="m", version="1")) == hash_value(Resource(two, name="m", version="1"))
    assert hash_value(Resource(one, name="m", version="1")) != hash_value(Resource(one, name="m", version="2"))
    assert hash_value(Resource(one, name="m")) != hash_value(Resource(one, name="n"))


def test_resource_parameters_are_not_inputs() -> None:
    vocabulary = resource(load_vocabulary)

    @node(output_name="ids")
    def encode(text: str, strict: bool = False, vocab: dict[str, int] = vocabulary) -> list[int]:
        return [vocab[t] for t in text.split()]

    assert encode.parameters == ("text", "strict")
    assert dict(encode.defaults) == {"strict": False}
    assert dict(encode.resources) == {"vocab": vocabulary}
    p = Pipeline(nodes=[encode], name="p")
    assert p.root_args == ("text", "strict")
    with pytest.raises(InvalidArgumentError, match="unknown input 'vocab'"):
        p.run(inputs={"text": "a", "vocab": {"a": 5}})


def test_nodes_keep_their_resources_through_copies_and_pickling() -> None:
    vocabulary = resource(load_vocabulary)

    @node(output_name="ids")
    def encode(text: str, vocab: dict[str, int] = vocabulary) -> list[int]:
        return [vocab[t] for t in text.split()]

    for copy in (encode.with_name("e"), encode.with_config(retries=1), loads(dumps(encode))):
        assert copy.parameters == ("text",)
        assert copy.resources["vocab"] == vocabulary


def test_calling_a_node_directly_builds_a_missing_resource_or_takes_yours() -> None:
    vocabulary = resource(load_vocabulary)

    @node(output_name="ids")
    def encode(text: str, vocab: dict[str, int] = vocabulary) -> list[int]:
        return [vocab[t] for t in text.split()]

    assert encode("a a") == [1, 1]
    assert encode("a", vocab={"a": 9}) == [9]
    assert encode("a", {"a": 7}) == [7]
