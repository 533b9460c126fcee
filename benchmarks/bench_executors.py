"""Benchmark the executors of hypernodes-executors against plain Python doing the same work.

Run: ``uv run python benchmarks/bench_executors.py`` (``--quick`` for a smoke run with less work).
Each row puts a HyperNodes figure next to a baseline measured in the same run:

* thread map: 200 items x 10 ms of I/O (sleep), 8 workers, vs raw concurrent.futures; target
  >= 90 % of the ideal speed-up (sequential time / 8).
* async map: 1,000 items x 10 ms (asyncio.sleep), concurrency 100, vs raw asyncio with a
  semaphore; target >= 80 % of the ideal (sequential time / 100).
* process map: CPU-bound items on 2 worker processes vs a plain loop and raw
  concurrent.futures; target >= 1.7x over sequential (warm pool; the cold figure includes
  starting the workers).
* process map in one-item chunks: 4,000 and 16,000 trivial items, chunksize=1, 2 workers, vs
  raw concurrent.futures (``pool.map(f, xs, chunksize=1)``) and a plain loop; target: the
  cost per item stays flat from 4,000 to 16,000 items (collection is linear).
* default config (ThreadPoolExecutor(4)) on a 10-node linear chain vs SequentialExecutor and
  plain function calls; target <= 1.5x the sequential time.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _harness

from hypernodes import Pipeline, RuntimeConfig, node
from hypernodes.config.runtime import library_default_config
from hypernodes.executors import AsyncExecutor, ProcessPoolExecutor, SequentialExecutor, ThreadPoolExecutor

IO_SECONDS = 0.01


def io_bound(x: int) -> int:
    time.sleep(IO_SECONDS)
    return x


async def async_io(x: int) -> int:
    await asyncio.sleep(IO_SECONDS)
    return x


def cpu_bound(x: int) -> int:
    total = 0
    for i in range(1_000_000):
        total += (i * x) % 7
    return total


def bench_thread_map(items: int, workers: int) -> list[tuple[str, str]]:
    xs = list(range(items))
    p = Pipeline(nodes=[node(io_bound, output_name="y")])
    sequential = items * IO_SECONDS  # the sleeps alone; measuring it would add nothing but time
    ideal = sequential / workers
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        raw = _harness.timed(lambda: list(pool.map(io_bound, xs)), 3)
    with ThreadPoolExecutor(max_workers=workers) as executor:
        config = RuntimeConfig(executor=executor)
        p.map(inputs={"x": xs[:workers]}, map_over="x", config=config)  # start the pool
        ours = _harness.timed(lambda: p.map(inputs={"x": xs}, map_over="x", config=config), 3)
    return [
        (f"thread map {items} x 10 ms, {workers} workers", f"{ours:.3f} s = {ideal / ours:.0%} of ideal {ideal:.3f} s"),
        ("  raw concurrent.futures", f"{raw:.3f} s = {ideal / raw:.0%} of ideal"),
    ]


def bench_async_map(items: int, concurrency: int) -> list[tuple[str, str]]:
    xs = list(range(items))
    p = Pipeline(nodes=[node(async_io, output_name="y")])
    ideal = items * IO_SECONDS / concurrency

    async def raw_gather() -> list[int]:
        semaphore = asyncio.Semaphore(concurrency)

        async def one(x: int) -> int:
            async with semaphore:
                return await async_io(x)

        return await asyncio.gather(*(one(x) for x in xs))

    raw = _harness.timed(lambda: asyncio.run(raw_gather()), 3)
    with AsyncExecutor(max_concurrency=concurrency) as executor:
        config = RuntimeConfig(executor=executor)
        p.map(inputs={"x": xs[:10]}, map_over="x", config=config)
        ours = _harness.timed(lambda: p.map(inputs={"x": xs}, map_over="x", config=config), 3)
    return [
        (f"async map {items} x 10 ms, {concurrency} at once", f"{ours:.3f} s = {ideal / ours:.0%} of {ideal:.3f} s"),
        ("  raw asyncio + semaphore", f"{raw:.3f} s = {ideal / raw:.0%} of ideal"),
    ]


def bench_process_map(items: int, workers: int) -> list[tuple[str, str]]:
    xs = list(range(items))
    p = Pipeline(nodes=[node(cpu_bound, output_name="y")])
    sequential = _harness.timed(lambda: [cpu_bound(x) for x in xs])
    with concurrent.futures.ProcessPoolExecutor(workers) as pool:
        list(pool.map(cpu_bound, range(workers)))  # start the workers
        raw = _harness.timed(lambda: list(pool.map(cpu_bound, xs)), 2)
    executor = ProcessPoolExecutor(max_workers=workers)
    config = RuntimeConfig(executor=executor)
    cold = _harness.timed(lambda: p.map(inputs={"x": xs}, map_over="x", config=config))
    warm = _harness.timed(lambda: p.map(inputs={"x": xs}, map_over="x", config=config), 2)
    executor.close()
    return [
        (f"process map {items} CPU-bound items, {workers} workers", f"{warm:.3f} s = {sequential / warm:.2f}x plain"),
        ("  same, cold (starting the workers)", f"{cold:.3f} s = {sequential / cold:.2f}x plain"),
        ("  plain Python loop", f"{sequential:.3f} s"),
        ("  raw concurrent.futures", f"{raw:.3f} s = {sequential / raw:.2f}x plain"),
    ]


def increment(x: int) -> int:
    return x + 1


def bench_small_chunks(sizes: list[int], workers: int) -> list[tuple[str, str]]:
    p = Pipeline(nodes=[node(increment, output_name="y")])
    rows = []
    with ProcessPoolExecutor(max_workers=workers, chunksize=1) as executor:
        config = RuntimeConfig(executor=executor)
        p.map(inputs={"x": [1, 2]}, map_over="x", config=config)  # start the workers
        with concurrent.futures.ProcessPoolExecutor(workers) as pool:
            list(pool.map(increment, range(workers)))
            for size in sizes:
                xs = list(range(size))
                ours = _harness.timed(lambda xs=xs: p.map(inputs={"x": xs}, map_over="x", config=config))
                raw = _harness.timed(lambda xs=xs: list(pool.map(increment, xs, chunksize=1)))
                plain = _harness.timed(lambda xs=xs: [increment(x) for x in xs])
                rows += [
                    (
                        f"process map {size} items, chunksize=1, {workers} workers",
                        f"{ours:.2f} s = {ours / size * 1e6:.0f} us/item",
                    ),
                    ("  raw concurrent.futures, chunksize=1", f"{raw:.2f} s = {raw / size * 1e6:.0f} us/item"),
                    ("  plain Python loop", f"{plain * 1e3:.2f} ms"),
                ]
    return rows


def bench_linear_chain(runs: int) -> list[tuple[str, str]]:
    def step(value: int) -> int:
        return value + 1

    nodes = []
    for i in range(10):
        source = "x" if i == 0 else f"v{i}"
        nodes.append(node(_make_step(source), output_name=f"v{i + 1}", name=f"n{i + 1}"))
    p = Pipeline(nodes=nodes, name="chain")

    def plain() -> int:
        value = 0
        for _ in range(10):
            value = step(value)
        return value

    def batch(config: RuntimeConfig) -> float:
        started = time.perf_counter()
        for _ in range(runs):
            p.run(inputs={"x": 0}, config=config)
        return (time.perf_counter() - started) / runs

    # Alternate the two configs, so that drifts of the machine's speed hit both alike.
    sequential_config, default_config = RuntimeConfig(executor=SequentialExecutor()), library_default_config()
    samples: dict[str, list[float]] = {"sequential": [], "default": []}
    for _ in range(9):
        samples["sequential"].append(batch(sequential_config))
        samples["default"].append(batch(default_config))
    sequential = statistics.median(samples["sequential"])
    default = statistics.median(samples["default"])
    plain_time = _harness.timed(lambda: [plain() for _ in range(runs)], 5) / runs
    return [
        ("default config, 10-node chain", f"{default * 1e6:.1f} us/run = {default / sequential:.2f}x sequential"),
        ("  SequentialExecutor", f"{sequential * 1e6:.1f} us/run"),
        ("  plain function calls", f"{plain_time * 1e6:.2f} us/run"),
    ]


def bench_small_nodes(items: int, runs: int) -> list[tuple[str, str]]:
    """The default executor and AsyncExecutor on trivial nodes, next to SequentialExecutor."""

    @node(output_name="a")
    def first(x: int) -> int:
        return x + 1

    @node(output_name="b")
    def second(a: int) -> int:
        return a * 2

    @node(output_name="c")
    def third(b: int) -> int:
        return b - 1

    p = Pipeline(nodes=[first, second, third], name="small")
    xs = list(range(items))
    sequential_config = RuntimeConfig(executor=SequentialExecutor())
    async_config = RuntimeConfig(executor=AsyncExecutor())

    def mapped(config: RuntimeConfig) -> float:
        started = time.perf_counter()
        p.map(inputs={"x": xs}, map_over="x", config=config)
        return (time.perf_counter() - started) / items

    def single(config: RuntimeConfig) -> float:
        started = time.perf_counter()
        for _ in range(runs):
            p.run(inputs={"x": 1}, config=config)
        return (time.perf_counter() - started) / runs

    samples: dict[str, list[float]] = {"seq map": [], "default map": [], "seq run": [], "async run": []}
    for _ in range(5):  # interleaved, so that drifts of the machine's speed hit every figure alike
        samples["seq map"].append(mapped(sequential_config))
        samples["default map"].append(mapped(library_default_config()))
        samples["seq run"].append(single(sequential_config))
        samples["async run"].append(single(async_config))
    med = {name: statistics.median(values) for name, values in samples.items()}
    return [
        (
            f"default config, 3-node map over {items} items",
            f"{med['default map'] * 1e6:.2f} us/item = {med['default map'] / med['seq map']:.2f}x sequential",
        ),
        ("  SequentialExecutor", f"{med['seq map'] * 1e6:.2f} us/item"),
        ("AsyncExecutor, 3-node run", f"{med['async run'] * 1e6:.1f} us/run"),
        ("  SequentialExecutor", f"{med['seq run'] * 1e6:.1f} us/run"),
    ]


def _make_step(source: str) -> Callable[..., int]:
    namespace: dict[str, Any] = {}
    exec(f"def step({source}: int) -> int:\n    return {source} + 1", namespace)  # a parameter named after its input
    return namespace["step"]  # type: ignore[no-any-return]


REPORT = _harness.ROOT / "docs" / "benchmarks" / "executors.md"
COMMAND = "uv run python benchmarks/bench_executors.py"
TARGETS = (
    "thread map: >= 90 % of the ideal speed-up",
    "async map: >= 80 % of the ideal speed-up",
    "process map: >= 1.7x over the plain loop (warm pool)",
    "process map, chunksize=1: the cost per item is flat from 4,000 to 16,000 items",
    "default config on a 10-node chain: <= 1.5x the sequential time",
    "default config, 3-node map of trivial nodes: <= 1.5x the sequential time",
    "AsyncExecutor, 3-node run: <= 50 us",
)


def write_report(rows: list[tuple[str, str]], path: Path) -> None:
    machine = _harness.as_markdown([("fact", "value"), *_harness.machine(["hypernodes-core", "hypernodes-executors"])])
    figures = _harness.as_markdown([("workload", "figure (same run)"), *rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Executors benchmark\n\n"
        f"Written by `{COMMAND}`; each HyperNodes figure is next to plain Python or raw "
        "`concurrent.futures`/`asyncio` doing the same work in the same run.\n\n"
        f"## Machine\n\n{machine}\n\n## Figures\n\n{figures}\n\n## Targets\n\n"
        + "\n".join(f"- {target}" for target in TARGETS)
        + "\n\nRead the figures against them: the first line of each block is HyperNodes.\n",
        encoding="utf-8",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="less work: a smoke run, figures are not meaningful")
    parser.add_argument("--no-report", action="store_true", help="print only; do not write the markdown report")
    args = parser.parse_args()
    quick = args.quick
    rows: list[tuple[str, str]] = []
    rows += bench_thread_map(40 if quick else 200, 8)
    rows += bench_async_map(200 if quick else 1000, 100)
    rows += bench_process_map(4 if quick else 40, 2)
    rows += bench_small_chunks([100, 400] if quick else [4000, 16000], 2)
    rows += bench_linear_chain(50 if quick else 2000)
    rows += bench_small_nodes(500 if quick else 10_000, 50 if quick else 1000)
    width = max(len(name) for name, _ in rows)
    for name, figure in rows:
        print(f"{name:<{width}}  {figure}")
    if not quick and not args.no_report:
        write_report(rows, REPORT)
        print(f"\nreport written to {REPORT}")


if __name__ == "__main__":
    main()
