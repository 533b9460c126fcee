"""Against a cluster started from the command line (``dask scheduler`` + 2 ``dask worker``s on 127.0.0.1).

The scheduler and workers run in another directory, so this test module (imported by path)
is not importable there: a raw Dask task of one of its functions fails, while HyperNodes
ships the nodes by value. One worker offers ``GPU=1``, the other nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hypernodes import CacheSpec, InvalidArgumentError, Pipeline, RuntimeConfig, node
from hypernodes.distributed import DaskExecutor, RemoteBackend
from hypernodes.executors import ThreadPoolExecutor
from hypernodes.testing.nodes import read_calls, record_call
from hypernodes.testing.recording import RecordingCallback

from .test_dask_executor import finishes


class ModuleError(Exception):
    """Defined here: it must travel by value too."""


def plain_double(x: int) -> int:
    return 2 * x


@node(output_name="doubled")
def double(x: int) -> int:
    return plain_double(x)


@node(output_name="squared")
def square(x: int) -> int:
    return x * x


@node(output_name="sum")
def add(doubled: int, squared: int) -> int:
    return doubled + squared


@node(output_name="y")
def reject_negative(x: int) -> int:
    if x < 0:
        raise ModuleError(f"negative: {x}")
    return x


@node(output_name="gpus")
def gpus_here(x: int) -> float:
    import distributed

    return float(distributed.get_worker().state.total_resources.get("GPU", 0))


@node(output_name="checked")
def crash_on_marked(x: int, log: str, marker: str) -> int:
    if x == 3 and Path(marker).exists():
        raise RuntimeError("simulated crash at item 3")
    record_call(log, f"checked-{x}")
    return x


@pytest.fixture(name="cli", scope="module")
def cli_executor(dask_cli: str) -> Iterator[DaskExecutor]:
    with DaskExecutor(dask_cli, resource_timeout=0.5) as executor:
        yield executor


def test_raw_dask_cannot_run_this_modules_functions_by_reference(dask_cli: str) -> None:
    import distributed

    with distributed.Client(dask_cli, set_as_default=False) as client, pytest.raises(Exception):  # noqa: B017
        client.submit(plain_double, 1).result(timeout=30)


def test_nodes_of_a_module_imported_by_path_run_by_value(cli: DaskExecutor) -> None:
    config = RuntimeConfig(executor=cli)
    assert Pipeline(nodes=[double, square, add]).run(inputs={"x": 3}, config=config) == {
        "doubled": 6, "squared": 9, "sum": 15,
    }  # fmt: skip
    out = Pipeline(nodes=[double, square, add]).map(inputs={"x": list(range(20))}, map_over="x", config=config)
    assert out["sum"] == [2 * x + x * x for x in range(20)]


def test_errors_and_events_come_back(cli: DaskExecutor) -> None:
    recorder = RecordingCallback()
    p = Pipeline(nodes=[reject_negative], name="checks")
    with pytest.raises(ModuleError, match="negative: -1") as info:
        p.map(inputs={"x": [1, -1, 2]}, map_over="x", config=RuntimeConfig(executor=cli, callbacks=[recorder]))
    assert "in node 'reject_negative' of checks, map item 1" in info.value.__notes__
    assert [e.item_index for e in recorder.hooks("on_node_error")] == [1]


def test_a_node_with_resources_runs_on_a_worker_that_has_them(cli: DaskExecutor) -> None:
    gpu = cli.with_resources(GPU=1)
    # a pipeline config, not a call-site one: a call-site config would apply to every node, overriding theirs
    p = Pipeline(nodes=[gpus_here.with_config(RuntimeConfig(executor=gpu))], config=RuntimeConfig(executor=cli))
    assert p.run(inputs={"x": 0}) == {"gpus": 1.0}
    # in a map, each item's chunk runs on either worker; the GPU node always goes to the GPU worker
    assert finishes(lambda: p.map(inputs={"x": list(range(8))}, map_over="x")) == {"gpus": [1.0] * 8}
    plain = Pipeline(nodes=[gpus_here], config=RuntimeConfig(executor=cli))
    assert set(plain.map(inputs={"x": list(range(8))}, map_over="x")["gpus"]) == {0.0, 1.0}  # chunks on both


def test_a_missing_resource_is_an_error_naming_what_the_workers_offer(cli: DaskExecutor) -> None:
    tpu = RuntimeConfig(executor=cli.with_resources(TPU=1))
    p = Pipeline(nodes=[double.with_config(tpu)], config=RuntimeConfig(executor=cli))
    with pytest.raises(InvalidArgumentError, match="TPU=1") as info:
        finishes(lambda: p.run(inputs={"x": 1}))
    assert "GPU=1" in str(info.value) and "none" in str(info.value)


def test_closing_an_executor_leaves_the_cluster_running(dask_cli: str) -> None:
    with DaskExecutor(dask_cli) as executor:
        Pipeline(nodes=[double]).run(inputs={"x": 1}, config=RuntimeConfig(executor=executor))
    import distributed

    with distributed.Client(dask_cli, set_as_default=False) as client:
        assert len(client.scheduler_info()["workers"]) == 2


def test_remote_backend_by_address_runs_and_maps(dask_cli: str) -> None:
    with RemoteBackend("dask", dask_cli) as backend, ThreadPoolExecutor(2) as threads:
        config = RuntimeConfig(backend=backend, executor=threads)
        assert Pipeline(nodes=[double, square, add]).run(inputs={"x": 2}, config=config)["sum"] == 8
        out = Pipeline(nodes=[double]).map(inputs={"x": list(range(30))}, map_over="x", config=config)
        assert out == {"doubled": [2 * x for x in range(30)]}
        with pytest.raises(ModuleError):
            Pipeline(nodes=[reject_negative]).run(inputs={"x": -5}, config=config)


@pytest.mark.parametrize("where", ["executor", "backend"])
def test_rerun_after_a_crash_recomputes_only_the_missing_items(dask_cli: str, tmp_path: Path, where: str) -> None:
    """A disk cache on storage every worker sees (here: this machine's disk) resumes a crashed map."""
    log, marker = tmp_path / "calls.log", tmp_path / "crash-marker"
    marker.touch()
    cache = CacheSpec(kind="disk", path=tmp_path / "shared-cache")
    executor: Any = DaskExecutor(dask_cli, chunksize=1) if where == "executor" else ThreadPoolExecutor(2)
    backend = RemoteBackend("dask", dask_cli, chunksize=1)
    config = RuntimeConfig(executor=executor, cache=cache)
    if where == "backend":
        config = config.replace(backend=backend)
    inputs = {"x": list(range(8)), "log": str(log), "marker": str(marker)}
    p = Pipeline(nodes=[crash_on_marked], name="resumable")
    try:
        with pytest.raises(RuntimeError, match="crash at item 3"):
            p.map(inputs=inputs, map_over="x", config=config)
        first = Counter(read_calls(log))
        assert first["checked-3"] == 0 and len(first) >= 1
        marker.unlink()  # the fix
        assert p.map(inputs=inputs, map_over="x", config=config) == {"checked": list(range(8))}
        calls = Counter(read_calls(log))
        assert set(calls) == {f"checked-{i}" for i in range(8)}
        assert all(n == 1 for n in calls.values()), calls  # nothing that finished before the crash ran again
    finally:
        executor.close()
        backend.close()
