"""Fixtures of the cache tests: a real S3-compatible server on 127.0.0.1 (moto in server mode)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest


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
