"""Measure what callbacks cost per node and per map item, next to no callbacks and plain Python.

Two scenarios, run sequentially in one process without cache, with
``RuntimeConfig(executor=InlineExecutor(), callbacks=[...])``. Every node does trivial integer
work, so what is measured is the cost of the callbacks and of their dispatch:

- ``chain``: ``run`` of a 10-node linear chain ``x -> c0 -> c1 -> ... -> c9``, per node.
- ``map``: ``map`` of the 3-node chain ``x -> a -> b -> c`` over 10,000 items, per item.

Each scenario is timed, in the same interleaved rounds, with these callback settings:

- *plain Python*: the same calls written by hand, the floor.
- *no callbacks*: ``callbacks=[]``, the reference for "added".
- *no-op callback*: a ``PipelineCallback`` subclass overriding every hook with an empty body,
  so that every event is really dispatched to a method.
- *on_node_end only*: a callback overriding one hook, to show what the others cost when no
  callback implements them.
- *ProgressCallback (log file)*: ``ProgressCallback(file=io.StringIO())``: not a terminal, so
  it writes plain lines, as into a log file (the buffer is emptied between repeats).
- *ProgressCallback(enable=False)*: every hook returns at once.
- *TracingCallback*: spans into the OpenTelemetry SDK (``TracerProvider``,
  ``SimpleSpanProcessor``, ``InMemorySpanExporter``, emptied between repeats).

Every setting must return the same values as plain Python and must have seen the run (hooks
counted, progress lines and spans checked) before it is timed.

Run it from the repository root::

    uv run python benchmarks/bench_callbacks.py            # writes docs/benchmarks/callbacks.md
    uv run python benchmarks/bench_callbacks.py --quick    # smoke run in seconds, no report

Without tqdm (the ``progress`` extra) or opentelemetry-sdk, those settings are skipped.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import io
import platform
import shlex
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _harness import (
    ROOT,
    Contender,
    Scenario,
    Timing,
    as_markdown,
    as_text,
    chain_workload,
    check_agreement,
    cpu_model,
    machine,
    map_workload,
    measure,
    per_unit_us,
    timing_description,
)

from hypernodes import (
    CallbackContext,
    InlineExecutor,
    Pipeline,
    PipelineCallback,
    ProgressCallback,
    RuntimeConfig,
    TracingCallback,
    node,
)

DEFAULT_REPORT = ROOT / "docs" / "benchmarks" / "callbacks.md"
COMMAND = "uv run python benchmarks/bench_callbacks.py"
DISTRIBUTIONS = ("hypernodes-core", "tqdm", "opentelemetry-api", "opentelemetry-sdk")  # versions in the report

CHAIN_LENGTH = 10
MAP_ITEMS = 10_000
QUICK_MAP_ITEMS = 1_000

PLAIN, NONE, NO_OP, NODE_END = "plain Python", "no callbacks", "no-op callback", "on_node_end only"
PROGRESS, PROGRESS_OFF, TRACING = "ProgressCallback (log file)", "ProgressCallback(enable=False)", "TracingCallback"

HOOKS = tuple(name for name in vars(PipelineCallback) if name.startswith("on_"))


# -- the callbacks ----------------------------------------------------------------------------------


class NoOpCallback(PipelineCallback):
    """Override every hook with a body that does nothing, so that each event is dispatched to it."""

    def on_pipeline_start(self, ctx: CallbackContext, inputs: Mapping[str, Any]) -> None:
        pass

    def on_pipeline_end(self, ctx: CallbackContext, outputs: Mapping[str, Any], duration: float) -> None:
        pass

    def on_node_start(self, ctx: CallbackContext, node: str, inputs: Mapping[str, Any]) -> None:
        pass

    def on_node_end(self, ctx: CallbackContext, node: str, outputs: Mapping[str, Any], duration: float) -> None:
        pass

    def on_node_cached(self, ctx: CallbackContext, node: str, signature: str) -> None:
        pass

    def on_node_error(self, ctx: CallbackContext, node: str, error: BaseException) -> None:
        pass

    def on_map_start(self, ctx: CallbackContext, total: int) -> None:
        pass

    def on_map_item_start(self, ctx: CallbackContext, index: int) -> None:
        pass

    def on_map_item_end(self, ctx: CallbackContext, index: int, duration: float) -> None:
        pass

    def on_map_end(self, ctx: CallbackContext, duration: float) -> None:
        pass

    def on_nested_pipeline_start(self, ctx: CallbackContext, node: str) -> None:
        pass

    def on_nested_pipeline_end(self, ctx: CallbackContext, node: str, duration: float) -> None:
        pass


class NodeEndCallback(PipelineCallback):
    """Override only ``on_node_end``: the engine has no other hook of it to call."""

    def on_node_end(self, ctx: CallbackContext, node: str, outputs: Mapping[str, Any], duration: float) -> None:
        pass


class HookCounter(PipelineCallback):
    """Count the calls of every hook (untimed): how many events a scenario fires, by hook."""

    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()


def _counting(hook: str) -> Callable[..., None]:
    def count(self: HookCounter, ctx: CallbackContext, *args: Any) -> None:
        self.calls[hook] += 1

    return count


for _hook in HOOKS:
    setattr(HookCounter, _hook, _counting(_hook))


def implemented_hooks(callback: PipelineCallback) -> set[str]:
    """Return the hooks `callback` overrides: the ones the dispatcher calls on it."""
    return {hook for hook in HOOKS if getattr(type(callback), hook) is not getattr(PipelineCallback, hook)}


# -- the callback settings ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One value of ``RuntimeConfig(callbacks=...)``, with what the report says of it.

    Attributes:
        name: The row's name.
        callbacks: The callbacks, made once per scenario and shared by all its calls.
        how: How the callbacks are made, for the report.
        reset: Drops what earlier calls left behind (progress lines, spans), between repeats.
        verify: Raises AssertionError unless the callbacks saw the call just made; then resets.
    """

    name: str
    callbacks: tuple[PipelineCallback, ...]
    how: str
    reset: Callable[[], None] | None = None
    verify: Callable[[Scenario], None] | None = None


