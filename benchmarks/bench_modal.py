"""Benchmark what ModalBackend costs that can be measured without a Modal account.

Run: ``uv run --with modal python benchmarks/bench_modal.py`` (``--quick`` for a smoke run);
the ``modal`` nox session runs it with ``--quick``. Without ``modal`` installed it says so
and exits (the ``benchmarks`` session does not install engines). Each HyperNodes figure sits
next to a baseline measured in the same run:

* fail fast: from ``pipeline.run`` to the error with no credentials (target < 1 s), with a
  refused connection, and with a server that accepts connections but never answers
  (``connect_timeout=1``; Modal's own client retries for about a minute);
* building the Modal objects (App, Function, default Image) offline;
* the offline path (``mode="local"``: payload encoded, Modal's ``Function.local`` running
  the real body, answer decoded) for a run and a 200-item map, next to the same pipeline on
  ``LocalBackend`` + ``SequentialExecutor``, plain Python, and raw ``Function.local``.

Remote figures (cold starts, per-call latency in the cloud) need an account; see
docs/advanced/modal.md for what to expect and how to measure them.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _harness

try:
    import modal
except ImportError:
    print("bench_modal: skipped, modal is not installed (run it in the `modal` nox session, or `uv run --with modal`)")
    sys.exit(0)

from hypernodes import HyperNodesError, Pipeline, RuntimeConfig, node
from hypernodes.executors import SequentialExecutor
from hypernodes.modal import ModalBackend

os.environ.setdefault("MODAL_SERVER_URL", "http://127.0.0.1:9")  # never the real API from here


def double(x: int) -> int:
    return 2 * x


def best_and_median(function: Callable[[], Any], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return min(samples), statistics.median(samples)


def failing(backend_factory: Callable[[], ModalBackend]) -> Callable[[], None]:
    pipeline = Pipeline(nodes=[node(double, output_name="y")])

    def run() -> None:
        try:
            pipeline.run(inputs={"x": 1}, config=RuntimeConfig(backend=backend_factory()))
        except HyperNodesError:
            return
        raise AssertionError("the run was expected to fail")

    return run


FRESH = """
import sys, time
from hypernodes import HyperNodesError, Pipeline, RuntimeConfig, node
from hypernodes.modal import ModalBackend
config = RuntimeConfig(backend=ModalBackend())
started = time.perf_counter()
try:
    Pipeline(nodes=[node(lambda x: x, output_name="y")]).run(inputs={"x": 1}, config=config)
except HyperNodesError:
    print(time.perf_counter() - started, "modal" in sys.modules)
