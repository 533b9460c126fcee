"""What ProcessPoolExecutor does when things go wrong in its worker processes.

Run: ``uv run python examples/process_pool_faults.py``. It shows, with real processes:

1. a worker that dies (here ``os._exit``) on one item: the error names the items it held;
2. a sync node that hangs past its timeout: ``NodeTimeoutError``, and the worker that still
   runs the hung call is replaced (killed), so the call really stops;
3. the same executor keeps working after both.

(A worker also never outlives the script: kill this script mid-map and its workers exit.)
"""

from __future__ import annotations

import os
import textwrap
import threading

from hypernodes import NodeTimeoutError, Pipeline, RuntimeConfig, WorkerCrashedError, node
from hypernodes.executors import ProcessPoolExecutor


@node(output_name="checked")
def check(x: int) -> int:
    if x == 37:
        os._exit(1)  # as a crash in native code, or the OOM killer, would end the worker
    return x


@node(output_name="answer")
def slow_lookup(x: int) -> int:
    if x == 3:
        threading.Event().wait()  # hangs: only stopping its process stops it
    return x * 10


@node(output_name="pid")
def worker_pid(x: int) -> int:
    return os.getpid()


def main() -> None:
    with ProcessPoolExecutor(max_workers=2, chunksize=10) as executor:
        config = RuntimeConfig(executor=executor)
        try:
            Pipeline(nodes=[check], name="checks").map(inputs={"x": list(range(100))}, map_over="x", config=config)
        except WorkerCrashedError as error:
            print("1.", textwrap.fill(f"{type(error).__name__}: {error}", 100, subsequent_indent="   "))
            print(f"   first item of the chunk the dead worker held: {error.item_index}")

        before = set(Pipeline(nodes=[worker_pid]).map(inputs={"x": [1, 2]}, map_over="x", config=config)["pid"])
        try:
            Pipeline(nodes=[slow_lookup], name="lookups").map(
                inputs={"x": [1, 2, 3]}, map_over="x", config=config.replace(timeout=1.0)
            )
        except NodeTimeoutError as error:
            print("2.", textwrap.fill(f"{type(error).__name__}: {error}", 100, subsequent_indent="   "))
        after = set(Pipeline(nodes=[worker_pid]).map(inputs={"x": [1, 2]}, map_over="x", config=config)["pid"])
        print(f"   workers before {sorted(before)}, after {sorted(after)}: replaced = {not before & after}")

        out = Pipeline(nodes=[slow_lookup]).map(inputs={"x": [1, 2]}, map_over="x", config=config)
        print(f"3. the executor still works: {out}")


if __name__ == "__main__":
    main()
