"""Measure what a cache hit costs per node and how fast a map is rerun from the cache.

Two scenarios, run sequentially in one process with
``RuntimeConfig(executor=InlineExecutor(), cache=...)``. Every node does trivial integer work on
small values, so what is measured is the cache's own cost: signatures, lookups, pickles, files.

- ``hit``: ``run`` of bench_core's 10-node linear chain ``x -> c0 -> ... -> c9``, per node:
  without cache, and with a ``MemoryCache`` and a ``DiskCache`` that already hold every node's
  output, so that every node is a hit.
- ``map``: ``map`` of bench_core's 3-node chain ``x -> a -> b -> c`` over 10,000 items, per
  item: without cache; the warm rerun served from a ``DiskCache`` (and from a ``MemoryCache``);
  a cold run into an empty ``DiskCache`` (every call computed and written), and the disk space
  that cold run's cache takes next to the bytes its entries hold; and, when the
  ``bench`` group is installed, the warm reruns of pipefunc's and Hamilton's disk caches on the
  same work. The cold run and the peers take seconds per call: they are timed once per round,
  in rounds of their own with fewer repeats.

Before timing, every contender must return what plain Python returns; every warm run must be
served from its cache without calling a node (HyperNodes: hooks counted; peers: a twin of the
node functions that counts its calls); and a cold run must leave one entry per node call.
Caches live in a fresh temporary directory, deleted at the end. A cold run gets a new directory
each call; they are all kept until the end, because deleting many files (on a file system
mounted with ``discard``) slows the writes that follow.

Run it from the repository root::

    uv run --group bench python benchmarks/bench_cache.py                   # writes docs/benchmarks/cache.md
    uv run --group bench python benchmarks/bench_cache.py --quick           # smoke run in seconds, no report
    uv run --group bench python benchmarks/bench_cache.py --profile disk-warm  # where HyperNodes' time goes
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import importlib.util
import os
import pickle
import platform
import pstats
import re
import shlex
import statistics
import sys
import tempfile
import textwrap
import time
import timeit
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from _harness import (
    MAP_SOURCE,
    PLAIN_MAP_SOURCE,
    ROOT,
    Contender,
    Scenario,
    Target,
    Timing,
    as_markdown,
    as_text,
    chain_workload,
    check_agreement,
    cpu_model,
    define_plain,
    machine,
    measure,
    per_unit_us,
    timing_description,
)

from hypernodes import (
    Cache,
    CallbackContext,
    DiskCache,
    InlineExecutor,
    MemoryCache,
    Pipeline,
    PipelineCallback,
    RuntimeConfig,
    node,
)

DEFAULT_REPORT = ROOT / "docs" / "benchmarks" / "cache.md"
COMMAND = "uv run --group bench python benchmarks/bench_cache.py"
DISTRIBUTIONS = ("hypernodes-core", "pipefunc", "apache-hamilton")  # versions in the report

CHAIN_LENGTH = 10
MAP_ITEMS = 10_000
QUICK_MAP_ITEMS = 1_000
QUICK_PEER_ITEMS = 5  # Hamilton's cache runs at tens to hundreds of items per second
SLOW_REPEAT = 3  # rounds for the settings that take seconds per call: the cold run and the peers
TWIN_ITEMS = 20  # items of the check that a peer's warm rerun calls no node

# The issues' targets, and the peers' figures issue 4 quotes for the warm rerun (items/s).
TARGET_MEMORY_HIT_US = 10.0
TARGET_DISK_HIT_US = 40.0
TARGET_WARM_ITEMS_PER_S = 50_000.0  # issue 16 (issue 4 asked for 8,000)
TARGET_COLD_ITEMS_PER_S = 10_000.0  # issue 16
TARGET_DISK_USE_RATIO = 2.0  # issue 16: bytes on disk over the bytes the entries hold, for small entries
ISSUE_PEER_FIGURES = {"pipefunc": 230, "hamilton": 600}

PLAIN, NO_CACHE = "plain Python", "hypernodes, no cache"
MEMORY_HIT, DISK_HIT = "hypernodes, MemoryCache, all hits", "hypernodes, DiskCache, all hits"
DISK_COLD, DISK_WARM, MEMORY_WARM = (
    "hypernodes, DiskCache cold",
    "hypernodes, DiskCache warm",
    "hypernodes, MemoryCache warm",
)
PIPEFUNC_WARM, PIPEFUNC_NO_LRU_WARM = "pipefunc, disk cache warm", "pipefunc, disk cache without LRU, warm"
HAMILTON_WARM = "hamilton, disk cache warm"
PEERS = {"pipefunc": ("pipefunc", "pipefunc"), "hamilton": ("hamilton", "apache-hamilton")}  # tool: (module, dist)
PROFILED = {
    "memory-hit": MEMORY_HIT,
    "memory-warm": MEMORY_WARM,
    "disk-hit": DISK_HIT,
    "disk-cold": DISK_COLD,
    "disk-warm": DISK_WARM,
}


# -- where caches and node modules live -------------------------------------------------------------


class Scratch:
    """The run's temporary directory: cache directories and the node functions' source files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made = 0
        (root / "src").mkdir()
        sys.path.insert(0, str(root / "src"))

    def unique(self, prefix: str) -> str:
        """Return a name starting with `prefix` that this run has not given before."""
        self._made += 1
        return f"{prefix}_{self._made}"

    def directory(self, prefix: str) -> Path:
        """Return a new, not yet existing directory path whose name starts with `prefix`."""
        return self.root / self.unique(prefix)

    def module(self, name: str, source: str) -> types.ModuleType:
        """Import `source` as module `name` from a real file: Hamilton fingerprints nodes by their source."""
        (self.root / "src" / f"{name}.py").write_text(source)
        return importlib.import_module(name)


