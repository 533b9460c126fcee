"""Edits made in the same process (a notebook) invalidate a node's cache, and only those do.

Each test defines its code in a module made from a file (as an imported module or a notebook's
``__main__`` would be), runs it cached, changes something in place the way a notebook cell
would (``exec`` of a redefinition into the module's namespace, an assignment, a mutation),
and runs again: the node must be recomputed, and an unchanged node must not be.
"""

from __future__ import annotations

import importlib.util
import textwrap
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from hypernodes import MemoryCache, Pipeline, RuntimeConfig, node
from hypernodes.cache import _freshness, signature
from hypernodes.cache.signature import fingerprint_code
from hypernodes.executor.inline import InlineExecutor
from hypernodes.testing.recording import RecordingCallback

Loader = Callable[[str, str], types.ModuleType]  # the `load` fixture of conftest.py


def test_all_is_pinned() -> None:
    assert _freshness.__all__ == ["ABSENT", "CodeFingerprint", "Recorder", "UnknownCode"]




def cell(module: types.ModuleType, source: str) -> None:
    """Run `source` in `module`'s namespace, as a notebook cell runs in ``__main__``."""
    exec(textwrap.dedent(source), vars(module))


class Runner:
    """A one-node pipeline over `module.node_fn`, cached in memory; records which calls ran."""

    def __init__(self, module: types.ModuleType) -> None:
        self.cache = MemoryCache()
        self.recorder = RecordingCallback()
        self.pipeline = Pipeline(nodes=[node(module.node_fn, output_name="y")], name="notebook")

    def run(self, x: int = 2) -> object:
        config = RuntimeConfig(executor=InlineExecutor(), cache=self.cache, callbacks=[self.recorder])
        return self.pipeline.run(inputs={"x": x}, config=config)["y"]

    @property
    def computed(self) -> int:
        return len(self.recorder.hooks("on_node_start"))


NOTEBOOK = """
    THRESHOLD = 0.5
    SETTINGS = {"scale": 2}

    def inner(x):
        return x + 1

    def helper(x):
        return inner(x) * SETTINGS["scale"]

    def node_fn(x):
        return (helper(x), x > THRESHOLD)
"""


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ("def helper(x):\n    return inner(x) * 100\n", (300, True)),
        ("THRESHOLD = 9\n", (6, False)),
        ('SETTINGS["scale"] = 10\n', (30, True)),
        ("def inner(x):\n    return x - 1\n", (2, True)),
    ],
    ids=["helper redefined", "global rebound", "dict mutated", "nested helper redefined"],
)
def test_an_edit_in_the_same_process_invalidates_the_node(load: Loader, edit: str, expected: object) -> None:
    module = load("notebook_a", NOTEBOOK)
    runner = Runner(module)
    assert runner.run() == (6, True)
    cell(module, edit)
    assert runner.run() == expected  # computed again, not the stale (6, True)
    assert (runner.computed, runner.cache.count()) == (2, 2)  # under a new signature


