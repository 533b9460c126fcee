"""The test matrix: each package's own tests, and the behaviour suite once per executor.

Run everything with ``uv run nox``; list sessions with ``uv run nox -l``; run one with
``uv run nox -s core``. Every test session builds a fresh virtual environment with uv from the
running Python, installing the workspace members it needs in editable mode.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = [
    "lint", "core", "example_executor", "executors", "behaviour", "release_rehearsal", "install_alone",
    "daft", "daft_process", "daft_ray", "modal", "distributed_dask", "distributed_ray", "distributed_spark",
    "benchmarks",
]  # fmt: skip

CORE = "packages/hypernodes-core[testing,progress,tracing,viz]"
# What the local sessions install: engines (Daft, Dask, Ray, Spark, Modal) only go into the
# sessions that test them, so these stay light and fast.
MEMBERS = ("packages/hypernodes-executors",)
DAFT = "packages/hypernodes-daft"
DAFT_ENV = {"DO_NOT_TRACK": "1", "DAFT_PROGRESS_BAR": "0"}
EXECUTORS = ["sequential", "asynchronous", "thread_pool", "process_pool", "composite"]
PYTEST = ("pytest", "-q", "-p", "no:cacheprovider")


def _install(session: nox.Session, *members: str) -> None:
    args: list[str] = []
    for member in (CORE, *members):
        args += ["-e", member]
    session.install(*args)


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """Ruff over the tree and mypy --strict over core's and the executors' src/ (each engine session types its own)."""
    session.run("uv", "run", "--frozen", "ruff", "check", ".", external=True)
    session.run(
        "uv", "run", "--frozen", "mypy", "--strict",
        "packages/hypernodes-core/src/hypernodes",
        "packages/hypernodes-executors/src/hypernodes/executors",
        external=True,
    )  # fmt: skip


@nox.session
def core(session: nox.Session) -> None:
    """hypernodes-core alone: its tests, its doctests, and the behaviour suite in-process.

    The fsspec cache is tested against moto's S3 server on 127.0.0.1 (started by a fixture).
    """
    _install(session)
    session.install("numpy", "pydantic", "uv", "fsspec>=2023.6", "s3fs>=2023.6", "moto[server]>=5")
    session.run(
        *PYTEST, "packages/hypernodes-core/tests",
        "--ignore", "packages/hypernodes-core/tests/test_example_executor.py",
        "--ignore", "packages/hypernodes-core/tests/test_docs.py",  # runs with the executors, as users have them
        "--doctest-modules", "packages/hypernodes-core/src/hypernodes",
        *session.posargs,
    )  # fmt: skip


@nox.session
def example_executor(session: nox.Session) -> None:
    """The behaviour suite under examples/custom_executor.py, written against hypernodes.executor alone."""
    _install(session)
    session.run(*PYTEST, "packages/hypernodes-core/tests/test_example_executor.py", *session.posargs)


@nox.session
def executors(session: nox.Session) -> None:
    """hypernodes-executors' own tests, and every Python block of README and docs/ (with core + executors)."""
    _install(session, *MEMBERS)
    session.install("numpy", "pydantic")  # numpy: examples/resources_example.py
    session.run(
        *PYTEST, "packages/hypernodes-executors/tests", "packages/hypernodes-core/tests/test_docs.py",
        "--ignore", "packages/hypernodes-executors/tests/test_behaviour.py",
        *session.posargs,
    )  # fmt: skip


@nox.session
@nox.parametrize("executor", EXECUTORS)
def behaviour(session: nox.Session, executor: str) -> None:
    """The executor-agnostic behaviour suite under one executor of hypernodes-executors."""
    _install(session, *MEMBERS)
    session.run(
        *PYTEST, "packages/hypernodes-executors/tests/test_behaviour.py", *session.posargs,
        env={"HYPERNODES_EXECUTOR": executor},
    )  # fmt: skip


@nox.session(python=False)
def release(session: nox.Session) -> None:
    """Rehearse one distribution's release: `uv run nox -s release -- hypernodes-daft` (see tools/release.py)."""
    if len(session.posargs) != 1:
        session.error("name the distribution: uv run nox -s release -- hypernodes-daft")
    session.run("uv", "run", "--frozen", "python", "tools/release.py", *session.posargs, external=True)


DISTRIBUTIONS = [
    "hypernodes-core", "hypernodes-executors", "hypernodes-daft", "hypernodes-modal", "hypernodes-distributed",
]  # fmt: skip


@nox.session(python=False)
@nox.parametrize("dist", DISTRIBUTIONS)
def install_alone(session: nox.Session, dist: str) -> None:
    """Build one distribution's wheel, install it alone (core from its own wheel) in a fresh venv, smoke-test it."""
    out = Path(session.create_tmp()) / "dist"
    session.run(
        "uv", "run", "--frozen", "python", "tools/release.py", dist, "--install-alone", "--out", str(out),
        external=True,
    )  # fmt: skip


@nox.session
def release_rehearsal(session: nox.Session) -> None:
    """The release command's own tests: a full release of one distribution rehearsed in a clone."""
    session.install("pytest")
    session.run(*PYTEST, "tools/tests", *session.posargs)


