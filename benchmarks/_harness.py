"""What every ``bench_*.py`` shares: contenders, interleaved timing, tables and machine info.

A benchmark builds :class:`Scenario` objects, each a few :class:`Contender` objects doing the
same work (plain Python first, as the floor), checks that they agree and times them with
:func:`time_scenario`, then prints :func:`as_text` tables and writes :func:`as_markdown`
ones into its report under the :func:`machine` facts.

The scripts import this module as ``_harness``: run as ``python benchmarks/bench_x.py``, the
script's folder is first on ``sys.path``.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import platform
import statistics
import sys
import time
import timeit
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ROOT",
    "Contender",
    "Scenario",
    "Target",
    "Timing",
    "as_markdown",
    "as_text",
    "chain_workload",
    "check_agreement",
    "cpu_model",
    "define_plain",
    "figures_parser",
    "machine",
    "make_module",
    "map_workload",
    "measure",
    "per_unit_us",
    "time_scenario",
    "timed",
    "timing_description",
    "version_of",
    "write_figures_report",
]

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, kw_only=True)
class Contender:
    """One tool's (or one setting's) way of doing a scenario's work.

    Attributes:
        tool: The tool's name.
        call: Does the work once; this is what is timed.
        result: Turns what `call` returned into plain values, to check that every tool agrees.
        how: How the tool is called, for the report.
        reset: Called before each repeat, outside the timing, to drop what earlier calls left
            behind (recorded spans, written progress lines); None when there is nothing to drop.
    """

    tool: str
    call: Callable[[], Any]
    result: Callable[[Any], Any]
    how: str
    reset: Callable[[], None] | None = None


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """Contenders doing the same work, `units` nodes (or map items) per call; plain Python first."""

    key: str
    title: str
    unit: str
    units: int
    contenders: tuple[Contender, ...]


@dataclass(frozen=True, kw_only=True)
class Timing:
    """Seconds per call of one contender: the median and the best of the repeats."""

    tool: str
    median: float
    best: float


def measure(contenders: Sequence[Contender], *, repeat: int, min_time: float) -> list[Timing]:
    """Time each contender timeit-style after a warm-up; return the median and best seconds per call.

    A repeat runs a contender's call enough times to last about `min_time`. The repeats are
    interleaved (one of each contender per round), so a burst of load from other processes
    slows every contender alike. As in ``timeit``, the garbage collector is off while timing.
    """
    timers = []
    for contender in contenders:
        contender.call()  # warm-up: plans, lazy imports and first-call caches of every tool
        _reset(contender)
        timer = timeit.Timer(contender.call)
        timers.append((timer, max(1, round(min_time / max(timer.timeit(1), 1e-9)))))
    samples: list[list[float]] = [[] for _ in contenders]
    for _ in range(repeat):
        for contender, (timer, number), runs in zip(contenders, timers, samples):
            _reset(contender)
            runs.append(timer.timeit(number) / number)
    for contender in contenders:
        _reset(contender)
    return [Timing(tool=c.tool, median=statistics.median(runs), best=min(runs)) for c, runs in zip(contenders, samples)]


def _reset(contender: Contender) -> None:
    if contender.reset is not None:
        contender.reset()


def check_agreement(scenario: Scenario) -> None:
    """Raise AssertionError unless every contender returns what the first (plain Python) returns."""
    expected = scenario.contenders[0].result(scenario.contenders[0].call())
    for contender in scenario.contenders[1:]:
        got = contender.result(contender.call())
        _reset(contender)
        if got != expected:
            raise AssertionError(f"{scenario.key}: {contender.tool} returned {got!r:.200}, not {expected!r:.200}")


def time_scenario(scenario: Scenario, *, repeat: int, min_time: float) -> list[Timing]:
    """Check that every contender agrees with plain Python, then time each."""
    check_agreement(scenario)
    return measure(scenario.contenders, repeat=repeat, min_time=min_time)


def timed(function: Callable[[], Any], repeat: int = 1) -> float:
    """Return the best wall time of `repeat` calls (the least disturbed by other processes)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def timing_description(repeat: int, min_time: float) -> str:
    """Say how :func:`measure` timed, for the printed header and the report."""
    return f"median and best of {repeat} interleaved repeats of about {min_time:g} s each, after a warm-up call"


def per_unit_us(seconds: float, scenario: Scenario) -> float:
    return seconds / scenario.units * 1e6


# -- node functions defined from source -------------------------------------------------------------


def make_module(name: str, source: str) -> types.ModuleType:
    """Define the node functions in `source` as module `name`: Hamilton builds its DAG from a module."""
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    sys.modules[name] = module  # Hamilton keeps the functions whose inspect.getmodule() is this module
    return module


