"""Measure the engine's overhead per node and per item, next to plain Python, pipefunc and Hamilton.

Three scenarios, each run sequentially in one process, without cache, callbacks or profiling
on any tool. Every node does trivial integer work, so the time measured is the tool's own:

- ``chain``: ``run`` of a 10-node linear chain ``x -> c0 -> c1 -> ... -> c9``, per node.
- ``wide``: ``run`` of a 50-node-wide DAG: ``w0 ... w49`` each read the input ``x`` and one
  node, ``total``, gathers all 50 (51 nodes; per node = per run / 51).
- ``map``: ``map`` of the 3-node chain ``x -> a -> b -> c`` over 10,000 items, per item.

Every tool returns the same values (checked before timing): the final node's output for a
run, and all three outputs as per-item sequences for a map.

Run it from the repository root::

    uv run --group bench python benchmarks/bench_core.py          # full run, writes docs/benchmarks/core.md
    uv run --group bench python benchmarks/bench_core.py --quick  # smoke run in a few seconds, no report
    uv run --group bench python benchmarks/bench_core.py --profile map  # where HyperNodes' time goes

Without the ``bench`` group the peers are skipped and only HyperNodes and plain Python run.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import importlib.metadata
import importlib.util
import io
import os
import platform
import pstats
import shlex
import statistics
import sys
import timeit
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REPORT = ROOT / "docs" / "benchmarks" / "core.md"
COMMAND = "uv run --group bench python benchmarks/bench_core.py"

CHAIN_LENGTH = 10
WIDTH = 50
MAP_ITEMS = 10_000
QUICK_MAP_ITEMS = 1_000

# The targets for HyperNodes, sequential, without cache or callbacks.
TARGET_RUN_US_PER_NODE = 2.5
TARGET_RUN_SPEEDUP_VS_PIPEFUNC = 3.0
TARGET_MAP_US_PER_ITEM = 10.0

PLAIN, HYPERNODES, PIPEFUNC, HAMILTON = "plain Python", "hypernodes", "pipefunc", "hamilton"
PEER_DISTRIBUTIONS = {PIPEFUNC: ("pipefunc", "pipefunc"), HAMILTON: ("hamilton", "apache-hamilton")}


# -- what is measured --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Contender:
    """One tool's way of doing a scenario's work.

    Attributes:
        tool: The tool's name.
        call: Does the work once; this is what is timed.
        result: Turns what `call` returned into plain values, to check every tool agrees.
        note: How the tool is called, for the report.
    """

    tool: str
    call: Callable[[], Any]
    result: Callable[[Any], Any]
    note: str


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """Contenders doing the same work; `units` nodes (or items) per call."""

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
    repeats: int
    number: int


def measure(call: Callable[[], Any], *, repeat: int, min_time: float) -> tuple[float, float, int, int]:
    """Time `call` timeit-style after a warm-up; return (median, best) seconds per call, repeats, number.

    Each repeat runs `call` `number` times, with `number` chosen so that a repeat lasts about
    `min_time`. As in ``timeit``, the garbage collector is off while timing.
    """
    call()  # warm-up: plans, lazy imports, first-call caches of every tool
    timer = timeit.Timer(call)
    single = timer.timeit(1)
    number = max(1, round(min_time / max(single, 1e-9)))
    if single > 1.0:
        repeat = min(repeat, 3)  # a call this slow is stable; spare the wall clock
    runs = [seconds / number for seconds in timer.repeat(repeat, number)]
    return statistics.median(runs), min(runs), repeat, number


# -- building the scenarios ----------------------------------------------------------------------


def make_module(name: str, source: str) -> types.ModuleType:
    """Define the node functions in `source` as module `name` (Hamilton builds its DAG from a module)."""
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    sys.modules[name] = module  # Hamilton keeps functions whose inspect.getmodule() is this module
    return module


def define_plain(module: types.ModuleType, source: str, name: str) -> Callable[..., Any]:
    """Define the hand-written version of the scenario next to the node functions it calls."""
    namespace = dict(module.__dict__)
    exec(compile(source, f"<{module.__name__}.{name}>", "exec"), namespace)
    function: Callable[..., Any] = namespace[name]
    return function


def node_functions(module: types.ModuleType, names: Sequence[str]) -> list[Callable[..., Any]]:
    return [getattr(module, name) for name in names]


def hypernodes_run(functions: Sequence[Callable[..., Any]], final: str) -> Contender:
    from hypernodes import InlineExecutor, Pipeline, RuntimeConfig, node

    pipeline = Pipeline(nodes=[node(f) for f in functions], name="bench")
    config = RuntimeConfig(executor=InlineExecutor())
    inputs = {"x": 1}
    return Contender(
        tool=HYPERNODES,
        call=lambda: pipeline.run(inputs=inputs, output_name=final, config=config),
        result=lambda out: out[final],
        note=f'`pipeline.run(inputs={{"x": 1}}, output_name="{final}", config=RuntimeConfig(executor=InlineExecutor()))`',
    )


def pipefunc_run(functions: Sequence[Callable[..., Any]], final: str) -> Contender:
    from pipefunc import PipeFunc, Pipeline

    # PipeFunc defaults: cache=False, profile=False, debug=False; the pipeline has no cache.
    pipeline = Pipeline([PipeFunc(f, output_name=f.__name__) for f in functions])
    kwargs = {"x": 1}
    return Contender(
        tool=PIPEFUNC,
        call=lambda: pipeline.run(final, kwargs=kwargs),
        result=lambda out: out,
        note=f'`pipeline.run("{final}", kwargs={{"x": 1}})` (what `pipeline("{final}", x=1)` calls)',
    )


def hamilton_run(module: types.ModuleType, final: str) -> Contender:
    from hamilton import driver

    dr = driver.Builder().with_modules(module).build()  # default adapter: returns a dict
    final_vars = [final]
    inputs = {"x": 1}
    return Contender(
        tool=HAMILTON,
        call=lambda: dr.execute(final_vars=final_vars, inputs=inputs),
        result=lambda out: out[final],
        note=f'`driver.Builder().with_modules(module).build().execute(final_vars=["{final}"], inputs={{"x": 1}})`',
    )


def run_contenders(
    module: types.ModuleType, names: Sequence[str], final: str, plain: Callable[[int], Any], tools: Sequence[str]
) -> tuple[Contender, ...]:
    functions = node_functions(module, names)
    contenders = [
        Contender(tool=PLAIN, call=lambda: plain(1), result=lambda out: out, note="direct calls, no framework"),
        hypernodes_run(functions, final),
    ]
    if PIPEFUNC in tools:
        contenders.append(pipefunc_run(functions, final))
    if HAMILTON in tools:
        contenders.append(hamilton_run(module, final))
    return tuple(contenders)


def chain_scenario(tools: Sequence[str]) -> Scenario:
    names = [f"c{i}" for i in range(CHAIN_LENGTH)]
    parents = ["x", *names[:-1]]
    module = make_module(
        "bench_chain",
        "\n".join(f"def {n}({p}: int) -> int:\n    return {p} + 1\n" for n, p in zip(names, parents)),
    )
    body = "".join(f"    {n} = {n}_({p})\n" for n, p in zip(names, parents))
    plain = define_plain(
        module,
        "\n".join(f"{n}_ = {n}" for n in names) + f"\ndef plain(x):\n{body}    return {names[-1]}\n",
        "plain",
    )
    return Scenario(
        key="chain",
        title=f"`run` of a {CHAIN_LENGTH}-node linear chain",
        unit="node",
        units=CHAIN_LENGTH,
        contenders=run_contenders(module, names, names[-1], plain, tools),
    )


def wide_scenario(tools: Sequence[str]) -> Scenario:
    names = [f"w{i}" for i in range(WIDTH)]
    module = make_module(
        "bench_wide",
        "\n".join(f"def {n}(x: int) -> int:\n    return x + {i}\n" for i, n in enumerate(names))
        + f"\ndef total({', '.join(f'{n}: int' for n in names)}) -> int:\n    return {' + '.join(names)}\n",
    )
    plain = define_plain(module, f"def plain(x):\n    return total({', '.join(f'{n}(x)' for n in names)})\n", "plain")
    return Scenario(
        key="wide",
        title=f"`run` of a {WIDTH}-node-wide DAG ({WIDTH} nodes reading `x`, 1 node gathering them)",
        unit="node",
        units=WIDTH + 1,
        contenders=run_contenders(module, [*names, "total"], "total", plain, tools),
    )


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


def map_scenario(tools: Sequence[str], items: int) -> Scenario:
    module = make_module("bench_map", MAP_SOURCE)
    functions = node_functions(module, ["a", "b", "c"])
    plain = define_plain(module, PLAIN_MAP_SOURCE, "plain")
    xs = list(range(items))
    contenders = [
        Contender(tool=PLAIN, call=lambda: plain(xs), result=lambda out: out, note="a `for` loop of direct calls"),
        hypernodes_map(functions, xs),
    ]
    if PIPEFUNC in tools:
        contenders.append(pipefunc_map(functions, xs))
    if HAMILTON in tools:
        contenders.append(hamilton_map(module, xs))
    return Scenario(
        key="map",
        title=f"`map` of a 3-node chain over {items:,} items",
        unit="item",
        units=items,
        contenders=tuple(contenders),
    )


def hypernodes_map(functions: Sequence[Callable[..., Any]], xs: list[int]) -> Contender:
    from hypernodes import InlineExecutor, Pipeline, RuntimeConfig, node

    pipeline = Pipeline(nodes=[node(f) for f in functions], name="bench")
    config = RuntimeConfig(executor=InlineExecutor())
    inputs = {"x": xs}
    return Contender(
        tool=HYPERNODES,
        call=lambda: pipeline.map(inputs=inputs, map_over="x", config=config),
        result=lambda out: out,
        note='`pipeline.map(inputs={"x": xs}, map_over="x", config=RuntimeConfig(executor=InlineExecutor()))`',
    )


def pipefunc_map(functions: Sequence[Callable[..., Any]], xs: list[int]) -> Contender:
    from pipefunc import PipeFunc, Pipeline

    parents = {"a": "x", "b": "a", "c": "b"}
    pipeline = Pipeline(
        [PipeFunc(f, output_name=f.__name__, mapspec=f"{parents[f.__name__]}[i] -> {f.__name__}[i]") for f in functions]
    )
    inputs = {"x": xs}
    return Contender(
        tool=PIPEFUNC,
        call=lambda: pipeline.map(inputs, parallel=False, storage="dict", show_progress=False),
        result=lambda out: {name: list(out[name].output) for name in ("a", "b", "c")},
        note='`pipeline.map({"x": xs}, parallel=False, storage="dict", show_progress=False)`, mapspecs `x[i] -> a[i]` ...',
    )


def hamilton_map(module: types.ModuleType, xs: list[int]) -> Contender:
    from hamilton import driver

    dr = driver.Builder().with_modules(module).build()
    final_vars = ["a", "b", "c"]

    def loop() -> dict[str, list[Any]]:
        # Hamilton has no map: one execute per item, collected into lists like the others return.
        results = [dr.execute(final_vars=final_vars, inputs={"x": x}) for x in xs]
        return {name: [result[name] for result in results] for name in final_vars}

    return Contender(
        tool=HAMILTON,
        call=loop,
        result=lambda out: out,
        note='no `map`: a loop of `dr.execute(final_vars=["a", "b", "c"], inputs={"x": x})`, one per item',
    )


# -- running and reporting --------------------------------------------------------------------------


def check(scenario: Scenario) -> None:
    """Fail unless every contender returns what plain Python returns."""
    expected = scenario.contenders[0].result(scenario.contenders[0].call())
    for contender in scenario.contenders[1:]:
        got = contender.result(contender.call())
        if got != expected:
            raise AssertionError(f"{scenario.key}: {contender.tool} returned {got!r:.200}, expected {expected!r:.200}")


def time_scenario(scenario: Scenario, *, repeat: int, min_time: float) -> list[Timing]:
    check(scenario)
    timings = []
    for contender in scenario.contenders:
        median, best, repeats, number = measure(contender.call, repeat=repeat, min_time=min_time)
        timings.append(Timing(tool=contender.tool, median=median, best=best, repeats=repeats, number=number))
    return timings


def us_per_unit(seconds: float, scenario: Scenario) -> float:
    return seconds / scenario.units * 1e6


def table_rows(scenario: Scenario, timings: Sequence[Timing]) -> list[tuple[str, ...]]:
    by_tool = {t.tool: t for t in timings}
    plain, ours = by_tool[PLAIN].median, by_tool[HYPERNODES].median
    rows = []
    for t in timings:
        rows.append(
            (
                t.tool,
                f"{us_per_unit(t.median, scenario):.3f}",
                f"{us_per_unit(t.best, scenario):.3f}",
                "-" if t.tool == PLAIN else f"{us_per_unit(t.median - plain, scenario):.3f}",
                f"{t.median / plain:.1f}x",
                f"{t.median / ours:.2f}x",
            )
        )
    return rows


def headers(scenario: Scenario) -> tuple[str, ...]:
    unit = scenario.unit
    return ("tool", f"us/{unit} (median)", f"us/{unit} (best)", f"overhead us/{unit}", "vs plain", "vs hypernodes")


def format_text_table(scenario: Scenario, timings: Sequence[Timing]) -> str:
    lines = [headers(scenario), *table_rows(scenario, timings)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    text = [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
        for line in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def format_markdown_table(scenario: Scenario, timings: Sequence[Timing]) -> str:
    lines = [headers(scenario), *table_rows(scenario, timings)]
    out = ["| " + " | ".join(lines[0]) + " |", "|" + "|".join(["---"] + ["---:"] * (len(lines[0]) - 1)) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in lines[1:]]
    return "\n".join(out)


@dataclass(frozen=True, kw_only=True)
class Target:
    what: str
    goal: str
    measured: str
    met: bool


def targets(results: dict[str, tuple[Scenario, list[Timing]]]) -> list[Target]:
    """Judge HyperNodes' median time against the issue's targets (the node work is included)."""
    checked = []
    for key in ("chain", "wide"):
        if key not in results:
            continue
        scenario, timings = results[key]
        by_tool = {t.tool: t for t in timings}
        per_node = us_per_unit(by_tool[HYPERNODES].median, scenario)
        checked.append(
            Target(
                what=f"{key}: `run` per node",
                goal=f"<= {TARGET_RUN_US_PER_NODE} us",
                measured=f"{per_node:.2f} us",
                met=per_node <= TARGET_RUN_US_PER_NODE,
            )
        )
        if PIPEFUNC in by_tool:
            speedup = by_tool[PIPEFUNC].median / by_tool[HYPERNODES].median
            checked.append(
                Target(
                    what=f"{key}: `run` vs pipefunc",
                    goal=f">= {TARGET_RUN_SPEEDUP_VS_PIPEFUNC:g}x faster",
                    measured=f"{speedup:.1f}x faster",
                    met=speedup >= TARGET_RUN_SPEEDUP_VS_PIPEFUNC,
                )
            )
    if "map" in results:
        scenario, timings = results["map"]
        per_item = us_per_unit({t.tool: t for t in timings}[HYPERNODES].median, scenario)
        checked.append(
            Target(
                what="map: 3-node `map` per item",
                goal=f"<= {TARGET_MAP_US_PER_ITEM:g} us",
                measured=f"{per_item:.2f} us",
                met=per_item <= TARGET_MAP_US_PER_ITEM,
            )
        )
    return checked


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


def environment() -> list[tuple[str, str]]:
    return [
        ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", f"{cpu_model()} ({os.cpu_count()} logical CPUs)"),
        ("OS", platform.platform()),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("hypernodes-core", version_of("hypernodes-core")),
        ("pipefunc", version_of("pipefunc")),
        ("apache-hamilton", version_of("apache-hamilton")),
    ]


def command_line(argv: Sequence[str]) -> str:
    return COMMAND + ("" if not argv else " " + shlex.join(argv))


def write_report(
    path: Path,
    results: dict[str, tuple[Scenario, list[Timing]]],
    argv: Sequence[str],
    settings: str,
) -> None:
    lines = [
        "# Core engine overhead",
        "",
        "How much time HyperNodes adds around each node call (`run`) and each map item (`map`),",
        "next to the same work written as plain Python (the limit) and done with",
        "[pipefunc](https://github.com/pipefunc/pipefunc) and [Apache Hamilton](https://github.com/apache/hamilton).",
        "Every node does trivial integer work, so the figures are each tool's own cost.",
        "Everything runs sequentially in one process, without cache, callbacks or profiling.",
        "",
        "This file is written by `benchmarks/bench_core.py`; rerun it rather than editing the figures.",
        "",
        "## Machine and command",
        "",
        *[f"- **{name}**: {value}" for name, value in environment()],
        f"- **command**: `{command_line(argv)}`",
        f"- **timing**: {settings}",
        "",
        "## Targets",
        "",
        "| target | goal | measured | |",
        "|---|---|---|---|",
        *[f"| {t.what} | {t.goal} | {t.measured} | {'met' if t.met else '**not met**'} |" for t in targets(results)],
        "",
        "Targets are judged on HyperNodes' median time per node (or item), node work included.",
        "",
    ]
    for scenario, timings in results.values():
        lines += [f"## {scenario.key}: {scenario.title}", "", format_markdown_table(scenario, timings), ""]
        lines += [f"- **{c.tool}**: {c.note}" for c in scenario.contenders]
        lines.append("")
    lines += [
        "## How to read this",
        "",
        "- *us/node (median)*: the median over the repeats of one call's time, divided by the number of",
        "  nodes in the DAG (chain: 10; wide: 51) or of map items. *best* is the fastest repeat.",
        "- *overhead*: the tool's time minus plain Python's, per node or item: what the tool adds.",
        "- *vs plain*: how many times plain Python's time; *vs hypernodes*: how many times HyperNodes' time",
        "  (above 1 means HyperNodes is faster).",
        "- Each tool is warmed up (first call: plans and caches are built) before timing. As with `timeit`,",
        "  the garbage collector is off while timing, for every tool.",
        "- `run` scenarios ask every tool for the final node's output only (HyperNodes: `output_name=...`);",
        "  HyperNodes still runs every node of the DAG, as do the peers, since the output needs them all.",
        "- The wide DAG has a gathering node so every tool returns one value; it counts as one of the 51 nodes.",
        "- `map` returns all three outputs per item from every tool. Hamilton has no `map`, so its figure",
        "  is a Python loop calling `execute` once per item, collecting the same lists.",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def available_tools(requested: Sequence[str]) -> list[str]:
    tools = []
    for tool in requested:
        module, distribution = PEER_DISTRIBUTIONS[tool]
        if importlib.util.find_spec(module) is None:
            print(f"note: {tool} is skipped; install the bench group ({COMMAND}) to compare with {distribution}")
        else:
            tools.append(tool)
    return tools


def profile(scenario: Scenario, seconds: float) -> None:
    """Profile HyperNodes' contender of `scenario` with cProfile and print the costliest functions."""
    (contender,) = [c for c in scenario.contenders if c.tool == HYPERNODES]
    contender.call()
    number = max(1, round(seconds / timeit.Timer(contender.call).timeit(1)))
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(number):
        contender.call()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    calls = number * scenario.units
    print(f"cProfile of hypernodes, {scenario.key}: {number} calls, {calls:,} {scenario.unit}s (times are inflated)")
    stats.sort_stats("tottime").print_stats(25)
    print(out.getvalue())


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and 1,000 map items: a smoke run")
    parser.add_argument("--repeat", type=int, help="repeats per contender (default 7, quick 3)")
    parser.add_argument("--items", type=int, help=f"map items (default {MAP_ITEMS:,}, quick {QUICK_MAP_ITEMS:,})")
    parser.add_argument("--scenario", action="append", choices=["chain", "wide", "map"], help="run only these")
    parser.add_argument("--peers", nargs="*", default=[PIPEFUNC, HAMILTON], choices=[PIPEFUNC, HAMILTON])
    parser.add_argument(
        "--report",
        type=Path,
        help=f"write the markdown report here (default: {DEFAULT_REPORT.relative_to(ROOT)}, not with --quick)",
    )
    parser.add_argument("--no-report", action="store_true", help="print the tables only")
    parser.add_argument("--profile", choices=["chain", "wide", "map"], help="cProfile HyperNodes on one scenario")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> None:
    args = parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 7)
    min_time = 0.02 if args.quick else 0.2
    items = args.items or (QUICK_MAP_ITEMS if args.quick else MAP_ITEMS)
    tools = available_tools(args.peers)
    builders: dict[str, Callable[[], Scenario]] = {
        "chain": lambda: chain_scenario(tools),
        "wide": lambda: wide_scenario(tools),
        "map": lambda: map_scenario(tools, items),
    }
    if args.profile:
        profile(builders[args.profile](), seconds=2.0)
        return
    settings = f"median and best of {repeat} repeats of about {min_time:g}s each (after a warm-up)"
    print(f"{platform.python_implementation()} {platform.python_version()} on {cpu_model()}; {settings}\n")
    results: dict[str, tuple[Scenario, list[Timing]]] = {}
    for key in args.scenario or builders:
        scenario = builders[key]()
        timings = time_scenario(scenario, repeat=repeat, min_time=min_time)
        results[key] = (scenario, timings)
        print(f"{scenario.key}: {scenario.title.replace('`', '')}")
        print(format_text_table(scenario, timings), end="\n\n")
    for target in targets(results):
        print(f"target {target.what.replace('`', '')}: {target.goal}, measured {target.measured}: "
              f"{'met' if target.met else 'NOT MET'}")
    report = args.report or (None if args.quick else DEFAULT_REPORT)
    if report is not None and not args.no_report:
        write_report(report, results, argv, settings)
        print(f"\nreport written to {report}")


if __name__ == "__main__":
    main(sys.argv[1:])
