"""Nodes of the Ray tests (a module the workers cannot import: the tests load it by path)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from hypernodes import node
from hypernodes.testing.nodes import read_calls, record_call


def _wait_for(path: Path, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} never happened")
        time.sleep(0.01)


@node(output_name="where")
def task_resources(x: int) -> dict[str, float]:
    import ray

    return dict(ray.get_runtime_context().get_assigned_resources())


@node(output_name="in_task")
async def async_in_task(x: int) -> tuple[int, bool]:
    import ray

    await asyncio.sleep(0)
    return x + 1, ray.get_runtime_context().get_task_id() is not None


@node(output_name="seen")
def wait_for_first_item(x: int, marker: str) -> int:
    if x > 0:  # runs while item 0's events are still on their way to the caller
        _wait_for(Path(marker), "the caller's callback seeing item 0 end")
    return x


@node(output_name="checked")
def crash_while_marked(x: int, log: str, marker: str) -> int:
    record_call(log, f"checked-{x}")
    if x == 3 and os.path.exists(marker):
        deadline = time.monotonic() + 60
        while len(set(read_calls(log))) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)  # let items 0-2 finish (and be cached) first
        os._exit(1)  # the worker process dies: a real crash, not an exception
    return x


def _meet(rendezvous: str, me: str, other: str) -> str:
    """Say `me` is running, wait until `other` runs too (so both run at once); return this Ray task's id."""
    import ray

    (Path(rendezvous) / me).touch()
    _wait_for(Path(rendezvous) / other, f"node {other!r} running while node {me!r} runs")
    return str(ray.get_runtime_context().get_task_id())


@node(output_name="base")
def base(x: int) -> int:
    return x + 1


@node(output_name=("left", "left_task"))
def left(base: int, rendezvous: str) -> tuple[int, str]:
    return 2 * base, _meet(rendezvous, "left", "right")


@node(output_name=("right", "right_task"))
def right(base: int, rendezvous: str) -> tuple[int, str]:
    return 3 * base, _meet(rendezvous, "right", "left")


@node(output_name="joined")
def join(left: int, right: int) -> int:
    return left + right


@node(output_name="cubed")
def logged_cube(y: int, log: str) -> int:
    record_call(log, f"cube-{y}")
    return y**3


@node(output_name="combined")
def logged_combine(shifted: int, cubed: int, log: str) -> int:
    record_call(log, f"combine-{shifted}-{cubed}")
    return shifted + cubed