def counting_source(source: str) -> str:
    """Return `source` with each function first appending its name to a module-level ``CALLS`` list."""
    return "CALLS: list[str] = []\n" + re.sub(r"(def (\w+)\(.*\n)", r'\1    CALLS.append("\2")\n', source)


# -- HyperNodes ---------------------------------------------------------------------------------------


def config(cache: Cache | None, callbacks: Sequence[PipelineCallback] = ()) -> RuntimeConfig:
    return RuntimeConfig(executor=InlineExecutor(), cache=cache, callbacks=list(callbacks))


class CallCounter(PipelineCallback):
    """Count node calls and cache hits."""

    def __init__(self) -> None:
        self.started = self.cached = 0

    def on_node_start(self, ctx: CallbackContext, node: str, inputs: Mapping[str, Any]) -> None:
        self.started += 1

    def on_node_cached(self, ctx: CallbackContext, node: str, signature: str) -> None:
        self.cached += 1


def expect_hits(run: Callable[[RuntimeConfig], Any], cache: Cache, node_calls: int, label: str) -> None:
    """Raise AssertionError unless a run with `cache` is served from it, every node a hit."""
    counter = CallCounter()
    run(config(cache, [counter]))
    if (counter.cached, counter.started) != (node_calls, 0):
        raise AssertionError(
            f"{label}: expected {node_calls} hits and no call, got {counter.cached} and {counter.started}"
        )


def expect_entries(directory: Path, node_calls: int, label: str) -> None:
    """Raise AssertionError unless the cache in `directory` holds one entry per node call."""
    found = DiskCache(directory).count()
    if found != node_calls:
        raise AssertionError(f"{label}: expected {node_calls} entries after a cold run, found {found}")


# -- the peers: built from a module, so that a counting twin can check that they hit ---------------------

Build = Callable[[types.ModuleType, list[int], Path], Callable[[], Any]]


def pipefunc_cached(lru: bool) -> Build:
    def build(module: types.ModuleType, xs: list[int], directory: Path) -> Callable[[], Any]:
        from pipefunc import PipeFunc, Pipeline

        parent = {"a": "x", "b": "a", "c": "b"}
        functions: list[Any] = [  # list is invariant: a list[PipeFunc[...]] is not what Pipeline's hint says
            PipeFunc(f, output_name=name, mapspec=f"{parent[name]}[i] -> {name}[i]", cache=True)
            for name, f in (("a", module.a), ("b", module.b), ("c", module.c))
        ]
        options = {"cache_dir": str(directory)} if lru else {"cache_dir": str(directory), "with_lru_cache": False}
        pipeline = Pipeline(functions, cache_type="disk", cache_kwargs=options)
        inputs = {"x": xs}
        return lambda: pipeline.map(inputs, parallel=False, storage="dict", show_progress=False)

    return build