def define_plain(module: types.ModuleType, source: str) -> Callable[..., Any]:
    """Define `plain`, the hand-written version of a scenario, next to the node functions it calls."""
    namespace = dict(module.__dict__)
    exec(compile(source, f"<{module.__name__}.plain>", "exec"), namespace)
    plain: Callable[..., Any] = namespace["plain"]
    return plain


# -- the workloads: the same node functions in every benchmark, so that their figures compare -------

MAP_SOURCE = """
def a(x: int) -> int:
    return x + 1

def b(a: int) -> int:
    return a * 2

def c(b: int) -> int:
    return b - 3
"""

PLAIN_MAP_SOURCE = """
def plain(xs):
    out_a, out_b, out_c = [], [], []
    for x in xs:
        va = a(x)
        vb = b(va)
        vc = c(vb)
        out_a.append(va)
        out_b.append(vb)
        out_c.append(vc)
    return {"a": out_a, "b": out_b, "c": out_c}
"""


def chain_workload(module_name: str, length: int) -> tuple[types.ModuleType, list[str], Callable[[int], Any]]:
    """Define the linear chain ``x -> c0 -> c1 -> ...``, `length` nodes that each add 1.

    Returns:
        The module holding the node functions, the node names in chain order, and ``plain(x)``:
        the same calls written by hand, returning the last node's value.
    """
    names = [f"c{i}" for i in range(length)]
    wiring = list(zip(names, ["x", *names[:-1]]))
    module = make_module(module_name, "\n".join(f"def {n}({p}: int) -> int:\n    return {p} + 1\n" for n, p in wiring))
    body = "".join(f"    {n} = {n}_({p})\n" for n, p in wiring)  # locals shadow the functions, hence the _ aliases
    aliases = "".join(f"{n}_ = {n}\n" for n in names)
    plain = define_plain(module, f"{aliases}def plain(x):\n{body}    return {names[-1]}\n")
    return module, names, plain


def map_workload(module_name: str) -> tuple[types.ModuleType, Callable[[list[int]], dict[str, list[int]]]]:
    """Define the 3-node chain ``x -> a -> b -> c`` to map over.

    Returns:
        The module holding ``a``, ``b`` and ``c``, and ``plain(xs)``: a ``for`` loop of direct
        calls returning all three outputs as per-item lists, as ``Pipeline.map`` does.
    """
    module = make_module(module_name, MAP_SOURCE)
    return module, define_plain(module, PLAIN_MAP_SOURCE)


# -- tables -----------------------------------------------------------------------------------------


def as_text(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def as_markdown(rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|---|" + "---:|" * (len(rows[0]) - 1))
    return "\n".join(lines)


@dataclass(frozen=True, kw_only=True)
class Target:
    """One of the issue's targets and HyperNodes' measured value; `at_most`: lower is better."""

    what: str
    goal: float
    value: float
    unit: str
    at_most: bool

    @property
    def met(self) -> bool:
        return self.value <= self.goal if self.at_most else self.value >= self.goal

    @property
    def verdict(self) -> str:
        margin = self.goal / self.value if self.at_most else self.value / self.goal
        if not self.met:
            return "NOT MET"
        return "met" if margin >= 1.1 else "met, within 10% of the goal"

    def describe(self) -> tuple[str, str]:
        """Return the goal and the measured value as text ("2.5 µs", but "3x")."""
        sign = "≤" if self.at_most else "≥"
        unit = self.unit if self.unit == "x" else f" {self.unit}"
        return f"{sign} {self.goal:,g}{unit}", f"{self.value:,.2f}{unit}"


# -- the machine ------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version_of(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine(distributions: Sequence[str]) -> list[tuple[str, str]]:
    """Return the date, CPU, OS, Python and the versions of `distributions`, as (name, value) pairs."""
    return [
        ("date", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", f"{cpu_model()}, {os.cpu_count()} logical CPUs"),
        ("OS", platform.platform()),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        *[(dist, version_of(dist)) for dist in distributions],
    ]


# -- scripts that print rows of (workload, figure) --------------------------------------------------


def figures_parser(doc: str) -> argparse.ArgumentParser:
    """Return the arguments of a script printing rows of figures: ``--quick`` and ``--no-report``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="less work: a smoke run, figures are not meaningful")
    parser.add_argument("--no-report", action="store_true", help="print only; do not write the markdown report")
    return parser


def write_figures_report(
    path: Path, *, title: str, intro: str, rows: Sequence[tuple[str, str]], distributions: Sequence[str], tail: str
) -> None:
    """Write a report: `title`, `intro`, the machine facts, the rows as a table, then `tail`."""
    facts = as_markdown([("fact", "value"), *machine(distributions)])
    figures = as_markdown([("workload", "figure (same run)"), *rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"# {title}\n\n{intro}\n\n## Machine\n\n{facts}\n\n## Figures\n\n{figures}\n\n{tail}\n", encoding="utf-8"
    )