@nox.session
def daft(session: nox.Session) -> None:
    """hypernodes-daft on Daft's native runner: its tests, the behaviour suite, mypy --strict over its src."""
    _install(session, "packages/hypernodes-executors", DAFT)
    session.install("numpy", "pydantic", "mypy>=1.13")
    session.run(
        *PYTEST, "packages/hypernodes-daft/tests", "-m", "not ray", *session.posargs, env=DAFT_ENV,
    )  # fmt: skip
    session.run(*PYTEST, "packages/hypernodes-core/tests/test_docs.py", "-k", "daft", env=DAFT_ENV)  # its page runs
    session.run("python", "benchmarks/bench_daft.py", "--quick", env=DAFT_ENV)  # the benchmarks session has no Daft
    session.run(
        "mypy", "--strict", "--config-file", "pyproject.toml", "packages/hypernodes-daft/src/hypernodes/daft",
        env={"MYPYPATH": "packages/hypernodes-core/src:packages/hypernodes-daft/src"},
    )  # fmt: skip


@nox.session
def daft_process(session: nox.Session) -> None:
    """The behaviour suite under DaftExecutor(use_process=True): items in Daft's UDF processes (slow: ~2 min)."""
    _install(session, DAFT)
    session.install("numpy", "pydantic")
    session.run(
        *PYTEST, "packages/hypernodes-daft/tests/test_behaviour.py", *session.posargs,
        env={**DAFT_ENV, "HYPERNODES_DAFT_MODES": "use_process"},
    )  # fmt: skip


@nox.session
def daft_ray(session: nox.Session) -> None:
    """DaftExecutor(runner="ray") on a local Ray (2 CPUs), in a process of its own (Daft sets its runner once)."""
    _install(session, "packages/hypernodes-executors", f"{DAFT}[ray]")  # executors: CompositeExecutor over Daft
    session.install("numpy", "pydantic")
    session.run(*PYTEST, "packages/hypernodes-daft/tests", "-m", "ray", *session.posargs, env=DAFT_ENV)


@nox.session
def benchmarks(session: nox.Session) -> None:
    """Smoke-run every benchmark script with --quick, so they keep working; figures are not asserted."""
    _install(session, *MEMBERS)
    session.install("pipefunc>=0.90", "apache-hamilton>=1.88", "opentelemetry-sdk>=1.25")
    for script in sorted(Path("benchmarks").glob("bench_*.py")):
        session.run("python", str(script), "--quick")


@nox.session
def modal(session: nox.Session) -> None:
    """hypernodes-modal offline: its tests, doctests, page, mypy --strict, example and benchmark smoke run.

    The cloud smoke test runs only with HYPERNODES_MODAL_REMOTE=1 and a Modal token.
    """
    _install(session, "packages/hypernodes-executors", "packages/hypernodes-modal")
    session.install("mypy>=1.13")
    session.run(
        *PYTEST, "packages/hypernodes-modal/tests",
        "--doctest-modules", "packages/hypernodes-modal/src/hypernodes/modal",
        *session.posargs,
    )  # fmt: skip
    session.run(*PYTEST, "packages/hypernodes-core/tests/test_docs.py", "-k", "modal")  # its page runs
    session.run(
        "mypy", "--strict", "packages/hypernodes-modal/src/hypernodes/modal",
        env={"MYPYPATH": "packages/hypernodes-modal/src"},
    )  # fmt: skip
    session.run("python", "benchmarks/bench_modal.py", "--quick")


DISTRIBUTED_TESTS = "packages/hypernodes-distributed/tests"


@nox.session
def distributed_dask(session: nox.Session) -> None:
    """hypernodes-distributed with the [dask] extra: DaskExecutor and RemoteBackend("dask") on real clusters.

    Also checks the packaging (which engines each extra pulls; importing the package loads none), mypy --strict
    over the package, and smoke-runs benchmarks/bench_distributed.py.
    """
    _install(session, "packages/hypernodes-executors", "packages/hypernodes-distributed[dask]")
    session.install("mypy>=1.13", "uv")
    session.run(*PYTEST, DISTRIBUTED_TESTS, "-m", "not spark", *session.posargs)
    session.run("mypy", "--strict", "packages/hypernodes-distributed/src/hypernodes/distributed")
    session.run("python", "benchmarks/bench_distributed.py", "--quick")  # the benchmarks session has no Dask


@nox.session
def distributed_spark(session: nox.Session) -> None:
    """RemoteBackend("spark") on a classic local[2] Spark, then on a local Spark Connect server (needs Java 17).

    One environment, one Spark per pytest run (a process holds one kind of Spark session).
    """
    _install(session, "packages/hypernodes-executors", "packages/hypernodes-distributed[spark]")
    for spark in ("classic", "connect"):
        session.run(*PYTEST, DISTRIBUTED_TESTS, "-m", "spark", *session.posargs, env={"HYPERNODES_SPARK": spark})


@nox.session
def distributed_ray(session: nox.Session) -> None:
    """hypernodes-distributed's Ray half: RayExecutor and the "ray" RemoteBackend kind on a real local Ray."""
    _install(session, "packages/hypernodes-executors", "packages/hypernodes-distributed[ray]")
    session.install("mypy>=1.13")
    src = "packages/hypernodes-distributed/src/hypernodes/distributed"
    mine = ("__init__.py", "ray_executor.py", "_remote_ray.py", "_ray_tasks.py", "_ray_graph.py", "_ray_cluster.py")
    mypy_path = {"MYPYPATH": "packages/hypernodes-distributed/src"}
    session.run("mypy", "--strict", *(f"{src}/{name}" for name in mine), env=mypy_path)
    session.run(*PYTEST, "packages/hypernodes-distributed/tests/ray", *session.posargs)
    session.run("python", "benchmarks/bench_ray.py", "--quick")
    session.run("python", "examples/ray_example.py")
