"""code_fingerprint and node_signature: what invalidates a node's entries, and what does not."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import subprocess
import sys
import textwrap
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from hypernodes.cache import _libraries, signature
from hypernodes.cache._hashing import UnhashableValueError
from hypernodes.cache.signature import CallSigner, code_fingerprint, node_signature
from hypernodes.errors import InvalidArgumentError

Loader = Callable[[str, str], types.ModuleType]  # the `load` fixture of conftest.py


def test_all_is_pinned() -> None:
    assert signature.__all__ == ["CodeFingerprint", "code_fingerprint", "fingerprint_code", "node_signature"]


def fingerprint_of(load: Loader, source: str, name: str = "node_fn", *, module: str = "nodes_a") -> str:
    return code_fingerprint(getattr(load(module, source), name))


BASE = """
    import json

    SCALE = 3
    UNUSED = 10

    def helper(x):
        return inner(x) * SCALE

    def inner(x):
        return x + 1

    def unrelated(x):
        return x - 1

    def node_fn(text: str) -> str:
        return json.dumps(helper(len(text)))
"""


def test_the_same_source_gives_the_same_fingerprint(load: Loader) -> None:
    assert fingerprint_of(load, BASE) == fingerprint_of(load, BASE)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("return json.dumps(helper(len(text)))", "return json.dumps(helper(len(text) + 1))"),  # the node
        ("return inner(x) * SCALE", "return inner(x) * SCALE + 0"),  # a helper it calls
        ("return x + 1", "return x + 2"),  # a helper of that helper
        ("SCALE = 3", "SCALE = 4"),  # a global a helper reads
    ],
    ids=["node body", "helper", "helper of helper", "referenced global"],
)
def test_editing_what_the_node_runs_changes_the_fingerprint(load: Loader, old: str, new: str) -> None:
    assert old in BASE
    assert fingerprint_of(load, BASE) != fingerprint_of(load, BASE.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("return x - 1", "return x - 100"),  # a function the node never calls
        ("UNUSED = 10", "UNUSED = 11"),  # a global nobody reads
        ("def node_fn(text: str) -> str:", "def node_fn(text: str) -> str:  # a comment"),
        ("return json.dumps(helper(len(text)))", "return json.dumps( helper( len(text) ) )"),  # formatting
        ("import json\n", "import json\n    import os\n"),  # a new import
    ],
    ids=["unrelated function", "unrelated global", "comment", "formatting", "new import"],
)
def test_unrelated_edits_keep_the_fingerprint(load: Loader, old: str, new: str) -> None:
    assert old in BASE
    assert fingerprint_of(load, BASE) == fingerprint_of(load, BASE.replace(old, new))


def test_helpers_used_through_a_user_module_are_walked(load: Loader) -> None:
    helpers = """
        THRESHOLD = 0.5

        def scale(x):
            return x * 2

        def other(x):
            return x
    """
    nodes = """
        import helpers_b

        def node_fn(x):
            return helpers_b.scale(x) > helpers_b.THRESHOLD
    """

    def fingerprint(helpers_source: str) -> str:
        load("helpers_b", helpers_source)
        return fingerprint_of(load, nodes, module="nodes_b")

    base = fingerprint(helpers)
    assert fingerprint(helpers) == base
    assert fingerprint(helpers.replace("return x * 2", "return x * 3")) != base
    assert fingerprint(helpers.replace("THRESHOLD = 0.5", "THRESHOLD = 0.6")) != base
    assert fingerprint(helpers.replace("return x\n", "return -x\n")) == base  # other() is not used


def test_user_modules_that_refer_to_each_other_are_walked_once(load: Loader) -> None:
    ping = load("ping_mod", "import sys\nVALUE = 1\n")
    pong = load("pong_mod", "VALUE = 2\n")
    ping.pong_mod, pong.ping_mod = pong, ping  # a package and its submodule, say
    nodes = "import ping_mod\n\ndef node_fn():\n    return ping_mod.pong_mod.ping_mod.VALUE\n"
    base = fingerprint_of(load, nodes, module="nodes_f")
    assert fingerprint_of(load, nodes, module="nodes_f") == base
    pong.VALUE = 3
    assert fingerprint_of(load, nodes, module="nodes_f") != base


def test_a_module_imported_inside_the_node_is_covered_before_and_after_its_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, load: Loader
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    dependency = tmp_path / "local_dep_c.py"
    dependency.write_text("def work(x):\n    return x\n")
    importlib.invalidate_caches()
    node_fn = load("nodes_c", "def node_fn(x):\n    import local_dep_c\n    return local_dep_c.work(x)\n").node_fn
    before = code_fingerprint(node_fn)
    assert "local_dep_c" not in sys.modules
    monkeypatch.setitem(sys.modules, "local_dep_c", importlib.import_module("local_dep_c"))
    assert code_fingerprint(node_fn) == before  # running the node (importing it) changes nothing
    dependency.write_text("def work(x):\n    return x * 2\n")
    assert code_fingerprint(node_fn) != before


def test_editing_a_method_of_a_referenced_class_changes_the_fingerprint(load: Loader) -> None:
    source = """
        class Tokenizer:
            def split(self, text):
                return text.split()

        def node_fn(text):
            return Tokenizer().split(text)
    """
    assert fingerprint_of(load, source) != fingerprint_of(load, source.replace("text.split()", "text.split(',')"))


def test_closure_values_are_part_of_the_fingerprint() -> None:
    def make(factor: int) -> Callable[[int], int]:
        def scaled(x: int) -> int:
            return x * factor

        return scaled

    assert code_fingerprint(make(2)) == code_fingerprint(make(2))
    assert code_fingerprint(make(2)) != code_fingerprint(make(3))


def test_defaults_are_part_of_the_fingerprint(load: Loader) -> None:
    source = "def node_fn(x, scale=2, *, label='a'):\n    return x * scale, label\n"
    assert fingerprint_of(load, source) != fingerprint_of(load, source.replace("scale=2", "scale=3"))
    assert fingerprint_of(load, source) != fingerprint_of(load, source.replace("label='a'", "label='b'"))


def add(x: int) -> int:
    return x + 1


def test_version_is_an_explicit_part_of_the_fingerprint() -> None:
    fingerprints = {code_fingerprint(add), code_fingerprint(add, version="1"), code_fingerprint(add, version="2")}
    assert len(fingerprints) == 3
    assert code_fingerprint(add, version="1") == code_fingerprint(add, version="1")


def test_recursive_and_mutually_recursive_functions_are_fingerprinted(load: Loader) -> None:
    source = """
        def node_fn(n):
            return 0 if n == 0 else is_odd(n - 1) + node_fn(n - 1)

        def is_odd(n):
            return n != 0 and not is_even(n - 1)

        def is_even(n):
            return n == 0 or is_odd(n - 1)
    """
    assert fingerprint_of(load, source) == fingerprint_of(load, source)
    assert fingerprint_of(load, source) != fingerprint_of(load, source.replace("n == 0 or", "n == 1 or"))


def test_library_code_is_represented_by_its_version(load: Loader, monkeypatch: pytest.MonkeyPatch) -> None:
    before = fingerprint_of(load, BASE)
    monkeypatch.setitem(_libraries._MARKERS, "json", "stdlib@99.0")  # as if Python were upgraded
    assert fingerprint_of(load, BASE) != before


def test_a_global_that_cannot_be_hashed_fails_unless_a_version_vouches_for_it(load: Loader) -> None:
    source = """
        class Client:
            def __init__(self):
                self._session = object()

            def fetch(self, x):
                return x

        client = Client()

        def node_fn(x):
            return client.fetch(x)
    """
    node_fn = load("nodes_d", source).node_fn
    with pytest.raises(UnhashableValueError, match=r"refers to global 'client' \(used by node_fn\(\)\)") as info:
        code_fingerprint(node_fn)
    assert "version=" in str(info.value)
    assert code_fingerprint(node_fn, version="1") != code_fingerprint(node_fn, version="2")


def test_library_objects_that_cannot_be_hashed_are_represented_by_their_type(load: Loader) -> None:
    source = """
        import logging, threading
        logger = logging.getLogger("nodes")
        lock = threading.Lock()

        def node_fn(x):
            with lock:
                logger.info("x=%s", x)
            return x
    """
    assert fingerprint_of(load, source) == fingerprint_of(load, source)


def test_a_container_global_keeps_its_content_around_a_library_object(load: Loader) -> None:
    source = """
        import logging
        SETTINGS = {"threshold": 0.5, "log": logging.getLogger("nodes")}

        def node_fn(x):
            SETTINGS["log"].info("x")
            return x > SETTINGS["threshold"]
    """
    base = fingerprint_of(load, source)
    assert fingerprint_of(load, source) == base
    assert fingerprint_of(load, source.replace("0.5", "0.6")) != base


def test_a_user_object_inside_a_container_global_is_not_silently_skipped(load: Loader) -> None:
    source = """
        class Secret:
            def __init__(self):
                self._value = 1

        TABLE = [1, Secret()]

        def node_fn(x):
            return TABLE[0] + x
    """
    with pytest.raises(UnhashableValueError, match=r"global 'TABLE'.*only private"):
        fingerprint_of(load, source)


def test_different_library_callables_under_one_name_differ(load: Loader) -> None:
    np = pytest.importorskip("numpy")
    assert np is not None
    source = "from numpy import sqrt as transform\n\ndef node_fn(x):\n    return transform(x)\n"
    assert fingerprint_of(load, source) != fingerprint_of(load, source.replace("sqrt", "exp"))


def test_functions_without_source_are_fingerprinted_by_bytecode() -> None:
    plus_one = eval("lambda x: x + 1")
    plus_two = eval("lambda x: x + 2")
    assert code_fingerprint(plus_one) == code_fingerprint(eval("lambda x: x + 1"))
    assert code_fingerprint(plus_one) != code_fingerprint(plus_two)


class Scaler:
    def __init__(self, factor: int) -> None:
        self.factor = factor

    def apply(self, x: int) -> int:
        return x * self.factor


def test_other_callables_are_fingerprinted() -> None:
    assert code_fingerprint(Scaler(2).apply) == code_fingerprint(Scaler(2).apply)
    assert code_fingerprint(Scaler(2).apply) != code_fingerprint(Scaler(3).apply)
    assert code_fingerprint(functools.partial(add, 1)) != code_fingerprint(functools.partial(add, 2))
    assert code_fingerprint(Scaler) != code_fingerprint(add)
    assert code_fingerprint(len) != code_fingerprint(abs)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="callable"):
        code_fingerprint(3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="version"):
        code_fingerprint(add, version=2)  # type: ignore[arg-type]


_CHILD = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("nodes_e", {path!r})
module = importlib.util.module_from_spec(spec)
sys.modules["nodes_e"] = module
spec.loader.exec_module(module)
from hypernodes.cache import code_fingerprint
print(code_fingerprint(module.node_fn))
"""


