"""Module-level nodes used by the behaviour suite (importable by worker processes)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from hypernodes.graph.node import node

__all__ = [
    "add",
    "async_add_one",
    "async_slow",
    "clean",
    "count",
    "double",
    "explode",
    "fail_while_marked",
    "flaky",
    "increment",
    "logged_none",
    "logged_shift",
    "logged_square",
    "record_call",
    "slow",
    "square",
    "total",
    "uncached_stamp",
]


def record_call(log: str | os.PathLike[str], tag: str) -> None:
    """Append `tag` to the file `log` (how tests count calls across processes)."""
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(tag + "\n")


def read_calls(log: str | os.PathLike[str]) -> list[str]:
    """Return the tags recorded in `log`, in order."""
    path = Path(log)
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@node(output_name="clean")
def clean(text: str) -> str:
    """Lower-case and strip a text."""
    return text.strip().lower()


@node(output_name=("n_words", "n_chars"))
def count(clean: str, lower: bool = True) -> tuple[int, int]:
    """Count words and characters."""
    text = clean.lower() if lower else clean
    return len(text.split()), len(text)


@node(output_name="doubled")
def double(x: int) -> int:
    """Double a number."""
    return 2 * x


@node(output_name="squared")
def square(x: int) -> int:
    """Square a number."""
    return x * x


@node(output_name="sum")
def add(doubled: int, squared: int) -> int:
    """Add the two branches of a diamond."""
    return doubled + squared


@node(output_name="total")
def total(values: list[int]) -> int:
    """Sum a list."""
    return sum(values)


@node(output_name="y")
def increment(x: int, step: int = 1) -> int:
    """Add `step` to `x`."""
    return x + step


@node(output_name="boom")
def explode(x: int) -> int:
    """Raise ValueError for x == 2 (and only then)."""
    if x == 2:
        raise ValueError(f"cannot handle x={x}")
    return x


@node(output_name="y")
async def async_add_one(x: int) -> int:
    """Add one, asynchronously."""
    await asyncio.sleep(0)
    return x + 1


@node(output_name="y")
def slow(x: int, seconds: float = 5.0) -> int:
    """Sleep, then return `x`."""
    time.sleep(seconds)
    return x


@node(output_name="y")
async def async_slow(x: int, seconds: float = 5.0) -> int:
    """Sleep asynchronously, then return `x`."""
    await asyncio.sleep(seconds)
    return x


@node(output_name="y")
def flaky(x: int, log: str, failures: int) -> int:
    """Fail the first `failures` calls for this `x` (counted in the file `log`), then succeed."""
    calls = sum(1 for tag in read_calls(log) if tag == f"flaky-{x}")
    record_call(log, f"flaky-{x}")
    if calls < failures:
        raise ConnectionError(f"transient failure {calls + 1} for x={x}")
    return x


@node(output_name="squared")
def logged_square(x: int, log: str) -> int:
    """Square `x`, recording the call."""
    record_call(log, f"square-{x}")
    return x * x


@node(output_name="shifted")
def logged_shift(squared: int, log: str) -> int:
    """Add one to `squared`, recording the call."""
    record_call(log, f"shift-{squared}")
    return squared + 1


@node(output_name="stamp", cache=False)
def uncached_stamp(x: int, log: str) -> int:
    """A node that opts out of caching, recording each call."""
    record_call(log, f"stamp-{x}")
    return x


@node(output_name="checked")
def fail_while_marked(x: int, log: str, marker: str) -> int:
    """Fail for x == 3 while the file `marker` exists; record each successful call."""
    if x == 3 and os.path.exists(marker):
        raise RuntimeError("simulated crash at item 3")
    record_call(log, f"checked-{x}")
    return x


@node(output_name="nothing")
def logged_none(x: int, log: str) -> None:
    """Return None, recording the call."""
    record_call(log, f"none-{x}")


@node(output_name="tmp")
def logged_tmp_a(x: int, log: str) -> int:
    """An intermediate called `tmp` (first of two pipelines that both have one)."""
    record_call(log, f"tmp-a-{x}")
    return x + 1


@node(output_name="tmp")
def logged_tmp_b(x: int, log: str) -> int:
    """An intermediate called `tmp` (second of two pipelines that both have one)."""
    record_call(log, f"tmp-b-{x}")
    return x * 10


@node(output_name="out")
def from_tmp(tmp: int) -> int:
    """Read the pipeline's private `tmp`."""
    return tmp + 100


@node(output_name="side")
def logged_side(tmp: int, log: str) -> int:
    """An output nobody exposes: it must not run when its pipeline's outputs are mapped away."""
    record_call(log, f"side-{tmp}")
    return tmp


@node(output_name="y")
def scaled(x: int, factor: int) -> int:
    """Multiply `x` by `factor` (bind `factor` once, map over `x`)."""
    return x * factor


@node(output_name="y")
def fail_on_three(x: int, log: str) -> int:
    """Fail for x == 3, record every call."""
    record_call(log, f"call-{x}")
    if x == 3:
        raise ValueError("item three is broken")
    return x * 2


@node(output_name="y")
def type_error_once(x: int, log: str) -> int:
    """Raise a TypeError (a bug, never worth a retry), recording each call."""
    record_call(log, f"bug-{x}")
    raise TypeError(f"bug for x={x}")