"""


def fresh_process_failure() -> tuple[float, bool]:
    """Return how long the first failing run takes in a new process without credentials, and if it imported modal."""
    env = {**os.environ, "MODAL_TOKEN_ID": "", "MODAL_TOKEN_SECRET": ""}
    out = subprocess.run([sys.executable, "-c", FRESH], env=env, check=True, capture_output=True, text=True)
    seconds, imported = out.stdout.split()
    return float(seconds), imported == "True"


def bench_fail_fast(repeat: int) -> list[tuple[str, str]]:
    saved = {key: os.environ.get(key) for key in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_SERVER_URL")}
    rows = []
    try:
        os.environ.update(MODAL_TOKEN_ID="", MODAL_TOKEN_SECRET="")
        _, no_token = best_and_median(failing(ModalBackend), repeat)
        rows.append(("no credentials -> clear error", f"{no_token * 1000:.2f} ms (median of {repeat})"))
        fresh, imported = fresh_process_failure()
        modal_note = "imported modal" if imported else "modal not imported"
        rows.append(("  first run of a fresh process", f"{fresh * 1000:.1f} ms ({modal_note})"))
        os.environ.update(MODAL_TOKEN_ID="ak-fake", MODAL_TOKEN_SECRET="as-fake")
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
        os.environ["MODAL_SERVER_URL"] = f"http://127.0.0.1:{port}"
        _, refused = best_and_median(failing(ModalBackend), repeat)
        rows.append(("fake token, connection refused -> clear error", f"{refused * 1000:.1f} ms"))
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen(16)
            os.environ["MODAL_SERVER_URL"] = f"http://127.0.0.1:{server.getsockname()[1]}"
            _, silent = best_and_median(failing(lambda: ModalBackend(connect_timeout=1.0)), 1)
        rows.append(("fake token, silent server, connect_timeout=1", f"{silent:.2f} s (Modal alone: ~57 s of retries)"))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return rows


def bench_build(repeat: int) -> list[tuple[str, str]]:
    _, build = best_and_median(lambda: ModalBackend(gpu="A10G").function, repeat)

    def raw() -> None:
        app = modal.App("raw")
        app.function(serialized=True, image=modal.Image.debian_slim(python_version="3.11"))(double)

    _, raw_build = best_and_median(raw, repeat)
    return [
        ("build App + Function + default Image (offline)", f"{build * 1000:.2f} ms"),
        ("  raw modal.App + app.function(debian_slim)", f"{raw_build * 1000:.2f} ms"),
    ]


def bench_offline_path(items: int, repeat: int) -> list[tuple[str, str]]:
    pipeline = Pipeline(nodes=[node(double, output_name="y")], name="bench")
    xs = list(range(items))
    rows = []
    with ModalBackend(mode="local", items_per_call=max(1, items // 8)) as backend:
        on_modal = RuntimeConfig(backend=backend)
        local = RuntimeConfig(executor=SequentialExecutor())
        pipeline.run(inputs={"x": 1}, config=on_modal)  # builds the objects, opens the session
        _, run_modal = best_and_median(lambda: pipeline.run(inputs={"x": 1}, config=on_modal), repeat)
        _, run_local = best_and_median(lambda: pipeline.run(inputs={"x": 1}, config=local), repeat)
        _, map_modal = best_and_median(lambda: pipeline.map(inputs={"x": xs}, map_over="x", config=on_modal), repeat)
        _, map_local = best_and_median(lambda: pipeline.map(inputs={"x": xs}, map_over="x", config=local), repeat)
        raw_function = modal.App("raw-local").function(serialized=True)(double)
        _, raw = best_and_median(lambda: raw_function.local(1), repeat)
        _, plain = best_and_median(lambda: [double(x) for x in xs], repeat)
    rows += [
        ("run, offline path (mode='local')", f"{run_modal * 1e6:.0f} us"),
        ("  LocalBackend + SequentialExecutor", f"{run_local * 1e6:.0f} us"),
        ("  raw Function.local(1)", f"{raw * 1e6:.1f} us"),
        (f"map {items} items in 8 calls, offline path", f"{map_modal * 1000:.2f} ms"),
        ("  LocalBackend + SequentialExecutor", f"{map_local * 1000:.2f} ms"),
        ("  plain Python loop", f"{plain * 1e6:.1f} us"),
    ]
    return rows


REPORT = _harness.ROOT / "docs" / "benchmarks" / "modal.md"
COMMAND = "uv run --with modal python benchmarks/bench_modal.py"


def write_report(rows: list[tuple[str, str]], path: Path) -> None:
    facts = _harness.machine(["hypernodes-core", "hypernodes-modal", "modal"])
    machine = _harness.as_markdown([("fact", "value"), *facts])
    figures = _harness.as_markdown([("workload", "figure (same run)"), *rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# ModalBackend benchmark (offline)\n\n"
        f"Written by `{COMMAND}`; no Modal account was available, so these are the costs that can be measured "
        "offline: failing fast, building the Modal objects, and the offline path (`mode='local'`), each next to "
        "a baseline from the same run. Cloud figures (cold starts, call latency) are not measured here.\n\n"
        f"## Machine\n\n{machine}\n\n## Figures\n\n{figures}\n\n## Targets\n\n"
        "- no credentials: a clear error in well under 1 s\n"
        "- a silent server: a clear error after `connect_timeout`, not Modal's ~57 s of retries\n",
        encoding="utf-8",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="less work: a smoke run, figures are not meaningful")
    parser.add_argument("--no-report", action="store_true", help="print only; do not write the markdown report")
    args = parser.parse_args()
    repeat = 3 if args.quick else 15
    rows = bench_fail_fast(repeat) + bench_build(repeat) + bench_offline_path(40 if args.quick else 200, repeat)
    width = max(len(name) for name, _ in rows)
    for name, figure in rows:
        print(f"{name:<{width}}  {figure}")
    if not args.quick and not args.no_report:
        write_report(rows, REPORT)
        print(f"\nreport written to {REPORT}")


if __name__ == "__main__":
    main()
