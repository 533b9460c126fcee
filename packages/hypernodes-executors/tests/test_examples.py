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


def test_process_pool_faults_example_shows_each_fault_handled() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "process_pool_faults.py")],
        cwd=EXAMPLES.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "died while running map items 30-39" in result.stdout
    assert "replaced = True" in result.stdout
    assert "the executor still works: {'answer': [10, 20]}" in result.stdout