def available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent package of a submodule is missing
        return False


def progress_setting() -> Setting:
    out = io.StringIO()

    def reset() -> None:
        out.seek(0)
        out.truncate()

    def verify(scenario: Scenario) -> None:
        text = out.getvalue()
        # the final line of the run's bar counts nodes; the map's bar counts items (`n/total`)
        done = f"{scenario.units} nodes" if scenario.unit == "node" else f"{scenario.units}/{scenario.units}"
        if done not in text:
            raise AssertionError(f"{scenario.key}: ProgressCallback wrote {text!r:.300}, without {done!r}")
        reset()

    return Setting(
        name=PROGRESS,
        callbacks=(ProgressCallback(file=out),),
        how="`ProgressCallback(file=io.StringIO())`: not a terminal, so plain lines as in a log file "
        "(a line per bar every 10 s and when it ends)",
        reset=reset,
        verify=verify,
    )


def tracing_setting() -> Setting:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    def verify(scenario: Scenario) -> None:
        names = [span.name for span in exporter.get_finished_spans()]
        node_spans = sum(name.startswith("node ") for name in names)
        expected = scenario.units * (1 if scenario.unit == "node" else 3)
        if node_spans != expected:
            raise AssertionError(f"{scenario.key}: TracingCallback exported {node_spans} node spans, not {expected}")
        exporter.clear()

    return Setting(
        name=TRACING,
        callbacks=(TracingCallback(tracer_provider=provider),),
        how="`TracingCallback(tracer_provider=provider)`, the SDK's `TracerProvider` with "
        "`SimpleSpanProcessor(InMemorySpanExporter())`",
        reset=exporter.clear,
        verify=verify,
    )


def settings(*, progress: bool, tracing: bool) -> tuple[Setting, ...]:
    """Return the callback settings to time, each with fresh callbacks; progress and tracing if asked."""
    made = [
        Setting(name=NONE, callbacks=(), how="`callbacks=[]`"),
        Setting(
            name=NO_OP, callbacks=(NoOpCallback(),), how=f"a subclass overriding all {len(HOOKS)} hooks with `pass`"
        ),
        Setting(name=NODE_END, callbacks=(NodeEndCallback(),), how="a subclass overriding `on_node_end` with `pass`"),
    ]
    if progress:
        made.append(progress_setting())
        made.append(
            Setting(
                name=PROGRESS_OFF,
                callbacks=(ProgressCallback(enable=False),),
                how="`ProgressCallback(enable=False)`: every hook returns at once",
            )
        )
    if tracing:
        made.append(tracing_setting())
    return tuple(made)


