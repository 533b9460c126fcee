"""Every Python block of README.md and docs/ runs, and prints what the ``text`` block after it shows.

The blocks of one file run in order in one namespace (later blocks use what earlier ones
defined), in a fresh temporary working directory. A ``text`` block right after a Python block
is its expected output (compared line by line, trailing spaces ignored; ``...`` alone on a line
stands for any number of lines, and within a line for any text).

Mark a block that is not meant to run with an HTML comment on the line before it:
``<!-- fragment -->`` (an excerpt that needs context the page describes in words). A block
whose engine is not installed here (Daft, Dask, Ray, Spark, Modal, graphviz's ``dot``) is
skipped with the reason; the engine's own nox session runs its docs.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
ENGINES = ("daft", "dask", "distributed", "ray", "pyspark", "modal", "graphviz")

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    code: str
    expected: str | None
    fragment: bool


def _blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    fences = list(_FENCE.finditer(text))
    blocks: list[Block] = []
    for i, fence in enumerate(fences):
        if fence.group(1) != "python":
            continue
        before = text[: fence.start()].rstrip().splitlines()
        fragment = bool(before) and before[-1].strip() == "<!-- fragment -->"
        expected = None
        if i + 1 < len(fences) and fences[i + 1].group(1) == "text":
            between = text[fence.end() : fences[i + 1].start()]
            if not between.strip():
                expected = fences[i + 1].group(2)
        line = text.count("\n", 0, fence.start()) + 1
        blocks.append(Block(page, line, fence.group(2), expected, fragment))
    return blocks


def _matches(expected: str, got: str) -> bool:
    want = [line.rstrip() for line in expected.strip("\n").splitlines()]
    have = [line.rstrip() for line in got.strip("\n").splitlines()]
    return _match_lines(want, have)


def _match_lines(want: list[str], have: list[str]) -> bool:
    if not want:
        return not have
    head, *rest = want
    if head == "...":
        return any(_match_lines(rest, have[k:]) for k in range(len(have) + 1))
    if not have:
        return False
    pattern = ".*".join(re.escape(part) for part in head.split("..."))
    return re.fullmatch(pattern, have[0]) is not None and _match_lines(rest, have[1:])


@contextlib.contextmanager
def _in_directory(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _has_executors() -> bool:
    """Whether hypernodes-executors is installed (the library default executor is then its thread pool)."""
    try:
        importlib.metadata.distribution("hypernodes-executors")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


PAGES_WITH_CODE = [page for page in PAGES if _blocks(page)]


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=[str(p.relative_to(ROOT)) for p in PAGES_WITH_CODE])
def test_every_python_block_runs_and_prints_what_the_page_shows(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "examples"))  # pages may import the examples
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in _blocks(page):
        if block.fragment:
            continue
        where = f"{page.relative_to(ROOT)}:{block.line}"
        out = io.StringIO()
        try:
            with _in_directory(tmp_path), contextlib.redirect_stdout(out):
                exec(compile(block.code, where, "exec"), namespace)
        except ImportError as exc:
            missing = exc.name or ""
            sibling = missing.startswith("hypernodes.") and missing.split(".")[1] in ("daft", "modal", "distributed")
            if missing.partition(".")[0] in ENGINES or sibling or "hypernodes-" in str(exc):
                pytest.skip(f"{where} needs an engine that is not installed here: {exc}")
            raise
        except Exception as exc:
            if "dot" in str(exc) and shutil.which("dot") is None:
                pytest.skip(f"{where} needs graphviz's dot program: {exc}")
            raise AssertionError(f"{where} raised {type(exc).__name__}: {exc}") from exc
        if block.expected is not None:
            if "ThreadPoolExecutor(max_workers=4)" in block.expected and not _has_executors():
                continue  # it shows the default executor of hypernodes-executors, not installed here
            assert _matches(block.expected, out.getvalue()), (
                f"{where} printed:\n{out.getvalue()}\nbut the page shows:\n{block.expected}"
            )


def test_the_matcher_understands_ellipses() -> None:
    assert _matches("a\n...\nd", "a\nb\nc\nd")
    assert _matches("{'x': ...", "{'x': 1, 'y': 2}")
    assert _matches("executor=..., retries=2", "executor=ThreadPoolExecutor(max_workers=4), retries=2")
    assert not _matches("a\nb", "a\nc")