def test_an_unchanged_node_is_served_from_the_cache_and_not_re_hashed(
    load: Loader, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[object] = []
    real = signature.source_digest
    monkeypatch.setattr(signature, "source_digest", lambda obj: reads.append(obj) or real(obj))
    module = load("notebook_b", NOTEBOOK)
    runner = Runner(module)
    calls_before = len(reads)
    runner.run()
    assert len(reads) > calls_before  # the first run fingerprints the node and its helpers
    first_walk = len(reads)
    for _ in range(5):
        assert runner.run() == (6, True)
    assert len(reads) == first_walk  # checked five times, walked never again
    assert runner.computed == 1  # and served from the cache
    cell(module, 'SETTINGS["scale"] = 3\n')
    runner.run()
    assert len(reads) > first_walk  # a change is walked again


def test_unrelated_edits_keep_the_fingerprint_current(load: Loader) -> None:
    module = load("notebook_c", textwrap.dedent(NOTEBOOK) + "\nOTHER = 1\n\ndef unrelated():\n    return 1\n")
    fingerprint = fingerprint_code(module.node_fn)
    cell(module, "OTHER = 2\n\ndef unrelated():\n    return 2\n\nNEW_NAME = 3\n")
    assert fingerprint.is_current()
    cell(module, 'SETTINGS["scale"] = 2\n')  # the same content again
    assert fingerprint.is_current()


@pytest.mark.parametrize(
    "edit",
    [
        "Tokenizer.split = lambda self, text: text.split(',')\n",  # a method monkeypatched
        "Tokenizer.extra = 1\n",  # a member added to a class
        "TABLE.append(4)\n",  # a list mutated
        "MARK = 'different'\n",  # a global that was not bound yet
        "node_fn.__defaults__ = (3,)\n",  # a default replaced
    ],
    ids=["method", "class member", "list", "unbound global", "default"],
)
def test_other_edits_in_place_make_the_fingerprint_stale(load: Loader, edit: str) -> None:
    module = load(
        "notebook_d",
        """
        TABLE = [1, 2, 3]

        class Tokenizer:
            def split(self, text):
                return text.split()

        def node_fn(x, scale=2):
            if x < 0:
                return MARK
            return Tokenizer().split("a b"), TABLE[0] * scale + x
        """,
    )
    fingerprint = fingerprint_code(module.node_fn)
    assert fingerprint.is_current()
    cell(module, edit)
    assert not fingerprint.is_current()
    assert fingerprint_code(module.node_fn).digest != fingerprint.digest


def test_a_closure_cell_that_changes_makes_the_fingerprint_stale() -> None:
    factor = 2

    def scaled(x: int) -> int:
        return x * factor

    fingerprint = fingerprint_code(scaled)
    assert fingerprint.is_current()
    factor = 3
    assert not fingerprint.is_current()
    assert scaled(1) == factor


def test_a_module_imported_inside_the_node_is_checked_by_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, load: Loader
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    dependency = tmp_path / "local_dep_fresh.py"
    dependency.write_text("def work(x):\n    return x\n")
    importlib.invalidate_caches()
    module = load("notebook_e", "def node_fn(x):\n    import local_dep_fresh\n    return local_dep_fresh.work(x)\n")
    fingerprint = fingerprint_code(module.node_fn)
    assert fingerprint.is_current()
    dependency.write_text("def work(x):\n    return x * 2  # edited\n")
    assert not fingerprint.is_current()


def test_a_node_whose_global_could_not_be_hashed_is_cached_once_the_global_is_fixed(load: Loader) -> None:
    module = load(
        "notebook_f",
        """
        class Client:
            def __init__(self):
                self._session = object()

        client = Client()

        def node_fn(x):
            return (x, client is not None)
        """,
    )
    runner = Runner(module)
    with pytest.warns(RuntimeWarning, match="cannot be hashed"):
        assert runner.run() == (2, True)
    assert runner.cache.count() == 0
    cell(module, "client = 'a plain string'\n")
    assert runner.run() == (2, True)
    assert runner.cache.count() == 1


def test_a_helper_that_now_holds_an_unseen_function_makes_a_container_stale(load: Loader) -> None:
    module = load(
        "notebook_g",
        """
        def first(x):
            return x

        HANDLERS = {"f": first}

        def node_fn(x):
            return HANDLERS["f"](x)
        """,
    )
    fingerprint = fingerprint_code(module.node_fn)
    assert fingerprint.is_current()
    cell(module, "def second(x):\n    return -x\n\nHANDLERS['f'] = second\n")
    assert not fingerprint.is_current()


def test_node_refresh_code_hash_forgets_a_stale_hash_only(load: Loader) -> None:
    module = load("notebook_h", NOTEBOOK)
    fn_node = node(module.node_fn, output_name="y")
    assert fn_node.refresh_code_hash() is False  # never computed: nothing to check
    before = fn_node.code_hash
    assert fn_node.refresh_code_hash() is False
    assert fn_node.code_hash == before
    cell(module, "THRESHOLD = 1\n")
    assert fn_node.refresh_code_hash() is True
    assert fn_node.code_hash != before


def test_nested_pipelines_nodes_are_refreshed_by_the_outer_run(load: Loader) -> None:
    module = load("notebook_i", NOTEBOOK)
    inner = Pipeline(nodes=[node(module.node_fn, output_name="y")], name="inner")
    outer = Pipeline(nodes=[inner.as_node(map_over="x", name="per_x")], name="outer")
    config = RuntimeConfig(executor=InlineExecutor(), cache=MemoryCache())
    assert outer.run(inputs={"x": [1, 2]}, config=config) == {"y": [(4, True), (6, True)]}
    cell(module, "THRESHOLD = 1.5\n")
    assert outer.run(inputs={"x": [1, 2]}, config=config) == {"y": [(4, False), (6, True)]}


def test_a_node_that_changes_a_value_it_reads_does_not_invalidate_itself(load: Loader) -> None:
    module = load(
        "notebook_j",
        """
        SEEN = []

        def node_fn(x):
            SEEN.append(x)
            return x * 2
        """,
    )
    runner = Runner(module)
    assert runner.run() == runner.run() == 4
    assert runner.computed == 1  # the append of the first run is the run's own doing
    cell(module, "SEEN.clear()\nSEEN.append('edited')\n")  # an edit between runs
    assert runner.run() == 4
    assert runner.computed == 2


def test_a_helper_of_the_batch_form_redefined_makes_the_node_stale(load: Loader) -> None:
    module = load(
        "notebook_k",
        """
        def scale():
            return 2

        def node_fn(x):
            return x * 2

        def node_batch(x):
            return [v * scale() for v in x]
        """,
    )
    both = node(module.node_fn, output_name="y").with_batch(module.node_batch)
    before = both.code_hash
    assert both.refresh_code_hash() is False
    cell(module, "def scale():\n    return 3\n")
    assert both.refresh_code_hash() is True
    assert both.code_hash != before
