"""Benchmark resources (built once per worker) and batch forms against their per-item equivalents.

Run: ``uv run python benchmarks/bench_resources.py`` (``--quick`` for a smoke run with less work).
Each row puts a HyperNodes figure next to plain Python doing the same work in the same run:

* resource map: 10,000 items whose "model" costs 50 ms to build (a sleep standing for loading
  weights) and little per item. Declared with ``resource()``, it is built once per executor;
  a node that builds it per call pays 50 ms per item, so that row is measured on a sample of
  items and extrapolated to the whole map (10,000 x 50 ms would take over 8 minutes).
* batch form: a numpy node (a 3-layer MLP, 32-64-64-16) over 10,000 items, per-item form against
  batch form: under ``ProcessPoolExecutor(2)`` (which runs each chunk through the batch form)
  and in-process under a 10-line vectorising executor calling ``run_batch`` (the seam a Daft
  executor uses), next to a plain numpy loop and one plain matrix product.

Needs numpy (skips with a message when it is missing). BLAS runs one thread per process.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

import _harness

from hypernodes import InlineExecutor, Pipeline, RuntimeConfig, node, resource
from hypernodes.executor import MapRequest, run_batch
from hypernodes.executors import ProcessPoolExecutor, SequentialExecutor, ThreadPoolExecutor

# One BLAS thread per process (worker processes inherit it): on a small machine, BLAS threads
# of two worker processes (or of a loaded machine) oversubscribe the cores and make a matrix
# product of a whole batch slower than a loop of small ones.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

try:
    import numpy as np
except ImportError:  # the benchmarks session may run without numpy
    np = None  # type: ignore[assignment]

BUILD_SECONDS = 0.05
DIM_IN, DIM_HIDDEN, DIM_OUT = 32, 64, 16


class Model:
    """A "model" that takes BUILD_SECONDS to load, then projects vectors."""

    def __init__(self) -> None:
        time.sleep(BUILD_SECONDS)
        self.matrix = np.random.default_rng(0).standard_normal((DIM_IN, DIM_OUT))

    def score(self, x: int) -> float:
        return float(self.matrix[x % DIM_IN, 0])


def load_model() -> Model:
    return Model()


MODEL = resource(load_model, version="1")


def score(x: int, model: Model = MODEL) -> float:  # type: ignore[assignment]
    return model.score(x)


def score_rebuilding(x: int) -> float:
    return load_model().score(x)  # no resource: the model is built on every call


def project(features: Any) -> Any:
    hidden = np.tanh(features @ LAYERS[0])
    hidden = np.tanh(hidden @ LAYERS[1])
    return hidden @ LAYERS[2]


def project_batch(features: list[Any]) -> list[Any]:
    return list(project(np.stack(features)))  # the same layers, one matrix product each for the chunk


LAYERS: list[Any] = []  # set in main() once numpy is known to be there


class BatchingExecutor(InlineExecutor):
    """A vectorising in-process executor: a map through the nodes' batch forms (the Daft seam)."""

    def map_items(self, request: MapRequest) -> list[dict[str, Any]]:
        batched = run_batch(request)
        return super().map_items(request) if batched is None else batched


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Return the best wall time of `repeat` calls and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


def bench_resource_map(items: int, sample: int, repeat: int) -> list[tuple[str, str]]:
    xs = list(range(items))
    with_resource = Pipeline(nodes=[node(score, output_name="s")])
    rebuilding = Pipeline(nodes=[node(score_rebuilding, output_name="s")])

    def plain_once() -> list[float]:
        model = load_model()
        return [model.score(x) for x in xs]

    def fresh(make: Callable[[], Any], pipeline: Pipeline, values: list[int]) -> Callable[[], list[float]]:
        def call() -> list[float]:
            with make() as executor:  # a new executor: its first call builds the model
                return pipeline.map(inputs={"x": values}, map_over="x", config=RuntimeConfig(executor=executor))["s"]

        return call

    plain, expected = timed(plain_once, repeat)
    sequential, got = timed(fresh(SequentialExecutor, with_resource, xs), repeat)
    assert got == expected
    threads, got = timed(fresh(lambda: ThreadPoolExecutor(2), with_resource, xs), repeat)
    assert got == expected
    with SequentialExecutor() as executor:  # built once, then reused by every later map
        config = RuntimeConfig(executor=executor)
        with_resource.map(inputs={"x": xs[:1]}, map_over="x", config=config)
        warm, got = timed(lambda: with_resource.map(inputs={"x": xs}, map_over="x", config=config)["s"], repeat)
    assert got == expected
    part = xs[:sample]
    rebuilt, got = timed(fresh(SequentialExecutor, rebuilding, part), 1)
    assert got == expected[:sample]
    plain_rebuilt, _ = timed(lambda: [score_rebuilding(x) for x in part], 1)
    scale = items / sample
    ms = BUILD_SECONDS * 1e3
    return [
        (f"resource map, {items:,} items, {ms:.0f} ms build, SequentialExecutor", f"{sequential:.3f} s (one build)"),
        ("  same, ThreadPoolExecutor(2)", f"{threads:.3f} s (one build)"),
        ("  same, executor reused (model already built)", f"{warm:.3f} s (no build)"),
        ("  plain Python, model built once", f"{plain:.3f} s"),
        (
            "  HyperNodes, model built per item (no resource)",
            f"{rebuilt * scale:.1f} s, extrapolated from {sample} items ({rebuilt / sample * 1e3:.1f} ms/item)"
            f" = {rebuilt * scale / sequential:.0f}x slower",
        ),
        ("  plain Python, model built per item", f"{plain_rebuilt * scale:.1f} s, extrapolated from {sample} items"),
    ]


