"""RayExecutor connecting by address to a cluster started from the CLI (``ray start --head``) on 127.0.0.1.

The head is started once for this module and stopped (SIGTERM to its ``--block`` process,
which stops exactly the processes it started) when the module ends. The driver runs in a
subprocess, as a user's script would: one process can be connected to only one Ray, and this
test session's own local Ray is already initialised. Its environment has no ``RAY_AUTH_MODE``:
the cluster requires a token (Ray >= 2.59), which RayExecutor finds and uses.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent
STARTUP = 120.0  # seconds the head may take to start (never reached when it works)

DRIVER = """
import importlib.util, json, sys
from hypernodes import Pipeline, RuntimeConfig, node
from hypernodes.distributed import RayExecutor

spec = importlib.util.spec_from_file_location("user_nodes", sys.argv[2])  # not importable by the workers
user_nodes = importlib.util.module_from_spec(spec)
spec.loader.exec_module(user_nodes)

@node(output_name="tripled")
def triple(x: int) -> int:  # defined in __main__
    return 3 * x

results = {}
for address in sys.argv[1].split(","):
    with RayExecutor(address=address) as executor:
        p = Pipeline(nodes=[triple, user_nodes.async_in_task], name="remote")
        results[address] = p.map(inputs={"x": [1, 2, 3]}, map_over="x", config=RuntimeConfig(executor=executor))
print("RESULT " + json.dumps(results))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ray start exited with {process.returncode}:\n{log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"ray start did not open port {port} within {STARTUP}s:\n{log.read_text()}")


@pytest.fixture(name="head", scope="module")
def head_fixture() -> Iterator[dict[str, str]]:
    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent))
    if ray_cli is None:
        pytest.skip("the ray CLI is not installed next to this Python")
    port, client_port = _free_port(), _free_port()
    temp = tempfile.mkdtemp(prefix="hnray", dir="/tmp")  # short: Ray's socket paths are limited
    log = Path(temp) / "head.log"
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_AUTH_MODE", None)  # Ray's default: token authentication
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                ray_cli, "start", "--head", f"--port={port}", f"--ray-client-server-port={client_port}",
                "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats", "--block",
                f"--temp-dir={temp}",
            ],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_for_port(port, process, log)
        _wait_for_port(client_port, process, log)
        yield {"address": f"127.0.0.1:{port}", "client": f"ray://127.0.0.1:{client_port}"}
    finally:
        process.send_signal(signal.SIGTERM)  # stops the processes this head started, and only those
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(temp, ignore_errors=True)


def test_connects_by_address_and_by_ray_client_with_token_auth(head: dict[str, str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    addresses = f"{head['address']},{head['client']}"
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, addresses, str(HERE / "ray_nodes.py")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    results = json.loads(lines[0].removeprefix("RESULT "))
    expected = {"tripled": [3, 6, 9], "in_task": [[2, True], [3, True], [4, True]]}
    assert results == {head["address"]: expected, head["client"]: expected}
