"""The fast-fail paths: no credentials, an API that refuses connections, and one that never answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hypernodes import HyperNodesError, Pipeline, RuntimeConfig, node
from hypernodes.modal import ModalBackend


@node(output_name="y")
def increment(x: int) -> int:
    return x + 1


def _run(backend: ModalBackend) -> None:
    Pipeline(nodes=[increment]).run(inputs={"x": 1}, config=RuntimeConfig(backend=backend))


@pytest.fixture(name="fake_token")
def fake_token_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-not-a-token")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-not-a-secret")


@pytest.fixture(name="silent_server")
def silent_server_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A server on 127.0.0.1 that accepts connections (the kernel's backlog) and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        monkeypatch.setenv("MODAL_SERVER_URL", url)
        yield url


def test_no_credentials_fails_before_any_network_with_how_to_authenticate(monkeypatch: pytest.MonkeyPatch) -> None:
    # Empty variables take precedence over ~/.modal.toml, so this holds on a machine with a token too.
    monkeypatch.setenv("MODAL_TOKEN_ID", "")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "")
    with pytest.raises(HyperNodesError, match="no Modal credentials") as caught:
        _run(ModalBackend())
    message = str(caught.value)
    assert "modal token new" in message and "MODAL_TOKEN_ID" in message and ".modal.toml" in message


def test_a_refused_connection_fails_at_once(fake_token: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens once it is closed
    monkeypatch.setenv("MODAL_SERVER_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(HyperNodesError, match=r"could not connect to the Modal API .*Refused"):
        _run(ModalBackend())


def test_a_silent_server_is_given_up_on_after_connect_timeout(fake_token: None, silent_server: str) -> None:
    with pytest.raises(HyperNodesError, match=r"did not answer within connect_timeout=0.5s"):
        _run(ModalBackend(connect_timeout=0.5))


def test_no_session_is_kept_after_a_failed_check(fake_token: None, silent_server: str) -> None:
    backend = ModalBackend(connect_timeout=0.2)
    with pytest.raises(HyperNodesError):
        _run(backend)
    assert backend._session is None  # the next run checks again


def test_a_config_file_without_a_token_is_read_by_modals_own_rules(tmp_path: Path) -> None:
    config = tmp_path / "modal.toml"
    config.write_text('[default]\nserver_url = "http://127.0.0.1:9"\n')
    code = (
        "from hypernodes import HyperNodesError, Pipeline, RuntimeConfig, node\n"
        "from hypernodes.modal import ModalBackend\n"
        "try:\n"
        "    Pipeline(nodes=[node(lambda x: x, output_name='y')]).run(\n"
        "        inputs={'x': 1}, config=RuntimeConfig(backend=ModalBackend()))\n"
        "except HyperNodesError as exc:\n"
        "    print(exc)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    env["MODAL_CONFIG_PATH"] = str(config)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert f"no token for profile 'default' in {config}" in out.stdout, out.stderr
