"""RayExecutor against raw Ray tasks and plain Python, side by side in one run.

* per-item overhead: a 10 ms node over 200 items (target: at most 1.3x raw ``ray.remote``
  tasks, one per item) and a trivial node (microseconds per item);
* a CPU-bound map on 2 CPUs: speed-up over plain sequential Python, next to raw Ray.

Everything runs on one local ``ray.init(num_cpus=2)`` started by this script (loopback only).
``--quick`` runs each scenario once on fewer items (the ``benchmarks`` nox session's smoke
run); without it, the figures go to docs/benchmarks/ray.md. Skips cleanly without Ray.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import _harness

try:
    import ray
except ImportError:
    print("bench_ray: skipped, Ray is not installed (pip install 'hypernodes-distributed[ray]')")
    sys.exit(0)

from hypernodes import Pipeline, RuntimeConfig, node
from hypernodes.distributed import RayExecutor


def sleepy(x: int) -> int:
    time.sleep(0.01)
    return x


def trivial(x: int) -> int:
    return x + 1


def burn(x: int) -> int:
    total = 0
    for i in range(200_000 + x):
        total += i * i % 7
    return total


def _best(call: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer items, one repeat, no report")
    args = parser.parse_args()
    repeat = 1 if args.quick else 3
    n_sleepy, n_trivial, n_cpu = (20, 200, 8) if args.quick else (200, 2000, 40)
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rows = _run(repeat, n_sleepy, n_trivial, n_cpu)
    finally:
        ray.shutdown()
    table = [("scenario", "tool", "seconds", "µs per item", "vs raw Ray"), *rows]
    print(_harness.as_text(table))
    if not args.quick:
        facts = _harness.machine(["hypernodes-core", "hypernodes-distributed", "ray"])
        report = _harness.ROOT / "docs" / "benchmarks" / "ray.md"
        report.write_text(
            "# Benchmark: RayExecutor vs raw Ray tasks\n\n"
            "Made by `python benchmarks/bench_ray.py` (best of 3, one local `ray.init(num_cpus=2)`; "
            "RayExecutor with its default chunking, raw Ray with one `ray.remote` task per item).\n\n"
            + _harness.as_markdown([("fact", "value"), *facts])
            + "\n\n"
            + _harness.as_markdown(table)
            + "\n"
        )
        print(f"wrote {report}")


def _run(repeat: int, n_sleepy: int, n_trivial: int, n_cpu: int) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    executor = RayExecutor()
    config = RuntimeConfig(executor=executor)
    for label, function, count in (
        (f"10 ms node x {n_sleepy}", sleepy, n_sleepy),
        (f"trivial node x {n_trivial}", trivial, n_trivial),
        (f"CPU-bound x {n_cpu} (2 CPUs)", burn, n_cpu),
    ):
        items = list(range(count))
        remote = ray.remote(function)
        pipeline = Pipeline(nodes=[node(output_name="y")(function)], name="bench")
        ray.get([remote.remote(0) for _ in range(4)])  # warm the workers
        pipeline.map(inputs={"x": items[:4]}, map_over="x", config=config)
        plain_s, plain = _best(lambda f=function, xs=items: [f(x) for x in xs], 1)
        raw_s, raw = _best(lambda r=remote, xs=items: ray.get([r.remote(x) for x in xs]), repeat)
        ours_s, ours = _best(
            lambda p=pipeline, xs=items: p.map(inputs={"x": xs}, map_over="x", config=config)["y"], repeat
        )
        assert plain == raw == ours, label
        timings = (("plain Python (sequential)", plain_s), ("raw ray.remote", raw_s), ("RayExecutor", ours_s))
        for tool, seconds in timings:
            rows.append((label, tool, f"{seconds:.3f}", f"{seconds / count * 1e6:.0f}", f"{seconds / raw_s:.2f}x"))
    executor.close()
    return rows


if __name__ == "__main__":
    main()