def hamilton_cached(module: types.ModuleType, xs: list[int], directory: Path) -> Callable[[], Any]:
    from hamilton import driver  # type: ignore[import-untyped]

    dr = driver.Builder().with_modules(module).with_cache(path=str(directory)).build()
    final_vars = ["a", "b", "c"]

    def loop() -> dict[str, list[Any]]:
        # Hamilton has no map: one execute per item, collected into the lists the others return.
        results = [dr.execute(final_vars=final_vars, inputs={"x": x}) for x in xs]
        return {name: [result[name] for result in results] for name in final_vars}

    return loop


def pipefunc_result(out: Any) -> dict[str, list[Any]]:
    return {name: list(out[name].output) for name in ("a", "b", "c")}


PEER_SETTINGS: dict[str, tuple[str, Build, Callable[[Any], Any], str]] = {  # name: (tool, build, result, how)
    PIPEFUNC_WARM: (
        "pipefunc",
        pipefunc_cached(lru=True),
        pipefunc_result,
        '`Pipeline([PipeFunc(f, output_name=..., mapspec="x[i] -> a[i]", cache=True), ...], cache_type="disk", '
        'cache_kwargs={"cache_dir": d})` (its defaults: an LRU of 128 entries shared through a '
        '`multiprocessing` manager), then `pipeline.map({"x": xs}, parallel=False, storage="dict")`',
    ),
    PIPEFUNC_NO_LRU_WARM: (
        "pipefunc",
        pipefunc_cached(lru=False),
        pipefunc_result,
        'the same with `cache_kwargs={"cache_dir": d, "with_lru_cache": False}`: the disk alone',
    ),
    HAMILTON_WARM: (
        "hamilton",
        hamilton_cached,
        lambda out: out,
        "`driver.Builder().with_modules(module).with_cache(path=d).build()`, then a loop of "
        '`dr.execute(final_vars=["a", "b", "c"], inputs={"x": x})`, one per item (Hamilton has no `map`)',
    ),
}


def peer_contender(name: str, scratch: Scratch, module: types.ModuleType, xs: list[int]) -> Contender:
    """Check the peer's setup on a counting twin, fill its cache with one cold run (timed once), rerun it warm."""
    _, build, result, how = PEER_SETTINGS[name]
    twin = scratch.module(scratch.unique("bench_cache_twin"), counting_source(MAP_SOURCE))
    check = build(twin, xs[:TWIN_ITEMS], scratch.directory("peer-check"))
    check()
    if len(twin.CALLS) != 3 * len(xs[:TWIN_ITEMS]):
        raise AssertionError(f"{name}: a cold run called {len(twin.CALLS)} nodes, not 3 per item")
    twin.CALLS.clear()
    check()
    if twin.CALLS:
        raise AssertionError(f"{name}: a warm rerun called {len(twin.CALLS)} nodes; its cache is not used")
    call = build(module, xs, scratch.directory("peer"))
    started = time.perf_counter()
    call()
    cold = time.perf_counter() - started
    note = f"; its cache was filled by one cold run at {len(xs) / cold:,.0f} items/s"
    return Contender(tool=name, call=call, result=result, how=how + note)


# -- the scenarios ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Slow:
    """A setting that takes seconds per call, and plain Python doing the same work to check it."""

    contender: Contender
    plain: Contender
    units: int


@dataclass(frozen=True, kw_only=True)
class DiskUse:
    """What a cache directory takes on disk, next to what its entries hold."""

    entries: int
    files: int  # files and directories under the cache directory
    allocated: int  # bytes the file system allocated for them (blocks, not lengths)
    content: int  # the entries' signatures, node names and pickled outputs, in bytes

    @property
    def ratio(self) -> float:
        return self.allocated / self.content

    def describe(self) -> str:
        return (
            f"{self.entries:,} entries take {self.allocated:,} bytes on disk in {self.files:,} files and directories, "
            f"for {self.content:,} bytes of content (signatures, node names, pickled outputs): "
            f"{self.ratio:.2f}x, {self.allocated / self.entries:,.0f} bytes per entry"
        )