def test_fingerprints_are_equal_in_other_processes(tmp_path: Path, load: Loader) -> None:
    path = tmp_path / "nodes_e.py"
    path.write_text(textwrap.dedent(BASE))
    expected = code_fingerprint(load("nodes_e", BASE).node_fn)
    for seed in ("0", "7"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        child = subprocess.run(
            [sys.executable, "-c", _CHILD.format(path=str(path))], capture_output=True, text=True, env=env, check=True
        )
        assert child.stdout.strip() == expected


# -- node_signature ---------------------------------------------------------------------------
CODE = "c" * 32


def test_node_signature_does_not_depend_on_input_order() -> None:
    assert node_signature(CODE, [("a", "1"), ("b", "2")]) == node_signature(CODE, iter([("b", "2"), ("a", "1")]))


def test_node_signature_changes_with_code_and_every_input() -> None:
    base = node_signature(CODE, [("a", "1"), ("b", "2")])
    assert node_signature("d" * 32, [("a", "1"), ("b", "2")]) != base
    assert node_signature(CODE, [("a", "1"), ("b", "3")]) != base
    assert node_signature(CODE, [("a", "1"), ("c", "2")]) != base
    assert node_signature(CODE, [("a", "1")]) != base


def test_node_signature_frames_names_and_values() -> None:
    assert node_signature(CODE, [("ab", "c")]) != node_signature(CODE, [("a", "bc")])
    assert node_signature(CODE, [("a", "b"), ("c", "d")]) != node_signature(CODE, [("a", "b1:cd")])


def test_upstream_signatures_feed_downstream_signatures() -> None:
    upstream = node_signature(CODE, [("text", "h1")])
    changed = node_signature(CODE, [("text", "h2")])
    downstream = node_signature("e" * 32, [("clean", f"{upstream}:clean")])
    assert downstream != node_signature("e" * 32, [("clean", f"{changed}:clean")])
    assert downstream != node_signature("e" * 32, [("clean", f"{upstream}:other_output")])


@pytest.mark.parametrize(
    "inputs",
    [[("x", "1")], [("b", "2"), ("a", "1")], [("zeta", "s:1"), ("alpha", "9"), ("mid", "é")], []],
)
def test_a_call_signer_signs_as_node_signature_does(inputs: list[tuple[str, str]]) -> None:
    signer = CallSigner([name for name, _ in inputs])
    for code_hash in ("c0de", "f00d", "c0de"):  # a changed code hash is picked up
        assert signer.sign(code_hash, [value for _, value in inputs]) == node_signature(code_hash, inputs)


def test_a_call_signer_refuses_repeated_names() -> None:
    with pytest.raises(ValueError, match="unique"):
        CallSigner(["x", "x"])
