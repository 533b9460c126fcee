"""How a broken pool is described, from what the caller knew when it broke (no processes needed)."""

from __future__ import annotations

import signal
from typing import Any

from hypernodes.executors._crash import Crash, describe

TERMINATED = -signal.SIGTERM  # how concurrent.futures stops the survivors


def _crash(**fields: Any) -> Crash:
    base: dict[str, Any] = {
        "owner": "ProcessPoolExecutor(max_workers=2)",
        "pipeline": "p",
        "channel": 7,
        "chunks": {0: 10, 10: 20, 20: 30},
        "exit_codes": {},
        "holders": {},
    }
    return Crash(**{**base, **fields})


def test_names_the_chunk_of_the_dead_worker_not_the_survivors() -> None:
    error = describe(_crash(exit_codes={11: -signal.SIGKILL, 12: TERMINATED}, holders={11: (7, 10), 12: (7, 20)}))
    assert "died while running map items 10-19 (pid 11, killed by SIGKILL)" in str(error)
    assert "out of memory" in str(error)
    assert error.item_index == 10


def test_names_every_candidate_when_all_died_alike() -> None:
    error = describe(_crash(exit_codes={11: TERMINATED, 12: TERMINATED}, holders={11: (7, 10), 12: (7, 0)}))
    assert "map items 0-9 (pid 12, killed by SIGTERM) and map items 10-19 (pid 11" in str(error)


def test_a_worker_that_died_after_finishing_its_chunk_is_not_blamed_for_it() -> None:
    error = describe(_crash(exit_codes={11: 3}, holders={11: (7, 10)}, answered=frozenset({10})))
    assert "after it finished map items 10-19" in str(error)
    assert "which items it held is unknown" in str(error)
    assert error.item_index is None


def test_a_worker_of_another_map_is_named_as_such() -> None:
    error = describe(_crash(exit_codes={11: 3}, holders={11: (8, 0)}))
    assert "died while running another map" in str(error)


def test_a_worker_that_never_took_a_chunk_died_while_starting() -> None:
    error = describe(_crash(exit_codes={11: 1}))
    assert "died while starting, before it ran any item of pipeline 'p' (exit code 1)" in str(error)
    assert '`if __name__ == "__main__":`' in str(error)