def bench_batch_form(items: int, repeat: int) -> list[tuple[str, str]]:
    rng = np.random.default_rng(1)
    features = [rng.standard_normal(DIM_IN) for _ in range(items)]
    batched_node = node(project, output_name="p", batch=project_batch)
    per_item_node = batched_node.with_batch(None)
    batched, per_item = Pipeline(nodes=[batched_node]), Pipeline(nodes=[per_item_node])
    inputs = {"features": features}

    def agree(result: Any, expected: Any) -> None:
        assert len(result) == len(expected) and all(np.allclose(a, b) for a, b in zip(result, expected))

    loop, expected = timed(lambda: [project(f) for f in features], repeat)
    product, got = timed(lambda: project_batch(features), repeat)
    agree(got, expected)
    def run(pipeline: Pipeline, config: RuntimeConfig) -> list[Any]:
        return pipeline.map(inputs=inputs, map_over="features", config=config)["p"]

    with ProcessPoolExecutor(max_workers=2) as executor:
        config = RuntimeConfig(executor=executor)
        run(per_item, config)  # start the workers
        pool_items, got = timed(lambda: run(per_item, config), repeat)
        agree(got, expected)
        pool_batch, got = timed(lambda: run(batched, config), repeat)
        agree(got, expected)
    inline_items, got = timed(lambda: run(per_item, RuntimeConfig(executor=SequentialExecutor())), repeat)
    agree(got, expected)
    inline_batch, got = timed(lambda: run(batched, RuntimeConfig(executor=BatchingExecutor())), repeat)
    agree(got, expected)
    return [
        (
            f"batch form, numpy MLP {DIM_IN}-{DIM_HIDDEN}-{DIM_HIDDEN}-{DIM_OUT}, {items:,} items, 2 processes",
            f"{pool_batch:.3f} s = {pool_items / pool_batch:.2f}x its per-item form",
        ),
        ("  per-item form, ProcessPoolExecutor(2)", f"{pool_items:.3f} s"),
        (
            "  batch form, in-process executor calling run_batch",
            f"{inline_batch:.3f} s = {inline_items / inline_batch:.2f}x its per-item form",
        ),
        ("  per-item form, SequentialExecutor", f"{inline_items:.3f} s"),
        ("  plain numpy loop, one item at a time", f"{loop:.3f} s"),
        ("  plain numpy, the whole batch at once", f"{product:.3f} s"),
    ]


REPORT = _harness.ROOT / "docs" / "benchmarks" / "resources.md"
COMMAND = "uv run python benchmarks/bench_resources.py"


def main() -> None:
    args = _harness.figures_parser(__doc__).parse_args()
    if np is None:
        print("bench_resources.py: skipped, numpy is not installed (pip install numpy)")
        return
    rng = np.random.default_rng(0)
    shapes = [(DIM_IN, DIM_HIDDEN), (DIM_HIDDEN, DIM_HIDDEN), (DIM_HIDDEN, DIM_OUT)]
    LAYERS[:] = [rng.standard_normal(shape) / np.sqrt(shape[0]) for shape in shapes]
    quick = args.quick
    repeat = 1 if quick else 3
    rows = bench_resource_map(1_000 if quick else 10_000, 4 if quick else 40, repeat)
    rows += bench_batch_form(1_000 if quick else 10_000, repeat)
    width = max(len(name) for name, _ in rows)
    for name, figure in rows:
        print(f"{name:<{width}}  {figure}")
    if not quick and not args.no_report:
        _harness.write_figures_report(
            REPORT,
            title="Resources and batch forms benchmark",
            intro=f"Written by `{COMMAND}`; each HyperNodes figure is next to plain Python doing the same work in "
            "the same run (best of 3). Building the model per item is measured on a sample of items and "
            "extrapolated to the whole map (10,000 x 50 ms would take over 8 minutes).",
            rows=rows,
            distributions=["hypernodes-core", "hypernodes-executors", "numpy"],
            tail="The first line of each block is HyperNodes' figure; the lines below it are what it compares with.",
        )
        print(f"\nreport written to {REPORT}")


if __name__ == "__main__":
    sys.exit(main())
