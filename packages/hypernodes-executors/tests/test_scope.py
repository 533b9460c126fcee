from __future__ import annotations

import contextvars
from collections.abc import Generator

from hypernodes.executors import _scope


def _marked_work() -> Generator[None, None, None]:
    with _scope.inside("key", "payload"):
        yield


def test_marks_last_for_the_block_only() -> None:
    with _scope.inside("key", "payload"):
        assert _scope.enclosing("key") == "payload"
        assert _scope.is_inside("key")
    assert _scope.enclosing("key") is _scope.ABSENT
    assert not _scope.is_inside("key")


def test_work_closed_from_another_context_leaves_that_context_unmarked() -> None:
    # As a coroutine that the garbage collector finalises: started in its own Context,
    # closed (GeneratorExit) in whichever Context the collector runs in.
    work = _marked_work()
    contextvars.copy_context().run(next, work)
    work.close()  # raised ValueError: the mark's token belongs to the other Context
    assert not _scope.is_inside("key")