# -- the scenarios ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Measured:
    """A scenario, the settings of its contenders after plain Python, and how often each hook fired."""

    scenario: Scenario
    settings: tuple[Setting, ...]
    hook_calls: Mapping[str, int]

    def calls_per_unit(self, setting: Setting) -> float:
        """Return how many hook calls per node (or item) reach `setting`'s callbacks."""
        calls = sum(self.hook_calls[hook] for cb in setting.callbacks for hook in implemented_hooks(cb))
        return calls / self.scenario.units


Run = Callable[[RuntimeConfig], Any]
"""Does a scenario's work once with HyperNodes under a config."""


def setting_contenders(made: Sequence[Setting], run: Run, result: Callable[[Any], Any]) -> list[Contender]:
    """Return one contender per setting, each calling `run` with its own config, made once."""

    def caller(config: RuntimeConfig) -> Callable[[], Any]:
        return lambda: run(config)

    return [
        Contender(
            tool=s.name,
            call=caller(RuntimeConfig(executor=InlineExecutor(), callbacks=list(s.callbacks))),
            result=result,
            how=s.how,
            reset=s.reset,
        )
        for s in made
    ]


def chain_scenario(made: Sequence[Setting]) -> tuple[Scenario, Run]:
    module, names, plain = chain_workload("bench_chain", CHAIN_LENGTH)
    pipeline = Pipeline(nodes=[node(getattr(module, name)) for name in names], name="bench")
    final, inputs = names[-1], {"x": 1}

    def run(config: RuntimeConfig) -> Any:
        return pipeline.run(inputs=inputs, output_name=final, config=config)

    contenders = [
        Contender(tool=PLAIN, call=lambda: plain(1), result=lambda out: out, how="direct calls"),
        *setting_contenders(made, run, lambda out: out[final]),
    ]
    scenario = Scenario(
        key="chain",
        title=f"`run` of a {CHAIN_LENGTH}-node linear chain",
        unit="node",
        units=CHAIN_LENGTH,
        contenders=tuple(contenders),
    )
    return scenario, run


def map_scenario(made: Sequence[Setting], items: int) -> tuple[Scenario, Run]:
    module, plain = map_workload("bench_map")
    pipeline = Pipeline(nodes=[node(module.a), node(module.b), node(module.c)], name="bench")
    xs = list(range(items))
    inputs = {"x": xs}

    def run(config: RuntimeConfig) -> Any:
        return pipeline.map(inputs=inputs, map_over="x", config=config)

    contenders = [
        Contender(tool=PLAIN, call=lambda: plain(xs), result=lambda out: out, how="a `for` loop of direct calls"),
        *setting_contenders(made, run, lambda out: out),
    ]
    scenario = Scenario(
        key="map",
        title=f"`map` of a 3-node chain over {items:,} items",
        unit="item",
        units=items,
        contenders=tuple(contenders),
    )
    return scenario, run


def check(scenario: Scenario, made: Sequence[Setting], run: Run) -> collections.Counter[str]:
    """Check results and that each setting's callbacks saw the run; return the hook calls of one call."""
    check_agreement(scenario)  # also leaves every setting reset
    counter = HookCounter()
    run(RuntimeConfig(executor=InlineExecutor(), callbacks=[counter]))
    nodes = scenario.units * (1 if scenario.unit == "node" else 3)
    if not counter.calls["on_node_start"] == counter.calls["on_node_end"] == nodes:
        raise AssertionError(f"{scenario.key}: expected {nodes} node starts and ends, counted {dict(counter.calls)}")
    by_tool = {c.tool: c for c in scenario.contenders}
    for setting in made:
        if setting.verify is not None:
            by_tool[setting.name].call()
            setting.verify(scenario)
    return counter.calls


# -- tables and the report ------------------------------------------------------------------------

Results = dict[str, tuple[Measured, list[Timing]]]


