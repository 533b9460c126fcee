"""Real engines, started once per test session and stopped by the fixture that started them.

* ``dask_client``: a ``LocalCluster`` of 2 worker processes (1 thread each), with a ``GPU``
  resource on one of them (``resource_timeout`` makes the tests of missing resources quick).
* ``dask_cli``: a scheduler and two workers started from the command line on 127.0.0.1, as
  on a real cluster (the scheduler unpickles the task graphs: only by-value code works
  there); one worker offers the resource ``GPU=1``, the other none. One thread each.
* ``spark_session``: the Spark of ``HYPERNODES_SPARK`` (``classic``: ``local[2]``, or
  ``connect``: a local Spark Connect server), for the tests marked ``spark``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spark: needs pyspark and Java (the distributed_spark nox session)")


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def dask_client(dask_cluster: Any) -> Iterator[Any]:
    import distributed

    with distributed.Client(dask_cluster, set_as_default=False) as client:
        yield client


@pytest.fixture(scope="session")
def dask_cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `dask scheduler` and two `dask worker`s (1 thread each, one with GPU=1) on 127.0.0.1; yield the address."""
    pytest.importorskip("distributed")
    tmp = tmp_path_factory.mktemp("dask-cli")
    dask = str(Path(sys.executable).with_name("dask"))  # the CLI of this environment's Dask
    scheduler_file = tmp / "scheduler.json"
    env = dict(os.environ)
    processes = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(scheduler_file)],
            cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            if time.monotonic() > deadline or processes[0].poll() is not None:
                raise RuntimeError("dask scheduler did not start")
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        for extra in (["--resources", "GPU=1"], []):
            processes.append(
                subprocess.Popen(
                    [dask, "worker", address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1", *extra],
                    cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        import distributed

        with distributed.Client(address, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """One Spark per test session: HYPERNODES_SPARK=classic (local[2], the default) or connect (a local server)."""
    pytest.importorskip("pyspark")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    mode = os.environ.get("HYPERNODES_SPARK", "classic")
    builder = SparkSession.builder.appName("hypernodes-tests")
    if mode == "connect":
        builder = builder.remote("local[2]")
    elif mode == "classic":
        builder = builder.master("local[2]").config("spark.ui.enabled", "false")
    else:
        raise pytest.UsageError(f"HYPERNODES_SPARK={mode!r} is not 'classic' or 'connect'")
    session = builder.getOrCreate()
    try:
        yield session
    finally:
        session.stop()
