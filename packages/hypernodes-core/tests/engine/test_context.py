"""Run and frame ids stay unique across processes, forked ones included."""

from __future__ import annotations

import multiprocessing
import sys

import pytest

from hypernodes.engine.context import new_frame_id


def _child_frame_id(queue: multiprocessing.Queue[str]) -> None:
    queue.put(new_frame_id())


@pytest.mark.skipif(sys.platform == "win32", reason="no fork on Windows")
def test_forked_children_make_frame_ids_of_their_own() -> None:
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[str] = context.Queue()
    children = [context.Process(target=_child_frame_id, args=(queue,)) for _ in range(2)]
    for child in children:
        child.start()
    ids = {queue.get(timeout=60) for _ in children}
    for child in children:
        child.join()
    ids.add(new_frame_id())
    assert len(ids) == 3  # each child continues the parent's counter, but not its prefix