def table(measured: Measured, timings: Sequence[Timing]) -> list[tuple[str, ...]]:
    """Return the header and one row per setting; "added" and ratios are of median times."""
    scenario, unit = measured.scenario, measured.scenario.unit
    by_tool = {t.tool: t.median for t in timings}
    settings_by_name = {s.name: s for s in measured.settings}
    rows: list[tuple[str, ...]] = [
        (
            "callbacks",
            f"µs/{unit} (median)",
            f"µs/{unit} (best)",
            f"added µs/{unit}",
            "vs no callbacks",
            "vs plain",
            f"hook calls/{unit}",
        )
    ]
    for t in timings:
        setting = settings_by_name.get(t.tool)
        rows.append(
            (
                t.tool,
                f"{per_unit_us(t.median, scenario):.3f}",
                f"{per_unit_us(t.best, scenario):.3f}",
                "-" if setting is None else f"{per_unit_us(t.median - by_tool[NONE], scenario):+.3f}",
                "-" if setting is None else f"{t.median / by_tool[NONE]:.2f}",
                f"{t.median / by_tool[PLAIN]:.1f}",
                "-" if setting is None else f"{measured.calls_per_unit(setting):.1f}",
            )
        )
    return rows


def reading(results: Results) -> list[str]:
    """Say what the figures show, in a few sentences built from them."""
    lines = []
    for key, (measured, timings) in results.items():
        scenario, unit = measured.scenario, measured.scenario.unit
        by_tool = {t.tool: t.median for t in timings}
        added = {name: per_unit_us(median - by_tool[NONE], scenario) for name, median in by_tool.items()}
        calls = {s.name: measured.calls_per_unit(s) for s in measured.settings}
        # Both callbacks pay the same fixed cost; they differ only in how many hook calls reach them.
        per_call = (added[NO_OP] - added[NODE_END]) / (calls[NO_OP] - calls[NODE_END])
        fixed = added[NODE_END] - per_call * calls[NODE_END]
        line = (
            f"- **{key}** ({scenario.title}): without callbacks HyperNodes adds {-added[PLAIN]:.2f} µs per "
            f"{unit} to plain Python. One no-op callback implementing all {len(HOOKS)} hooks "
            f"({calls[NO_OP]:.1f} hook calls per {unit}) adds {added[NO_OP]:.2f} µs per {unit}; one implementing "
            f"only `on_node_end` ({calls[NODE_END]:.1f} per {unit}) adds {added[NODE_END]:.2f} µs. So a hook call "
            f"to an empty method costs about {per_call:.2f} µs, and about {fixed:.2f} µs per {unit} "
            f"({fixed / added[NO_OP]:.0%} of the no-op callback's cost) is paid as soon as any callback is "
            "configured, whatever hooks it implements."
        )
        if PROGRESS in added:
            line += (
                f" `ProgressCallback` writing to a log file adds {added[PROGRESS]:.2f} µs per {unit}, and "
                f"{added[PROGRESS_OFF]:.2f} µs with `enable=False`."
            )
        if TRACING in added:
            line += (
                f" `TracingCallback` into the SDK's in-memory exporter adds {added[TRACING]:.2f} µs per {unit}: "
                f"each call takes {by_tool[TRACING] / by_tool[NONE]:.0f} times as long as without callbacks."
            )
        lines.append(textwrap.fill(line, width=100, subsequent_indent="  ", break_on_hyphens=False))
    return lines


