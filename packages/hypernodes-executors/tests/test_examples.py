from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_composite_executor_example_runs_and_reports_its_speed_up() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "composite_executor_example.py")],
        cwd=EXAMPLES.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "the composite is" in result.stdout  # the figure itself is the benchmark's business


def test_resources_example_runs_and_its_forms_agree() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "resources_example.py")],
        cwd=EXAMPLES.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    for expected in (
        "inputs: ('text',) (the model is a resource, not an input)",
        "same embeddings either way: True",
        "batch and per-item forms agree: True",
    ):
        assert expected in lines, result.stdout
