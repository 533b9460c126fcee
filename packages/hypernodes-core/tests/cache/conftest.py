"""Fixtures of the cache tests: modules made from source, damaged entries, crafted pickles, and a real
S3 server on 127.0.0.1 (moto in server mode)."""

from __future__ import annotations

import importlib.util
import itertools
import socket
import sys
import textwrap
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hypernodes.cache import MISSING, Cache

Loader = Callable[[str, str], types.ModuleType]


@pytest.fixture(name="load")
def load_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Loader]:
    """Write `source` as module `name` in a fresh directory and import it (a new module object)."""
    directories = itertools.count()

    def load(name: str, source: str) -> types.ModuleType:
        directory = tmp_path / f"version{next(directories)}"
        directory.mkdir()
        path = directory / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)
        spec.loader.exec_module(module)
        return module

    yield load


def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _flip_a_payload_byte(data: bytes) -> bytes:
    damaged = bytearray(data)
    damaged[-3] ^= 0xFF
    return bytes(damaged)


def _empty(data: bytes) -> bytes:
    return b""


@pytest.fixture(name="damage", params=[_truncate, _flip_a_payload_byte, _empty], ids=["truncated", "flipped", "empty"])
def damage_fixture(request: pytest.FixtureRequest) -> Callable[[bytes], bytes]:
    """One way an entry's bytes get damaged: torn, bit-flipped, emptied."""
    damage: Callable[[bytes], bytes] = request.param
    return damage


@pytest.fixture(name="check_damage_is_caught")
def check_damage_is_caught_fixture() -> Callable[[Cache, Callable[[], None]], None]:
    """Return a check: after `damage_entry()`, the entry is one warning, then quiet misses, then rewritten."""

    def check(cache: Cache, damage_entry: Callable[[], None]) -> None:
        cache.put("sig", list(range(100)), node_name="n")
        damage_entry()
        with pytest.warns(RuntimeWarning, match="unusable") as record:
            assert cache.get("sig") is MISSING
        assert len(record) == 1
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert cache.get("sig") is MISSING  # no second warning
            cache.put("sig", list(range(100)), node_name="n")
            assert cache.get("sig") == list(range(100))

    return check


class CodeRunningPickle:
    """A value whose pickle runs code when it is loaded: it creates the `marker` file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


@pytest.fixture(name="crafted_pickle")
def crafted_pickle_fixture() -> type[CodeRunningPickle]:
    """The class of crafted pickles (an attacker's entry): ``crafted_pickle(marker)``."""
    return CodeRunningPickle


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(name="s3_server", scope="session")
def s3_server_fixture() -> Iterator[dict[str, Any]]:
    """Start moto's S3 server on a free local port for the session; yield s3fs storage options."""
    try:
        import s3fs
        from moto.server import ThreadedMotoServer
    except ImportError:  # the core nox session and the dev group install both
        pytest.fail("these tests need moto[server] and s3fs: pip install 'moto[server]' s3fs")
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    options = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "eu-west-1"},
        "skip_instance_cache": True,
    }
    try:
        s3fs.S3FileSystem(**options).mkdir("hypernodes-test")
        yield options
    finally:
        server.stop()