def write_report(path: Path, results: Results, argv: Sequence[str], timing: str) -> None:
    lines = [
        "# Callback overhead",
        "",
        "What callbacks add to each node call (`run`) and each map item (`map`): no callbacks, one no-op",
        "callback, a callback implementing a single hook, `ProgressCallback` and `TracingCallback`, all",
        "timed in the same run, next to the same work written as plain Python (the floor). Every node does",
        "trivial integer work, so the figures are the engine's and the callbacks' own cost. Everything runs",
        "sequentially in one process, without cache, with",
        "`config = RuntimeConfig(executor=InlineExecutor(), callbacks=[...])`.",
        "",
        "`benchmarks/bench_callbacks.py` writes this file: rerun it rather than editing the figures.",
        "",
        "## Machine and command",
        "",
        *[f"- **{name}**: {value}" for name, value in machine(DISTRIBUTIONS)],
        f"- **command**: `{COMMAND}{' ' + shlex.join(argv) if argv else ''}`",
        f"- **timing**: {timing}",
        "",
        "## What the figures show",
        "",
        *reading(results),
        "",
    ]
    for measured, timings in results.values():
        scenario = measured.scenario
        lines += [f"## {scenario.key}: {scenario.title}", "", as_markdown(table(measured, timings)), ""]
        lines += [*(f"- **{c.tool}**: {c.how}" for c in scenario.contenders), ""]
    lines += [
        "## How to read this",
        "",
        "- *µs/node (median)* is the median over the repeats of one call's time, divided by the",
        f"  {CHAIN_LENGTH} nodes of the chain or by the map items; *best* is the fastest repeat.",
        "- *added* is the setting's median time minus that of no callbacks, per node or item: what the",
        "  callbacks cost, dispatch included. *vs no callbacks* and *vs plain* are ratios of median times.",
        "- *hook calls* counts the hook calls per node (or item) that reach the setting's callbacks, that",
        "  is, of the hooks they override (counted once, untimed, by a callback counting every hook).",
        "  Events that no callback implements still reach the dispatcher, which drops them after one dict",
        "  lookup.",
        "- The reading above splits a callback's cost into a part per hook call (the difference between",
        "  the no-op and the `on_node_end only` callbacks, over the difference in their hook calls) and a",
        "  fixed part (the rest of `on_node_end only`'s cost). It is an estimate: it assumes that both pay",
        "  the same fixed cost and that every hook call costs the same.",
        "- With any callback configured, a run leaves the engine's fast loop for plain plans (taken only",
        "  without cache, callbacks, retries or timeout) and makes a run id, a dispatcher and callback",
        "  contexts. That cost is part of every *added* figure, including `on_node_end only`'s.",
        "- The progress lines and the exported spans are dropped between repeats, outside the timing, so",
        "  no repeat pays for a longer buffer than the others.",
        "- Every setting is warmed up before timing, its results are checked against plain Python's, and",
        "  its callbacks are checked to have seen the run (node start and end hooks counted, the progress",
        "  bar's final line, one span per node call). As with `timeit`, the garbage collector is off while",
        "  timing.",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


# -- the command line -----------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Measure what callbacks cost per node and per map item.")
    parser.add_argument("--quick", action="store_true", help="3 short repeats, 1,000 map items, no report")
    parser.add_argument("--repeat", type=int, help="repeats per setting (default 11; --quick: 3)")
    parser.add_argument("--items", type=int, help=f"map items (default {MAP_ITEMS:,}; --quick: {QUICK_MAP_ITEMS:,})")
    parser.add_argument("--scenario", action="append", choices=("chain", "map"), help="only these (repeatable)")
    parser.add_argument(
        "--report", type=Path, help=f"write the report here (default {DEFAULT_REPORT.relative_to(ROOT)})"
    )
    parser.add_argument("--no-report", action="store_true", help="print the tables only")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> None:
    args = parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 11)
    min_time = 0.02 if args.quick else 0.1
    items = args.items or (QUICK_MAP_ITEMS if args.quick else MAP_ITEMS)
    progress, tracing = available("tqdm"), available("opentelemetry.sdk")
    if not progress:
        print(f"note: tqdm is not installed, so {PROGRESS} is skipped; run: uv sync")
    if not tracing:
        print(f"note: opentelemetry-sdk is not installed, so {TRACING} is skipped; run: uv sync")
    builders: dict[str, Callable[[tuple[Setting, ...]], tuple[Scenario, Run]]] = {
        "chain": chain_scenario,
        "map": lambda made: map_scenario(made, items),
    }
    timing = timing_description(repeat, min_time)
    print(f"{platform.python_implementation()} {platform.python_version()} on {cpu_model()}; {timing}\n")
    results: Results = {}
    for key in args.scenario or builders:
        made = settings(progress=progress, tracing=tracing)  # fresh callbacks for each scenario
        scenario, run = builders[key](made)
        measured = Measured(scenario=scenario, settings=made, hook_calls=check(scenario, made, run))
        results[key] = (measured, measure(scenario.contenders, repeat=repeat, min_time=min_time))
        print(f"{key}: {scenario.title.replace('`', '')}\n{as_text(table(measured, results[key][1]))}\n")
    report = args.report or (None if args.quick else DEFAULT_REPORT)
    if report is not None and not args.no_report:
        write_report(report, results, argv, timing)
        print(f"report written to {report}")


if __name__ == "__main__":
    main(sys.argv[1:])
