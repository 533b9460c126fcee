"""examples/modal_example.py runs its local path here (no Modal credentials)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "modal_example.py"


def test_the_example_runs_its_local_path_without_credentials() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MODAL_")}
    env.update(MODAL_TOKEN_ID="", MODAL_TOKEN_SECRET="", MODAL_SERVER_URL="http://127.0.0.1:9")
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], cwd=EXAMPLE.parent, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "running the local path (no Modal credentials found)"
    cold, warm = lines[1], lines[2]
    assert cold.startswith("cold [") and warm == "warm" + cold.removeprefix("cold")
    assert "cached=3" in result.stderr  # the second map was served by the cache built "in the container"
    assert "Warning" not in result.stderr
