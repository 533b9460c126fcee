"""RemoteBackend's own behaviour: arguments, pickling, and nested levels that stay where they run."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from hypernodes import InvalidArgumentError, Pipeline, RuntimeConfig, node
from hypernodes.distributed import RemoteBackend
from hypernodes.executors import SequentialExecutor


@node(output_name="doubled")
def double(x: int) -> int:
    return 2 * x


@node(output_name="where")
def where(doubled: int) -> str:
    import distributed

    try:
        return str(distributed.get_worker().address)
    except ValueError:
        return "caller"


def test_an_unknown_kind_lists_the_kinds() -> None:
    with pytest.raises(InvalidArgumentError, match="'dask', 'ray', 'spark'"):
        RemoteBackend("slurm")  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "fix"), [("dask", "tcp://host:8786"), ("spark", "local[2]")])
def test_a_kind_without_an_address_says_what_to_pass(kind: Any, fix: str) -> None:
    with pytest.raises(InvalidArgumentError, match=fix.replace("[", r"\[")):
        Pipeline(nodes=[double]).run(inputs={"x": 1}, config=RuntimeConfig(backend=RemoteBackend(kind)))


def test_bad_chunksize_is_an_error() -> None:
    with pytest.raises(InvalidArgumentError, match="chunksize"):
        RemoteBackend("dask", "tcp://127.0.0.1:8786", chunksize=0)


def test_pickles_as_its_settings_never_a_live_connection(dask_client: Any) -> None:
    backend = RemoteBackend("dask", client=dask_client, chunksize=3)
    copy = pickle.loads(pickle.dumps(backend))
    assert (copy.kind, copy.chunksize, copy.settings.client) == ("dask", 3, None)


def test_a_nested_level_with_its_own_remote_backend_runs_where_it_already_is(dask_client: Any) -> None:
    unreachable = RemoteBackend("dask", "tcp://127.0.0.1:9")  # would fail if it were ever contacted
    sequential = SequentialExecutor()
    inner = Pipeline(nodes=[where], name="inner", config=RuntimeConfig(backend=unreachable, executor=sequential))
    with RemoteBackend("dask", client=dask_client) as backend:
        remote = RuntimeConfig(backend=backend, executor=sequential)
        outer = Pipeline(nodes=[double, inner], name="outer", config=remote)
        out = outer.run(inputs={"x": 2})  # pipeline configs (a call-site config would replace the inner one)
    assert out["doubled"] == 4 and out["where"].startswith("tcp://127.0.0.1")


def test_a_client_passed_as_the_address_is_used_as_the_client(dask_client: Any) -> None:
    with RemoteBackend("dask", dask_client) as backend:
        assert (backend.address, backend.settings.client) == (None, dask_client)
        out = Pipeline(nodes=[double, where]).run(inputs={"x": 3}, config=RuntimeConfig(backend=backend))
    assert out["doubled"] == 6 and out["where"].startswith("tcp://127.0.0.1")  # ran on that client's cluster
    with pytest.raises(InvalidArgumentError, match="pass one of them"):
        RemoteBackend("dask", dask_client, client=dask_client)
