"""Measure the engine's overhead per node and per item, next to plain Python, pipefunc and Hamilton.

Three scenarios, each run sequentially in one process, without cache, callbacks or profiling
on any tool. Every node does trivial integer work, so what is measured is each tool's own cost:

- ``chain``: ``run`` of a 10-node linear chain ``x -> c0 -> c1 -> ... -> c9``, per node.
- ``wide``: ``run`` of a 50-node-wide DAG: ``w0 ... w49`` each read the input ``x`` and one
  node, ``total``, gathers all 50 (51 nodes; per node = per run / 51).
- ``map``: ``map`` of the 3-node chain ``x -> a -> b -> c`` over 10,000 items, per item.

Every tool must return the same values as plain Python (checked before timing): the final
node's output for a run, and all three outputs as per-item sequences for a map.

Run it from the repository root::

    uv run --group bench python benchmarks/bench_core.py                # writes docs/benchmarks/core.md
    uv run --group bench python benchmarks/bench_core.py --quick        # smoke run in seconds, no report
    uv run --group bench python benchmarks/bench_core.py --profile map  # where HyperNodes' time goes

Without the ``bench`` dependency group the peers are skipped; HyperNodes and plain Python still run.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import platform
import pstats
import shlex
import sys
import timeit
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _harness import (
    ROOT,
    Contender,
    Scenario,
    Target,
    Timing,
    as_markdown,
    as_text,
    chain_workload,
    cpu_model,
    define_plain,
    machine,
    make_module,
    map_workload,
    per_unit_us,
    time_scenario,
    timing_description,
)

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
PEERS = {PIPEFUNC: ("pipefunc", "pipefunc"), HAMILTON: ("hamilton", "apache-hamilton")}  # tool: (module, dist)
DISTRIBUTIONS = ("hypernodes-core", "pipefunc", "apache-hamilton")  # versions in the report


# -- each tool's contender ----------------------------------------------------------------------------


def hypernodes_run(functions: Sequence[Callable[..., Any]], final: str) -> Contender:
    from hypernodes import InlineExecutor, Pipeline, RuntimeConfig, node

    pipeline = Pipeline(nodes=[node(f) for f in functions], name="bench")
    config = RuntimeConfig(executor=InlineExecutor())
    inputs = {"x": 1}
    return Contender(
        tool=HYPERNODES,
        call=lambda: pipeline.run(inputs=inputs, output_name=final, config=config),
        result=lambda out: out[final],
        how=f'`pipeline.run(inputs={{"x": 1}}, output_name="{final}", config=config)`',
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
        how='`pipeline.map(inputs={"x": xs}, map_over="x", config=config)`',
    )


def pipefunc_run(functions: Sequence[Callable[..., Any]], final: str) -> Contender:
    from pipefunc import PipeFunc, Pipeline

    # PipeFunc's defaults are cache=False, profile=False, debug=False, so the pipeline has no cache.
    pipeline = Pipeline([PipeFunc(f, output_name=f.__name__) for f in functions])
    kwargs = {"x": 1}
    return Contender(
        tool=PIPEFUNC,
        call=lambda: pipeline.run(final, kwargs=kwargs),
        result=lambda out: out,
        how=f'`pipeline.run("{final}", kwargs={{"x": 1}})`, which `pipeline("{final}", x=1)` calls',
    )


def pipefunc_map(functions: Sequence[Callable[..., Any]], xs: list[int]) -> Contender:
    from pipefunc import PipeFunc, Pipeline

    parent = {"a": "x", "b": "a", "c": "b"}
    pipeline = Pipeline(
        [PipeFunc(f, output_name=f.__name__, mapspec=f"{parent[f.__name__]}[i] -> {f.__name__}[i]") for f in functions]
    )
    inputs = {"x": xs}
    return Contender(
        tool=PIPEFUNC,
        call=lambda: pipeline.map(inputs, parallel=False, storage="dict", show_progress=False),
        result=lambda out: {name: list(out[name].output) for name in ("a", "b", "c")},
        how='`pipeline.map({"x": xs}, parallel=False, storage="dict", show_progress=False)`, '
        "mapspecs `x[i] -> a[i]`, `a[i] -> b[i]`, `b[i] -> c[i]`",
    )


def hamilton_run(module: types.ModuleType, final: str) -> Contender:
    from hamilton import driver  # type: ignore[import-untyped]

    dr = driver.Builder().with_modules(module).build()  # the default adapter returns a dict
    final_vars, inputs = [final], {"x": 1}
    return Contender(
        tool=HAMILTON,
        call=lambda: dr.execute(final_vars=final_vars, inputs=inputs),
        result=lambda out: out[final],
        how=f'`dr.execute(final_vars=["{final}"], inputs={{"x": 1}})`, '
        "`dr = driver.Builder().with_modules(module).build()`",
    )


def hamilton_map(module: types.ModuleType, xs: list[int]) -> Contender:
    from hamilton import driver

    dr = driver.Builder().with_modules(module).build()
    final_vars = ["a", "b", "c"]

    def loop() -> dict[str, list[Any]]:
        # Hamilton has no map: one execute per item, collected into the lists the others return.
        results = [dr.execute(final_vars=final_vars, inputs={"x": x}) for x in xs]
        return {name: [result[name] for result in results] for name in final_vars}

    return Contender(
        tool=HAMILTON,
        call=loop,
        result=lambda out: out,
        how='no `map`: a loop of `dr.execute(final_vars=["a", "b", "c"], inputs={"x": x})`, one per item',
    )


# -- the scenarios ----------------------------------------------------------------------------------


def run_contenders(
    module: types.ModuleType, names: Sequence[str], plain: Callable[[int], Any], peers: Sequence[str]
) -> tuple[Contender, ...]:
    functions, final = [getattr(module, name) for name in names], names[-1]
    contenders = [
        Contender(tool=PLAIN, call=lambda: plain(1), result=lambda out: out, how="direct calls"),
        hypernodes_run(functions, final),
    ]
    if PIPEFUNC in peers:
        contenders.append(pipefunc_run(functions, final))
    if HAMILTON in peers:
        contenders.append(hamilton_run(module, final))
    return tuple(contenders)


def chain_scenario(peers: Sequence[str]) -> Scenario:
    module, names, plain = chain_workload("bench_chain", CHAIN_LENGTH)
    return Scenario(
        key="chain",
        title=f"`run` of a {CHAIN_LENGTH}-node linear chain",
        unit="node",
        units=CHAIN_LENGTH,
        contenders=run_contenders(module, names, plain, peers),
    )


def wide_scenario(peers: Sequence[str]) -> Scenario:
    names = [f"w{i}" for i in range(WIDTH)]
    module = make_module(
        "bench_wide",
        "\n".join(f"def {n}(x: int) -> int:\n    return x + {i}\n" for i, n in enumerate(names))
        + f"\ndef total({', '.join(f'{n}: int' for n in names)}) -> int:\n    return {' + '.join(names)}\n",
    )
    plain = define_plain(module, f"def plain(x):\n    return total({', '.join(f'{n}(x)' for n in names)})\n")
    return Scenario(
        key="wide",
        title=f"`run` of a {WIDTH}-node-wide DAG ({WIDTH} nodes read `x`, 1 node gathers them)",
        unit="node",
        units=WIDTH + 1,
        contenders=run_contenders(module, [*names, "total"], plain, peers),
    )


def map_scenario(peers: Sequence[str], items: int) -> Scenario:
    module, plain = map_workload("bench_map")
    functions = [module.a, module.b, module.c]
    xs = list(range(items))
    contenders = [
        Contender(tool=PLAIN, call=lambda: plain(xs), result=lambda out: out, how="a `for` loop of direct calls"),
        hypernodes_map(functions, xs),
    ]
    if PIPEFUNC in peers:
        contenders.append(pipefunc_map(functions, xs))
    if HAMILTON in peers:
        contenders.append(hamilton_map(module, xs))
    return Scenario(
        key="map",
        title=f"`map` of a 3-node chain over {items:,} items",
        unit="item",
        units=items,
        contenders=tuple(contenders),
    )


# -- tables, targets and the report ---------------------------------------------------------------

Results = dict[str, tuple[Scenario, list[Timing]]]


def table(scenario: Scenario, timings: Sequence[Timing]) -> list[tuple[str, ...]]:
    """Return the header and one row per tool; ratios are of median times."""
    by_tool = {t.tool: t.median for t in timings}
    unit = scenario.unit
    rows: list[tuple[str, ...]] = [
        ("tool", f"µs/{unit} (median)", f"µs/{unit} (best)", f"overhead µs/{unit}", "vs plain", "vs hypernodes")
    ]
    for t in timings:
        overhead = "-" if t.tool == PLAIN else f"{per_unit_us(t.median - by_tool[PLAIN], scenario):.3f}"
        rows.append(
            (
                t.tool,
                f"{per_unit_us(t.median, scenario):.3f}",
                f"{per_unit_us(t.best, scenario):.3f}",
                overhead,
                f"{t.median / by_tool[PLAIN]:.1f}",
                f"{t.median / by_tool[HYPERNODES]:.2f}",
            )
        )
    return rows


def targets(results: Results) -> list[Target]:
    """Judge HyperNodes' median time, node work included, against the issue's targets."""
    judged = []
    for key in ("chain", "wide"):
        if key in results:
            scenario, timings = results[key]
            by_tool = {t.tool: t.median for t in timings}
            per_node = per_unit_us(by_tool[HYPERNODES], scenario)
            judged.append(
                Target(
                    what=f"{key}: `run` per node", goal=TARGET_RUN_US_PER_NODE, value=per_node, unit="µs", at_most=True
                )
            )
            if PIPEFUNC in by_tool:
                speedup = by_tool[PIPEFUNC] / by_tool[HYPERNODES]
                judged.append(
                    Target(
                        what=f"{key}: `run` speed-up over pipefunc",
                        goal=TARGET_RUN_SPEEDUP_VS_PIPEFUNC,
                        value=speedup,
                        unit="x",
                        at_most=False,
                    )
                )
    if "map" in results:
        scenario, timings = results["map"]
        per_item = per_unit_us({t.tool: t.median for t in timings}[HYPERNODES], scenario)
        judged.append(
            Target(
                what="map: 3-node `map` per item", goal=TARGET_MAP_US_PER_ITEM, value=per_item, unit="µs", at_most=True
            )
        )
    return judged


def write_report(path: Path, results: Results, argv: Sequence[str], timing: str) -> None:
    lines = [
        "# Core engine overhead",
        "",
        "How much time HyperNodes adds around each node call (`run`) and each map item (`map`), next to the",
        "same work written as plain Python (the limit) and done with [pipefunc](https://github.com/pipefunc/pipefunc)",
        "and [Apache Hamilton](https://github.com/apache/hamilton). Every node does trivial integer work, so the",
        "figures are each tool's own cost. Everything runs sequentially in one process, without cache,",
        "callbacks or profiling; HyperNodes runs with `config = RuntimeConfig(executor=InlineExecutor())`.",
        "",
        "`benchmarks/bench_core.py` writes this file: rerun it rather than editing the figures.",
        "",
        "## Machine and command",
        "",
        *[f"- **{name}**: {value}" for name, value in machine(DISTRIBUTIONS)],
        f"- **command**: `{COMMAND}{' ' + shlex.join(argv) if argv else ''}`",
        f"- **timing**: {timing}",
        "",
        "## Targets",
        "",
        "| target | goal | measured | |",
        "|---|---|---|---|",
        *[
            f"| {t.what} | {' | '.join(t.describe())} | {t.verdict if t.met else '**not met**'} |"
            for t in targets(results)
        ],
        "",
        "Targets are judged on HyperNodes' median time per node (or item), the nodes' own work included.",
        "",
    ]
    for scenario, timings in results.values():
        lines += [f"## {scenario.key}: {scenario.title}", "", as_markdown(table(scenario, timings)), ""]
        lines += [*(f"- **{c.tool}**: {c.how}" for c in scenario.contenders), ""]
    lines += [
        "## How to read this",
        "",
        "- *µs/node (median)* is the median over the repeats of one call's time, divided by the nodes in the",
        f"  DAG (chain: {CHAIN_LENGTH}; wide: {WIDTH + 1}) or by the map items; *best* is the fastest repeat.",
        "- *overhead* is the tool's time minus plain Python's, per node or item: what the tool adds.",
        "- *vs plain* is the tool's time over plain Python's; *vs hypernodes* is the tool's time over",
        "  HyperNodes' (above 1: HyperNodes is faster by that factor).",
        "- Every tool is warmed up (plans and caches are built on the first call) before timing. As with",
        "  `timeit`, the garbage collector is off while timing, for every tool.",
        "- The `run` scenarios ask every tool for the final node's output; all nodes still run, since that",
        "  output needs them all. The wide DAG's gathering node lets every tool return one value, and it",
        "  counts as one of the 51 nodes.",
        "- `map` returns all three outputs, per item, from every tool. Hamilton has no `map`, so its figure is",
        "  a Python loop calling `execute` once per item and collecting the same lists.",
        "- Every tool's result is checked against plain Python's before timing.",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


# -- the command line -----------------------------------------------------------------------------


def installed_peers(requested: Sequence[str]) -> list[str]:
    peers = []
    for tool in requested:
        module, distribution = PEERS[tool]
        if importlib.util.find_spec(module) is None:
            print(f"note: {distribution} is not installed, so {tool} is skipped; run: {COMMAND}")
        else:
            peers.append(tool)
    return peers


def profile(scenario: Scenario, seconds: float = 2.0) -> None:
    """Profile HyperNodes on `scenario` with cProfile and print the functions costliest in themselves."""
    (contender,) = [c for c in scenario.contenders if c.tool == HYPERNODES]
    contender.call()
    number = max(1, round(seconds / timeit.Timer(contender.call).timeit(1)))
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [contender.call() for _ in range(number)])
    print(f"cProfile of hypernodes on {scenario.key}: {number} calls, {number * scenario.units:,} {scenario.unit}s")
    print("(cProfile inflates every Python call; compare functions with each other, not with the timings)")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(20)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Measure HyperNodes' overhead per node and per item.")
    parser.add_argument("--quick", action="store_true", help="3 short repeats, 1,000 map items, no report")
    parser.add_argument("--repeat", type=int, help="repeats per tool (default 11; --quick: 3)")
    parser.add_argument("--items", type=int, help=f"map items (default {MAP_ITEMS:,}; --quick: {QUICK_MAP_ITEMS:,})")
    parser.add_argument("--scenario", action="append", choices=("chain", "wide", "map"), help="only these (repeatable)")
    parser.add_argument("--peers", nargs="*", choices=tuple(PEERS), default=list(PEERS), help="peers to compare with")
    parser.add_argument(
        "--report", type=Path, help=f"write the report here (default {DEFAULT_REPORT.relative_to(ROOT)})"
    )
    parser.add_argument("--no-report", action="store_true", help="print the tables only")
    parser.add_argument("--profile", choices=("chain", "wide", "map"), help="cProfile HyperNodes on one scenario")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> None:
    args = parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 11)
    min_time = 0.02 if args.quick else 0.1
    items = args.items or (QUICK_MAP_ITEMS if args.quick else MAP_ITEMS)
    peers = installed_peers(args.peers)
    builders: dict[str, Callable[[], Scenario]] = {
        "chain": lambda: chain_scenario(peers),
        "wide": lambda: wide_scenario(peers),
        "map": lambda: map_scenario(peers, items),
    }
    if args.profile:
        profile(builders[args.profile]())
        return
    timing = timing_description(repeat, min_time)
    print(f"{platform.python_implementation()} {platform.python_version()} on {cpu_model()}; {timing}\n")
    results: Results = {}
    for key in args.scenario or builders:
        scenario = builders[key]()
        results[key] = (scenario, time_scenario(scenario, repeat=repeat, min_time=min_time))
        print(f"{key}: {scenario.title.replace('`', '')}\n{as_text(table(scenario, results[key][1]))}\n")
    for t in targets(results):
        goal, measured = t.describe()
        print(f"target {t.what.replace('`', '')} {goal}: {measured}, {t.verdict}")
    report = args.report or (None if args.quick else DEFAULT_REPORT)
    if report is not None and not args.no_report:
        write_report(report, results, argv, timing)
        print(f"\nreport written to {report}")


if __name__ == "__main__":
    main(sys.argv[1:])
