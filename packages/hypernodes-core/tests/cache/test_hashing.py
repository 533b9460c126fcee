"""hash_value: content hashing that is type-distinct, stable across processes, never by address."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import functools
import hashlib
import io
import logging
import os
import pathlib
import pickle
import subprocess
import sys
import threading
import uuid
from typing import Any, NamedTuple

import pytest

from hypernodes.cache import _encoders, _framing, _hashing
from hypernodes.cache._hashing import UnhashableValueError, encode_value, hash_value
from hypernodes.cache._libraries import qualified_name


def test_all_is_pinned() -> None:
    for module in (_hashing, _framing, _encoders):
        assert module.__all__ == sorted(module.__all__)
    assert set(_hashing.__all__) == {
        "Encoder", "SupportsCacheKey", "UnhashableValueError", "encode_value", "hash_value",
    }  # fmt: skip
    assert set(_framing.__all__) == {"DIGEST_SIZE", "LARGE", "SCALARS", "UnhashableValueError", "frame", "str_bytes"}
    assert set(_encoders.__all__) == {"Plan", "is_routine", "plan_for"}


def test_unhashable_value_error_is_one_class_wherever_it_is_imported_from() -> None:
    assert _hashing.UnhashableValueError is _framing.UnhashableValueError


# -- type distinctness ------------------------------------------------------------------------
DISTINCT: list[object] = [
    1, "1", True, 1.0, [1], (1,), {1}, frozenset({1}), {1: 1}, b"1", bytearray(b"1"), 1 + 0j,
    0, "", False, 0.0, -0.0, None, [], (), {}, set(), frozenset(), b"", bytearray(),
    "None", "True", [1, 2], [[1], 2], [1, [2]], ("a", "b"), ("ab",), ("a", "b", ""),
    {"a": 1}, {"a": "1"}, {1: "a"}, 2**64, -(2**64), float("inf"), ...,
]  # fmt: skip


def test_values_of_different_types_or_shapes_never_share_a_hash() -> None:
    hashes = [hash_value(value) for value in DISTINCT]
    assert len(set(hashes)) == len(DISTINCT)


def test_no_encoding_is_a_prefix_of_another() -> None:
    # Encodings are self-delimiting: that is what keeps values inside containers apart.
    samples = [
        *DISTINCT, datetime.datetime(2024, 1, 1), "2024-01-01T00:00:00", Point(1), OtherPoint(1),
        Color.RED, Pair(1, 2), add_one, len, pathlib.PurePosixPath("a"), "a", decimal.Decimal("1"),
        collections.OrderedDict(a=1), uuid.UUID(int=1), range(2), (False, "x"), [None, None],
    ]  # fmt: skip
    encodings = set()
    for value in samples:
        out: list[bytes] = []
        encode_value(value, out, qualified_name)
        encodings.add(b"".join(out))
    for first in encodings:
        for second in encodings:
            assert first == second or not second.startswith(first)


@pytest.mark.parametrize("value", DISTINCT, ids=repr)
def test_equal_values_hash_equal(value: object) -> None:
    assert hash_value(value) == hash_value(pickle.loads(pickle.dumps(value)))


def test_hash_is_a_32_character_hex_string() -> None:
    digest = hash_value("text")
    assert len(digest) == 32
    int(digest, 16)


@pytest.mark.parametrize("value", ["short", 7, 2.5, None, True, b"x", ("a", 1, 2.5), (), ("x", None)])
def test_fast_paths_agree_with_the_general_encoder(value: object) -> None:
    out: list[bytes] = []
    encode_value(value, out, lambda obj: "unused")
    assert hash_value(value) == hashlib.blake2b(b"".join(out), digest_size=16).hexdigest()


def test_large_strings_and_bytes_hash_by_content() -> None:
    big = "x" * 100_000
    assert hash_value(big) == hash_value("x" * 100_000)
    assert hash_value(big) != hash_value(big[:-1] + "y")
    assert hash_value(big) != hash_value(big.encode())
    assert hash_value(bytes(200_000)) != hash_value(bytes(200_001))


def test_huge_ints_hash_without_the_int_to_str_limit() -> None:
    assert hash_value(10**10_000) != hash_value(10**10_000 + 1)


# -- containers -------------------------------------------------------------------------------
def test_sets_hash_the_same_whatever_their_insertion_order() -> None:
    words = [f"word{i}" for i in range(50)]
    assert hash_value(set(words)) == hash_value(set(reversed(words)))
    assert hash_value(frozenset(words)) == hash_value(frozenset(reversed(words)))
    assert hash_value(set(words)) != hash_value(frozenset(words))


def test_dicts_with_mixed_key_types_hash() -> None:
    value = {1: "a", "1": "b", (1,): "c", None: "d", 2.5: "e"}
    assert hash_value(value) == hash_value(dict(value))
    assert hash_value(value) != hash_value({**value, None: "changed"})


def test_dicts_hash_in_insertion_order_which_nodes_can_observe() -> None:
    assert hash_value({"a": 1, "b": 2}) == hash_value({"a": 1, "b": 2})
    assert hash_value({"a": 1, "b": 2}) != hash_value({"b": 2, "a": 1})


def test_nested_containers_hash_by_content() -> None:
    value: Any = {"rows": [(1, "a"), (2, "b")], "meta": {"tags": {"x", "y"}, "n": None}}
    copy: Any = {"rows": [(1, "a"), (2, "b")], "meta": {"tags": {"y", "x"}, "n": None}}
    assert hash_value(value) == hash_value(copy)
    copy["rows"][1] = (2, "c")
    assert hash_value(value) != hash_value(copy)


def test_cyclic_structures_hash_deterministically() -> None:
    def make(tail: int) -> list[Any]:
        cyclic: list[Any] = [tail]
        cyclic.append(cyclic)
        return cyclic

    assert hash_value(make(1)) == hash_value(make(1))
    assert hash_value(make(1)) != hash_value(make(2))


def test_shared_references_hash_like_copies() -> None:
    shared = [1, 2]
    assert hash_value([shared, shared]) == hash_value([[1, 2], [1, 2]])


def test_a_value_nested_too_deeply_is_unhashable() -> None:
    deep: list[Any] = []
    current = deep
    for _ in range(10_000):
        current.append([])
        current = current[0]
    with pytest.raises(UnhashableValueError, match="nested too deeply"):
        hash_value(deep)


# -- library and user types -------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int = 0
    cache: dict[str, int] = dataclasses.field(default_factory=dict, compare=False)


@dataclasses.dataclass(frozen=True)
class OtherPoint:
    x: int
    y: int = 0


class Color(enum.Enum):
    RED = 1
    BLUE = 2


class Pair(NamedTuple):
    left: int
    right: int


def test_dataclasses_hash_by_class_and_compared_fields() -> None:
    assert hash_value(Point(1, 2)) == hash_value(Point(1, 2))
    assert hash_value(Point(1, 2)) != hash_value(Point(1, 3))
    assert hash_value(Point(1, 2)) != hash_value(OtherPoint(1, 2))
    assert hash_value(Point(1, 2, {"a": 1})) == hash_value(Point(1, 2))  # compare=False is ignored


def test_enums_namedtuples_and_builtin_subclasses_carry_their_class() -> None:
    assert hash_value(Color.RED) != hash_value(Color.BLUE)
    assert hash_value(Color.RED) != hash_value(1)
    assert hash_value(Pair(1, 2)) == hash_value(Pair(1, 2))
    assert hash_value(Pair(1, 2)) != hash_value((1, 2))
    assert hash_value(collections.OrderedDict(a=1)) != hash_value({"a": 1})
    assert hash_value(collections.defaultdict(list, a=[1])) != hash_value(collections.defaultdict(set, a=[1]))


@pytest.mark.parametrize(
    ("value", "other"),
    [
        (pathlib.PurePosixPath("a/b"), pathlib.PurePosixPath("a/c")),
        (datetime.datetime(2024, 1, 1, 12), datetime.datetime(2024, 1, 1, 13)),
        (datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC), datetime.datetime(2024, 1, 1)),
        (datetime.date(2024, 1, 1), datetime.date(2024, 1, 2)),
        (datetime.timedelta(seconds=1), datetime.timedelta(seconds=2)),
        (decimal.Decimal("1.10"), decimal.Decimal("1.1")),
        (uuid.UUID(int=1), uuid.UUID(int=2)),
        (range(3), range(4)),
        (collections.deque([1, 2]), collections.deque([1, 2], maxlen=5)),
    ],
    ids=repr,
)
def test_stdlib_values_hash_by_content(value: object, other: object) -> None:
    assert hash_value(value) == hash_value(pickle.loads(pickle.dumps(value)))
    assert hash_value(value) != hash_value(other)


def test_a_path_hashes_its_name_not_the_file_contents(tmp_path: pathlib.Path) -> None:
    file = tmp_path / "data.txt"
    file.write_text("one")
    before = hash_value(file)
    file.write_text("two")
    assert hash_value(file) == before


class Config:
    def __init__(self, threshold: float, labels: list[str]) -> None:
        self.threshold = threshold
        self.labels = labels
        self._memo: dict[str, int] = {}  # private: not part of the content


def test_objects_hash_by_class_and_public_attributes_never_by_address() -> None:
    first, second = Config(0.5, ["a"]), Config(0.5, ["a"])
    assert " at 0x" in repr(first)
    assert hash_value(first) == hash_value(second)
    first._memo["x"] = 1
    assert hash_value(first) == hash_value(second)
    assert hash_value(first) != hash_value(Config(0.6, ["a"]))


def test_attribute_order_does_not_matter() -> None:
    first, second = Config(0.5, ["a"]), Config.__new__(Config)
    second.labels, second.threshold, second._memo = ["a"], 0.5, {}
    assert hash_value(first) == hash_value(second)


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self, a: int, b: int) -> None:
        self.a, self.b = a, b


def test_slotted_objects_hash_by_their_public_slots() -> None:
    assert hash_value(Slotted(1, 2)) == hash_value(Slotted(1, 2))
    assert hash_value(Slotted(1, 2)) != hash_value(Slotted(1, 3))


class Handle:
    def __init__(self, key: str) -> None:
        self._key = key

    def __cache_key__(self) -> object:
        return ("handle", self._key)


def test_cache_key_defines_the_identity_of_an_object() -> None:
    assert hash_value(Handle("a")) == hash_value(Handle("a"))
    assert hash_value(Handle("a")) != hash_value(Handle("b"))
    assert hash_value(Handle("a")) != hash_value(("handle", "a"))


class OnlyPrivate:
    def __init__(self) -> None:
        self._state = 1


class Stateless:
    pass


class MyLogger(logging.Logger):
    def __init__(self) -> None:
        super().__init__("mine")
        self.label = "public"


class MyBuffer(io.StringIO):
    def __init__(self) -> None:
        super().__init__("hidden")
        self.label = "public"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (threading.Lock(), "implemented in C"),
        (io.StringIO("x"), "implemented in C"),
        ((x for x in []), "implemented in C"),
        (MyBuffer(), "extends _io.StringIO"),
        (object(), "no attributes"),
        (Stateless(), "no attributes"),
        (OnlyPrivate(), "only private"),
        (logging.getLogger("hypernodes.test"), "library class logging.Logger"),
        (MyLogger(), "library class logging.Logger"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else v,
)
def test_values_without_visible_content_are_unhashable(value: object, reason: str) -> None:
    with pytest.raises(UnhashableValueError, match=reason) as info:
        hash_value(value)
    assert "__cache_key__" in str(info.value)


def test_unhashable_error_says_where_in_the_value() -> None:
    with pytest.raises(UnhashableValueError) as info:
        hash_value({"rows": [1, Config(0.5, [threading.Lock()])]})
    assert info.value.path == "['rows'][1].labels[0]"
    assert "at value['rows'][1].labels[0]" in str(info.value)


def test_unhashable_error_is_a_type_error_and_pickles() -> None:
    error = UnhashableValueError("cannot", path="[0]")
    assert isinstance(error, TypeError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.path) == ("cannot", "[0]")


# -- code as values ---------------------------------------------------------------------------
def add_one(x: int) -> int:
    return x + 1


def add_two(x: int) -> int:
    return x + 2


def test_functions_hash_by_code() -> None:
    assert hash_value(add_one) == hash_value(add_one)
    assert hash_value(add_one) != hash_value(add_two)
    assert hash_value(functools.partial(add_one, 1)) != hash_value(functools.partial(add_one, 2))
    assert hash_value(functools.lru_cache(add_one)) != hash_value(functools.lru_cache(add_two))
    assert hash_value(len) != hash_value(abs)
    assert hash_value(Point) != hash_value(OtherPoint)
    assert hash_value(os) != hash_value(sys)


# -- optional libraries -----------------------------------------------------------------------
def test_numpy_arrays_hash_by_dtype_shape_and_content() -> None:
    np = pytest.importorskip("numpy")
    array = np.arange(6, dtype=np.int64).reshape(2, 3)
    assert hash_value(array) == hash_value(array.copy())
    assert hash_value(array) != hash_value(array.astype(np.int32))
    assert hash_value(array) != hash_value(array.reshape(3, 2))
    assert hash_value(array.T) == hash_value(np.ascontiguousarray(array.T))  # layout does not matter
    assert hash_value(array) != hash_value(array.tolist())
    assert hash_value(np.zeros(300_000)) != hash_value(np.ones(300_000))
    assert hash_value(np.array(["a", None], dtype=object)) == hash_value(np.array(["a", None], dtype=object))
    assert hash_value(np.array([1, 2], dtype="datetime64[D]")) != hash_value(np.array([1, 3], dtype="datetime64[D]"))


def test_numpy_scalars_differ_from_python_numbers_and_each_other() -> None:
    np = pytest.importorskip("numpy")
    values = [1, np.int64(1), np.int32(1), 1.0, np.float64(1.0), np.float32(1.0), "a", np.str_("a")]
    assert len({hash_value(v) for v in values}) == len(values)


def test_pydantic_models_hash_by_class_and_fields() -> None:
    pydantic = pytest.importorskip("pydantic", minversion="2")

    class Settings(pydantic.BaseModel):
        name: str
        sizes: list[int] = []

    class Wrapper(pydantic.BaseModel):
        settings: Settings

    assert hash_value(Settings(name="a")) == hash_value(Settings(name="a"))
    assert hash_value(Settings(name="a")) != hash_value(Settings(name="a", sizes=[1]))
    nested = Wrapper(settings=Settings(name="a"))
    assert hash_value(nested) == hash_value(Wrapper(settings=Settings(name="a")))
    assert hash_value(nested) != hash_value(Wrapper(settings=Settings(name="b")))


# -- across processes -------------------------------------------------------------------------
_CROSS_PROCESS = """
import dataclasses, sys
sys.path.insert(0, {directory!r})
from shapes import Box, VALUES
from hypernodes.cache import hash_value
print(hash_value(VALUES))
print("numpy" in sys.modules, "pydantic" in sys.modules)
"""
_SHAPES = """
import dataclasses, enum

@dataclasses.dataclass
class Box:
    label: str
    items: frozenset

class Mode(enum.Enum):
    FAST = "fast"

def helper(x):
    return x * 2

VALUES = [
    {"a", "b", "c", "d", "e", "f"}, frozenset({"x", "y", "z"}), {"k": 1, 2: "v", None: (1.5, b"b")},
    Box("one", frozenset({"p", "q"})), Mode.FAST, helper, "text", 3, (1, "a"),
]
"""


def test_hashes_are_equal_in_other_processes_whatever_the_hash_seed(tmp_path: pathlib.Path) -> None:
    (tmp_path / "shapes.py").write_text(_SHAPES)
    code = _CROSS_PROCESS.format(directory=str(tmp_path))
    outputs = set()
    for seed in ("1", "2", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        digest, heavy = run.stdout.split("\n")[:2]
        outputs.add(digest)
        assert heavy == "False False"  # hashing plain values imports neither numpy nor pydantic
    assert len(outputs) == 1
