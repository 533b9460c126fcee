"""What ProcessPoolExecutor does when things go wrong in its worker processes.

Run: ``uv run python examples/process_pool_faults.py``. It shows, with real processes:

1. a worker that dies (here ``os._exit``) on one item: the error names the items it held;
2. a sync node that hangs past its timeout: ``NodeTimeoutError``, and the worker that still
   runs the hung call is killed as soon as its chunk answers (so the call really stops) and
   replaced, while the other worker goes on;
3. the same executor keeps working after both.

(A worker also never outlives the script: kill this script mid-map and its workers exit.)
"""

from __future__ import annotations

import os
import tempfile
import textwrap
import threading
from pathlib import Path

from hypernodes import NodeTimeoutError, Pipeline, RuntimeConfig, WorkerCrashedError, node
from hypernodes.executors import ProcessPoolExecutor


@node(output_name="checked")
def check(x: int) -> int:
    if x == 37:
        os._exit(1)  # as a crash in native code, or the OOM killer, would end the worker
    return x


@node(output_name="answer")
def slow_lookup(x: int, folder: str) -> int:
    Path(folder, f"{os.getpid()}.pid").touch()
    if x == 3:
        Path(folder, "hung").write_text(str(os.getpid()))
        threading.Event().wait()  # hangs: only stopping its process stops it
    return x * 10


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def main() -> None:
    with ProcessPoolExecutor(max_workers=2, chunksize=10) as executor, tempfile.TemporaryDirectory() as folder:
        config = RuntimeConfig(executor=executor)
        try:
            Pipeline(nodes=[check], name="checks").map(inputs={"x": list(range(100))}, map_over="x", config=config)
        except WorkerCrashedError as error:
            print("1.", textwrap.fill(f"{type(error).__name__}: {error}", 100, subsequent_indent="   "))
            print(f"   first item of the chunk the dead worker held: {error.item_index}")

        lookups = Pipeline(nodes=[slow_lookup], name="lookups")
        try:
            lookups.map(  # two chunks: items 0-9 (3 hangs) and 10-19, on the two workers
                inputs={"x": list(range(20)), "folder": folder}, map_over="x", config=config.replace(timeout=1.0)
            )
        except NodeTimeoutError as error:
            print("2.", textwrap.fill(f"{type(error).__name__}: {error}", 100, subsequent_indent="   "))
        hung = int(Path(folder, "hung").read_text())
        others = [int(path.stem) for path in Path(folder).glob("*.pid") if int(path.stem) != hung]
        print(f"   the worker of the hung call (pid {hung}) was killed: {not is_alive(hung)}")
        print(f"   the other worker is still alive: {all(is_alive(pid) for pid in others)}")

        out = lookups.map(inputs={"x": [1, 2], "folder": folder}, map_over="x", config=config)
        print(f"3. the executor still works: {out}")


if __name__ == "__main__":
    main()