def disk_use(directory: Path) -> DiskUse:
    """Measure a cache directory: blocks allocated for every file and directory, and its entries' content."""
    cache = DiskCache(directory)
    content = entries = 0
    for entry in cache.entries():
        value = cache.get(entry.signature)
        content += len(entry.signature) + len(entry.node_name) + len(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
        entries += 1
    cache.close()
    allocated = files = 0
    for root, directories, names in os.walk(directory):
        for name in (*directories, *names):
            allocated += os.lstat(os.path.join(root, name)).st_blocks * 512
            files += 1
    return DiskUse(entries=entries, files=files, allocated=allocated, content=content)


@dataclass(frozen=True, kw_only=True)
class CacheScenario:
    """A scenario, its slow settings (timed in rounds of their own), and the checks run before timing."""

    scenario: Scenario  # plain Python first, then HyperNodes' settings
    slow: tuple[Slow, ...] = ()
    checks: tuple[Callable[[], None], ...] = ()  # after the results are checked, before timing
    disk: Callable[[], DiskUse] | None = None  # measures the last cold run's cache, after timing


def hit_scenario(scratch: Scratch) -> CacheScenario:
    module, names, plain = chain_workload("bench_cache_chain", CHAIN_LENGTH)
    pipeline = Pipeline(nodes=[node(getattr(module, name)) for name in names], name="bench")
    final, inputs = names[-1], {"x": 1}

    def run(cfg: RuntimeConfig) -> Any:
        return pipeline.run(inputs=inputs, output_name=final, config=cfg)

    memory, disk = MemoryCache(), DiskCache(scratch.directory("hit-disk"))

    def contender(tool: str, cache: Cache | None, how: str) -> Contender:
        cfg = config(cache)
        return Contender(tool=tool, call=lambda: run(cfg), result=lambda out: out[final], how=how)

    contenders = (
        Contender(tool=PLAIN, call=lambda: plain(1), result=lambda out: out, how="direct calls"),
        contender(NO_CACHE, None, "`cache=None`"),
        contender(MEMORY_HIT, memory, "`cache=MemoryCache()`, holding every node's output"),
        contender(DISK_HIT, disk, "`cache=DiskCache(d)`, holding every node's output"),
    )
    scenario = Scenario(
        key="hit",
        title=f"`run` of a {CHAIN_LENGTH}-node linear chain, every node a cache hit",
        unit="node",
        units=CHAIN_LENGTH,
        contenders=contenders,
    )
    checks = (
        lambda: expect_hits(run, memory, CHAIN_LENGTH, MEMORY_HIT),
        lambda: expect_hits(run, disk, CHAIN_LENGTH, DISK_HIT),
    )
    return CacheScenario(scenario=scenario, checks=checks)


def map_scenario(scratch: Scratch, items: int, peer_items: int, peers: Sequence[str]) -> CacheScenario:
    module = scratch.module("bench_cache_map", MAP_SOURCE)
    plain = define_plain(module, PLAIN_MAP_SOURCE)
    pipeline = Pipeline(nodes=[node(module.a), node(module.b), node(module.c)], name="bench")
    xs = list(range(items))
    inputs = {"x": xs}

    def run(cfg: RuntimeConfig) -> Any:
        return pipeline.map(inputs=inputs, map_over="x", config=cfg)

    cold_directories: list[Path] = []

    def cold() -> Any:  # a new, empty cache each call; making its directory is timed too
        cold_directories.append(scratch.directory("map-cold"))
        return run(config(DiskCache(cold_directories[-1])))

    def plain_on(values: list[int]) -> Contender:
        return Contender(tool=PLAIN, call=lambda: plain(values), result=lambda out: out, how="")

    memory, disk = MemoryCache(), DiskCache(scratch.directory("map-disk"))
    cfg_none, cfg_disk, cfg_memory = config(None), config(disk), config(memory)
    contenders = (
        Contender(tool=PLAIN, call=lambda: plain(xs), result=lambda out: out, how="a `for` loop of direct calls"),
        Contender(tool=NO_CACHE, call=lambda: run(cfg_none), result=lambda out: out, how="`cache=None`"),
        Contender(
            tool=DISK_WARM,
            call=lambda: run(cfg_disk),
            result=lambda out: out,
            how="`cache=DiskCache(d)`, filled by an earlier run: every node call a hit",
        ),
        Contender(
            tool=MEMORY_WARM,
            call=lambda: run(cfg_memory),
            result=lambda out: out,
            how="`cache=MemoryCache()`, filled by an earlier run: every node call a hit",
        ),
    )
    cold_contender = Contender(
        tool=DISK_COLD,
        call=cold,
        result=lambda out: out,
        how="`cache=DiskCache(d)` on a new, empty directory each call: every node call computed and written",
    )
    peer_xs = xs[:peer_items]
    chosen = [name for name, (tool, *_) in PEER_SETTINGS.items() if tool in peers]
    slow = (
        Slow(contender=cold_contender, plain=plain_on(xs), units=items),
        *(
            Slow(contender=peer_contender(name, scratch, module, peer_xs), plain=plain_on(peer_xs), units=peer_items)
            for name in chosen
        ),
    )
    scenario = Scenario(
        key="map",
        title=f"`map` of a 3-node chain over {items:,} items",
        unit="item",
        units=items,
        contenders=contenders,
    )
    checks = (
        lambda: expect_entries(cold_directories[-1], 3 * items, DISK_COLD),  # left by the results' check
        lambda: expect_hits(run, disk, 3 * items, DISK_WARM),
        lambda: expect_hits(run, memory, 3 * items, MEMORY_WARM),
    )
    return CacheScenario(scenario=scenario, slow=slow, checks=checks, disk=lambda: disk_use(cold_directories[-1]))


def measure_slow(contenders: Sequence[Contender], *, repeat: int) -> list[Timing]:
    """Time one call of each contender per round, `repeat` interleaved rounds, garbage collector off.

    No warm-up: the checks have called every contender already.
    """
    samples: list[list[float]] = [[] for _ in contenders]
    for _ in range(repeat):
        for contender, runs in zip(contenders, samples):
            runs.append(timeit.Timer(contender.call).timeit(1))
    return [Timing(tool=c.tool, median=statistics.median(runs), best=min(runs)) for c, runs in zip(contenders, samples)]


def time_cache_scenario(
    made: CacheScenario, *, repeat: int, slow_repeat: int, min_time: float
) -> tuple[list[Timing], list[Timing]]:
    """Check results, hits and writes, then time the scenario's settings and, separately, the slow ones."""
    check_agreement(made.scenario)
    for slow in made.slow:
        check_agreement(replace(made.scenario, units=slow.units, contenders=(slow.plain, slow.contender)))
    for check in made.checks:
        check()
    timings = measure(made.scenario.contenders, repeat=repeat, min_time=min_time)
    slow_timings = measure_slow([slow.contender for slow in made.slow], repeat=slow_repeat)
    return timings, slow_timings


# -- tables, targets and the report ---------------------------------------------------------------

Results = dict[str, tuple[CacheScenario, list[Timing], list[Timing], DiskUse | None]]


def hit_table(scenario: Scenario, timings: Sequence[Timing]) -> list[tuple[str, ...]]:
    by_tool = {t.tool: t.median for t in timings}
    rows: list[tuple[str, ...]] = [("setting", "µs/node (median)", "µs/node (best)", "vs no cache µs/node", "vs plain")]
    for t in timings:
        added = "-" if t.tool == PLAIN else f"{per_unit_us(t.median - by_tool[NO_CACHE], scenario):+.3f}"
        rows.append(
            (
                t.tool,
                f"{per_unit_us(t.median, scenario):.3f}",
                f"{per_unit_us(t.best, scenario):.3f}",
                added,
                f"{t.median / by_tool[PLAIN]:.1f}",
            )
        )
    return rows


def map_table(made: CacheScenario, timings: Sequence[Timing], slow_timings: Sequence[Timing]) -> list[tuple[str, ...]]:
    units = {c.tool: made.scenario.units for c in made.scenario.contenders}
    units.update({slow.contender.tool: slow.units for slow in made.slow})
    warm = {t.tool: t.median for t in timings}[DISK_WARM] / made.scenario.units
    rows: list[tuple[str, ...]] = [
        ("setting", "items", "items/s (median)", "items/s (best)", "µs/item (median)", "time vs DiskCache warm")
    ]
    for t in (*timings, *slow_timings):
        n = units[t.tool]
        rows.append(
            (
                t.tool,
                f"{n:,}",
                f"{n / t.median:,.0f}",
                f"{n / t.best:,.0f}",
                f"{t.median / n * 1e6:.2f}",
                f"{t.median / n / warm:.2f}",
            )
        )
    return rows


def targets(results: Results) -> list[Target]:
    """Judge HyperNodes' median times against the issue's targets."""
    judged = []
    if "hit" in results:
        made, timings, _, _ = results["hit"]
        by_tool = {t.tool: t.median for t in timings}
        for tool, goal in ((MEMORY_HIT, TARGET_MEMORY_HIT_US), (DISK_HIT, TARGET_DISK_HIT_US)):
            value = per_unit_us(by_tool[tool], made.scenario)
            judged.append(Target(what=f"hit: {tool}, per node", goal=goal, value=value, unit="µs", at_most=True))
    if "map" in results:
        made, timings, slow_timings, use = results["map"]
        rate = rates(made, timings, slow_timings)
        for tool, goal in ((DISK_WARM, TARGET_WARM_ITEMS_PER_S), (DISK_COLD, TARGET_COLD_ITEMS_PER_S)):
            judged.append(Target(what=f"map: {tool}", goal=goal, value=rate[tool], unit="items/s", at_most=False))
        if use is not None:
            judged.append(
                Target(
                    what="map: disk use of the cold run's cache over its content",
                    goal=TARGET_DISK_USE_RATIO,
                    value=use.ratio,
                    unit="x",
                    at_most=True,
                )
            )
    return judged


def rates(made: CacheScenario, timings: Sequence[Timing], slow_timings: Sequence[Timing]) -> dict[str, float]:
    """Return each setting's median items per second."""
    units = {slow.contender.tool: slow.units for slow in made.slow}
    return {t.tool: units.get(t.tool, made.scenario.units) / t.median for t in (*timings, *slow_timings)}


def reading(results: Results) -> list[str]:
    """Say what the figures show, in a few sentences built from them."""
    lines = []
    if "hit" in results:
        made, timings, _, _ = results["hit"]
        us = {t.tool: per_unit_us(t.median, made.scenario) for t in timings}
        lines.append(
            f"- **hit**: a node served from a `MemoryCache` costs {us[MEMORY_HIT]:.2f} µs and from a `DiskCache` "
            f"{us[DISK_HIT]:.2f} µs, the engine's own cost included; a node call without cache costs "
            f"{us[NO_CACHE]:.2f} µs. A hit pays for the call's signature (a digest of the node's code hash and "
            "its inputs' signatures) and the lookup; a disk hit also opens, reads, checks and unpickles a file."
        )
    if "map" in results:
        made, timings, slow_timings, use = results["map"]
        rate = rates(made, timings, slow_timings)
        line = (
            f"- **map**: the warm rerun from a `DiskCache` does {rate[DISK_WARM]:,.0f} items/s (3 hits per item), "
            f"{rate[DISK_WARM] / rate[DISK_COLD]:.1f} times the cold run ({rate[DISK_COLD]:,.0f} items/s, 3 "
            f"entries written per item); without cache the map does {rate[NO_CACHE]:,.0f} items/s, and "
            f"{rate[MEMORY_WARM]:,.0f} from a warm `MemoryCache`."
        )
        measured = [(name, PEER_SETTINGS[name][0]) for name in PEER_SETTINGS if name in rate]
        if measured:
            line += " On the same work, measured in this run: " + "; ".join(
                f"{name}, {rate[name]:,.0f} items/s ({rate[DISK_WARM] / rate[name]:.1f} times slower)"
                for name, _ in measured
            )
            line += "."
        quoted = " and ".join(f"{tool} about {value:,} items/s" for tool, value in ISSUE_PEER_FIGURES.items())
        line += f" Issue 4 quotes {quoted} for their disk caches on this work"
        line += "." if measured else " (not measured in this run)."
        lines.append(line)
        if use is not None:
            lines.append(f"- **disk**: after the cold run, {use.describe()}.")
    return [textwrap.fill(line, width=100, subsequent_indent="  ", break_on_hyphens=False) for line in lines]


def file_system() -> str:
    """Return the type and mount options of the file system holding the temporary directories."""
    try:
        mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "file system unknown"
    resolved = str(Path(tempfile.gettempdir()).resolve())
    inside = [m for m in mounts if len(m) > 3 and (resolved + "/").startswith(m[1].rstrip("/") + "/")]
    if not inside:
        return "file system unknown"
    device, mount_point, kind, options = max(inside, key=lambda m: len(m[1]))[:4]
    return f"{kind} on `{device}` at `{mount_point}` ({options})"


def write_report(path: Path, results: Results, argv: Sequence[str], timing: str, slow_timing: str) -> None:
    lines = [
        "# Cache overhead",
        "",
        f"What a cache hit costs per node (`run` of a {CHAIN_LENGTH}-node chain whose every node is a hit) and how",
        "fast a 3-node map is rerun from a warm `DiskCache`, next to a cold run into an empty one, no cache,",
        "plain Python, and the disk caches of [pipefunc](https://github.com/pipefunc/pipefunc) and",
        "[Apache Hamilton](https://github.com/apache/hamilton) on the same work. Every node does trivial",
        "integer work on small values, so the figures are the caches' own cost. Everything runs sequentially",
        "in one process with `config = RuntimeConfig(executor=InlineExecutor(), cache=...)`.",
        "",
        "`benchmarks/bench_cache.py` writes this file: rerun it rather than editing the figures.",
        "",
        "## Machine and command",
        "",
        *[f"- **{name}**: {value}" for name, value in machine(DISTRIBUTIONS)],
        f"- **caches in**: a fresh temporary directory under `{tempfile.gettempdir()}`, {file_system()}",
        f"- **load average** (1, 5, 15 min) at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- **command**: `{COMMAND}{' ' + shlex.join(argv) if argv else ''}`",
        f"- **timing**: {timing}; the cold run and the peers: {slow_timing}",
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
        "Targets are judged on HyperNodes' median time, the engine's own cost included.",
        "",
        "## What the figures show",
        "",
        *reading(results),
        "",
    ]
    for key, (made, timings, slow_timings, _) in results.items():
        scenario = made.scenario
        rows = hit_table(scenario, timings) if key == "hit" else map_table(made, timings, slow_timings)
        lines += [f"## {scenario.key}: {scenario.title}", "", as_markdown(rows), ""]
        contenders = (*scenario.contenders, *(slow.contender for slow in made.slow))
        lines += [*(f"- **{c.tool}**: {c.how}" for c in contenders), ""]
    lines += [
        "## How to read this",
        "",
        "- *µs/node* is one run's median (or best) time over the repeats, divided by the 10 nodes;",
        "  *vs no cache* is the difference to the run without cache, per node: what a hit costs more (or",
        "  less) than calling the node's trivial function. *vs plain* is a ratio of median times.",
        "- *items/s* is the map items over one map's median (or best) time; *time vs DiskCache warm* is",
        "  the setting's time per item over that of HyperNodes' warm rerun from a `DiskCache`.",
        "- The cold run and the peers' warm reruns take seconds per call at 10,000 items, so they are timed",
        "  once per round, in fewer rounds of their own (see *timing*; no warm-up: the checks ran them first).",
        "  The cold run that fills a peer's cache is timed once. Fewer repeats make these figures rougher.",
        "- A cold run's speed is mostly the file system's: it creates a temporary file and renames it for",
        "  every node call. On a virtual disk mounted with `discard`, file creation slows down for a while",
        "  after many files were deleted, so the cold directories are kept until the end of the run.",
        "- A warm `DiskCache` rerun reads entries written moments before, so they come from the operating",
        "  system's page cache, as they would for a rerun soon after a crash. The cold run includes making",
        "  the new cache directory and its fan-out subdirectories, and every write's temporary file and rename.",
        "- pipefunc's default disk cache puts an LRU of 128 entries, shared between processes through a",
        "  `multiprocessing` manager, in front of the files: each lookup is a call to that manager's process,",
        "  as the row without it shows. Hamilton's cache commits a record of every `execute` to SQLite, so its",
        "  figure also depends on how fast the disk syncs.",
        "- Before timing, every setting's results are checked against plain Python's; every warm HyperNodes",
        "  run is checked to be served from its cache (a callback counts hits and node starts), and a cold run",
        "  to leave one entry per node call. The peers' setup is checked on a twin of the node functions",
        "  that counts its calls: its warm rerun must call none. As with `timeit`, the garbage collector is",
        "  off while timing.",
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


def profile(made: CacheScenario, tool: str, seconds: float = 2.0) -> None:
    """Profile one HyperNodes setting with cProfile and print the functions costliest in themselves."""
    check_agreement(made.scenario)  # fills the warm caches
    (contender,) = [c for c in (*made.scenario.contenders, *(s.contender for s in made.slow)) if c.tool == tool]
    contender.call()
    number = max(1, round(seconds / timeit.Timer(contender.call).timeit(1)))
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [contender.call() for _ in range(number)])
    units = made.scenario.units
    print(f"cProfile of {tool}: {number} calls, {number * units:,} {made.scenario.unit}s")
    print("(cProfile inflates every Python call; compare functions with each other, not with the timings)")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(25)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Measure what a cache hit costs and how fast a warm map reruns.")
    parser.add_argument(
        "--quick", action="store_true", help="3 short repeats (slow settings: 1), 1,000 map items, no report"
    )
    parser.add_argument("--repeat", type=int, help="repeats per setting (default 11; --quick: 3)")
    parser.add_argument("--items", type=int, help=f"map items (default {MAP_ITEMS:,}; --quick: {QUICK_MAP_ITEMS:,})")
    parser.add_argument(
        "--peer-items", type=int, help=f"the peers' map items (default: --items; --quick: {QUICK_PEER_ITEMS})"
    )
    parser.add_argument("--scenario", action="append", choices=("hit", "map"), help="only these (repeatable)")
    parser.add_argument("--peers", nargs="*", choices=tuple(PEERS), default=list(PEERS), help="peers to compare with")
    parser.add_argument(
        "--report", type=Path, help=f"write the report here (default {DEFAULT_REPORT.relative_to(ROOT)})"
    )
    parser.add_argument("--no-report", action="store_true", help="print the tables only")
    parser.add_argument("--profile", choices=tuple(PROFILED), help="cProfile one HyperNodes setting")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> None:
    args = parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 11)
    slow_repeat = 1 if args.quick else min(repeat, SLOW_REPEAT)
    min_time = 0.02 if args.quick else 0.1
    items = args.items or (QUICK_MAP_ITEMS if args.quick else MAP_ITEMS)
    peer_items = min(items, args.peer_items or (QUICK_PEER_ITEMS if args.quick else items))
    with tempfile.TemporaryDirectory(prefix="bench_cache-") as root:
        scratch = Scratch(Path(root))
        if args.profile:
            tool = PROFILED[args.profile]
            made = hit_scenario(scratch) if tool in (MEMORY_HIT, DISK_HIT) else map_scenario(scratch, items, 0, [])
            profile(made, tool)
            return
        peers = installed_peers(args.peers)
        builders: dict[str, Callable[[], CacheScenario]] = {
            "hit": lambda: hit_scenario(scratch),
            "map": lambda: map_scenario(scratch, items, peer_items, peers),
        }
        timing = timing_description(repeat, min_time)
        rounds = f"{slow_repeat} interleaved round{'s' if slow_repeat > 1 else ''}"
        slow_timing = f"median and best of {rounds} of one call each; the peers on {peer_items:,} items"
        print(f"{platform.python_implementation()} {platform.python_version()} on {cpu_model()}; {timing}\n")
        results: Results = {}
        for key in args.scenario or builders:
            made = builders[key]()
            timings, slow_timings = time_cache_scenario(made, repeat=repeat, slow_repeat=slow_repeat, min_time=min_time)
            use = made.disk() if made.disk is not None else None
            results[key] = (made, timings, slow_timings, use)
            rows = hit_table(made.scenario, timings) if key == "hit" else map_table(made, timings, slow_timings)
            print(f"{key}: {made.scenario.title.replace('`', '')}\n{as_text(rows)}\n")
            if use is not None:
                print(f"disk: {use.describe()}\n")
    for t in targets(results):
        goal, measured = t.describe()
        print(f"target {t.what} {goal}: {measured}, {t.verdict}")
    report = args.report or (None if args.quick else DEFAULT_REPORT)
    if report is not None and not args.no_report:
        write_report(report, results, argv, timing, slow_timing)
        print(f"\nreport written to {report}")


if __name__ == "__main__":
    main(sys.argv[1:])
