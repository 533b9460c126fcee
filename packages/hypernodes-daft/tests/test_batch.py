"""DaftExecutor runs a node's batch form for each batch of rows (per-row cache and hooks kept)."""

from __future__ import annotations

from pathlib import Path

from hypernodes import CacheSpec, Pipeline, RuntimeConfig
from hypernodes.daft import DaftExecutor
from hypernodes.testing.nodes import read_calls
from hypernodes.testing.resource_nodes import computed, triple


def batch_calls(log: str) -> list[int]:
    return [int(line.split()[1]) for line in read_calls(log) if line.startswith("batch-call ")]


def test_batches_of_rows_run_through_the_batch_form(tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    with DaftExecutor(batch_size=4) as executor:
        out = Pipeline(nodes=[triple]).map(
            inputs={"x": list(range(10)), "log": log}, map_over="x", config=RuntimeConfig(executor=executor)
        )
    assert out == {"tripled": [3 * x for x in range(10)]}
    calls = batch_calls(log)
    assert sum(calls) == 10 and max(calls) <= 4  # one call per batch of rows
    assert not [line for line in read_calls(log) if line.startswith("item ")]  # the per-item function never ran


def test_cached_rows_are_taken_out_of_the_batch(tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    with DaftExecutor() as executor:
        config = RuntimeConfig(executor=executor, cache=CacheSpec(kind="disk", path=tmp_path / "cache"))
        p = Pipeline(nodes=[triple])
        p.map(inputs={"x": [0, 2, 4], "log": log}, map_over="x", config=config)
        assert p.map(inputs={"x": list(range(6)), "log": log}, map_over="x", config=config) == {
            "tripled": [3 * x for x in range(6)]
        }
    assert sorted(computed(log)) == list(range(6))
    assert batch_calls(log)[-1] == 3  # the second map's batch held only its three misses
