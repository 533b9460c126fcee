"""Benchmark the cluster executors of hypernodes-distributed against their raw engines, in the same run.

Run: ``uv run --with "dask[distributed]" python benchmarks/bench_distributed.py`` (``--quick``
for a smoke run with less work; the ``distributed_dask`` nox session runs that). An engine
that is not installed is skipped with a message. Each section starts its engine once, on
this machine, with 2 single-threaded worker processes, and times each contender's best of a
few repeats (the least disturbed by other processes):

Dask (``DaskExecutor`` on a ``LocalCluster``):

* per-item overhead with a 10 ms node over 200 items: ``DaskExecutor`` map vs raw
  ``client.map`` + ``client.gather`` of the same function; target <= 1.3x raw.
* per-item overhead with a trivial node: µs per item, next to raw ``client.map`` and a
  plain loop.
* a CPU-bound map on 2 workers: speed-up over a plain loop, next to raw ``client.map``.

Ray: a section for ``RayExecutor`` against raw ``ray.remote`` tasks belongs next to Dask's
(add a ``bench_ray`` function to ``SECTIONS``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from collections.abc import Callable
from pathlib import Path

import _harness

from hypernodes import Pipeline, RuntimeConfig, node

IO_SECONDS = 0.01


def sleepy(x: int) -> int:
    time.sleep(IO_SECONDS)
    return x


def trivial(x: int) -> int:
    return x + 1


def cpu_bound(x: int) -> int:
    total = 0
    for i in range(400_000):
        total += (i * x) % 7
    return total


def _map(function: Callable[[int], int], config: RuntimeConfig, xs: list[int]) -> list[int]:
    out: list[int] = Pipeline(nodes=[node(function, output_name="y")]).map(
        inputs={"x": xs}, map_over="x", config=config
    )["y"]
    return out


def bench_dask(quick: bool) -> tuple[list[tuple[str, str]], list[_harness.Target]]:
    from distributed import Client, LocalCluster

    from hypernodes.distributed import DaskExecutor

    repeat = 1 if quick else 5
    rows: list[tuple[str, str]] = []
    targets: list[_harness.Target] = []
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster, set_as_default=False) as client,
        DaskExecutor(client=client) as executor,
    ):
        config = RuntimeConfig(executor=executor)

        def raw(function: Callable[[int], int], xs: list[int]) -> list[int]:
            return client.gather(client.map(function, xs, pure=False))  # type: ignore[no-any-return]

        # warm-up: the workers import HyperNodes and the functions once
        assert raw(sleepy, [1, 2]) == _map(sleepy, config, [1, 2])

        xs = list(range(40 if quick else 200))
        assert raw(sleepy, xs) == _map(sleepy, config, xs) == xs
        raw_io = _harness.timed(lambda: raw(sleepy, xs), repeat)
        ours_io = _harness.timed(lambda: _map(sleepy, config, xs), repeat)
        ideal = len(xs) * IO_SECONDS / 2
        rows += [
            (f"DaskExecutor map, {len(xs)} x 10 ms node, 2 workers", f"{ours_io:.3f} s = {ours_io / raw_io:.2f}x raw"),
            ("  raw client.map + gather", f"{raw_io:.3f} s"),
            ("  ideal (the sleeps / 2 workers)", f"{ideal:.3f} s"),
        ]
        targets.append(_harness.Target(what="10 ms node map vs raw client.map", goal=1.3,
                                       value=ours_io / raw_io, unit="x", at_most=True))  # fmt: skip

        xs = list(range(500 if quick else 5000))
        expected = [x + 1 for x in xs]
        assert raw(trivial, xs) == _map(trivial, config, xs) == expected
        plain = _harness.timed(lambda: [trivial(x) for x in xs], repeat)
        raw_trivial = _harness.timed(lambda: raw(trivial, xs), repeat)
        ours_trivial = _harness.timed(lambda: _map(trivial, config, xs), repeat)
        per = 1e6 / len(xs)
        rows += [
            (f"DaskExecutor map, {len(xs)} trivial items", f"{ours_trivial * per:.1f} µs/item"),
            ("  raw client.map + gather (one task per item)", f"{raw_trivial * per:.1f} µs/item"),
            ("  plain Python loop", f"{plain * per:.2f} µs/item"),
        ]

        xs = list(range(8 if quick else 40))
        assert raw(cpu_bound, xs) == _map(cpu_bound, config, xs)
        sequential = _harness.timed(lambda: [cpu_bound(x) for x in xs], 1 if quick else 2)
        raw_cpu = _harness.timed(lambda: raw(cpu_bound, xs), repeat)
        ours_cpu = _harness.timed(lambda: _map(cpu_bound, config, xs), repeat)
        rows += [
            (f"DaskExecutor map, {len(xs)} CPU-bound items, 2 workers",
             f"{ours_cpu:.3f} s = {sequential / ours_cpu:.2f}x plain"),
            ("  raw client.map + gather", f"{raw_cpu:.3f} s = {sequential / raw_cpu:.2f}x plain"),
            ("  plain Python loop", f"{sequential:.3f} s"),
        ]
    return rows, targets


# engine -> (module that must be importable, the section's function)
SECTIONS: dict[str, tuple[str, Callable[[bool], tuple[list[tuple[str, str]], list[_harness.Target]]]]] = {
    "dask": ("distributed", bench_dask),
}

REPORT = _harness.ROOT / "docs" / "benchmarks" / "distributed.md"
COMMAND = 'uv run --with "dask[distributed]" python benchmarks/bench_distributed.py'


def write_report(rows: list[tuple[str, str]], targets: list[_harness.Target], path: Path) -> None:
    facts = _harness.machine(["hypernodes-core", "hypernodes-distributed", "dask", "distributed", "ray"])
    facts.append(("load average (1, 5, 15 min) at the end", ", ".join(f"{load:.1f}" for load in os.getloadavg())))
    machine = _harness.as_markdown([("fact", "value"), *facts])
    figures = _harness.as_markdown([("workload", "figure (same run)"), *rows])
    goals = _harness.as_markdown(
        [("target", "goal", "measured", "verdict"), *[(t.what, *t.describe(), t.verdict) for t in targets]]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Distributed benchmark\n\n"
        f"Written by `{COMMAND}`; each HyperNodes figure is next to the raw engine (and plain Python) "
        "doing the same work in the same run, on a local cluster of 2 single-threaded worker processes. "
        "Times are the best of 5 repeats, after a warm-up.\n\n"
        f"## Machine\n\n{machine}\n\n## Figures\n\n{figures}\n\n## Targets\n\n{goals}\n",
        encoding="utf-8",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="less work: a smoke run, figures are not meaningful")
    parser.add_argument("--no-report", action="store_true", help="print only; do not write the markdown report")
    parser.add_argument("--engine", action="append", choices=sorted(SECTIONS), help="run only these sections")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    targets: list[_harness.Target] = []
    for engine in args.engine or sorted(SECTIONS):
        module, section = SECTIONS[engine]
        if importlib.util.find_spec(module) is None:
            print(f"{engine}: skipped, {module} is not installed (pip install 'hypernodes-distributed[{engine}]')")
            continue
        section_rows, section_targets = section(args.quick)
        rows += section_rows
        targets += section_targets
    if not rows:
        return
    print(_harness.as_text([("workload", "figure (same run)"), *rows]))
    for target in targets:
        goal, value = target.describe()
        print(f"target: {target.what} {goal}: {value} ({target.verdict})")
    if not args.quick and not args.no_report:
        write_report(rows, targets, REPORT)
        print(f"report written to {REPORT.relative_to(_harness.ROOT)}")


if __name__ == "__main__":
    main()
