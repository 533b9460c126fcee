from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _run_example(name: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], cwd=EXAMPLES.parent, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result


def test_composite_executor_example_runs_and_reports_its_speed_up() -> None:
    result = _run_example("composite_executor_example.py")
    assert result.stderr == ""
    assert "the composite is" in result.stdout  # the figure itself is the benchmark's business


def test_process_pool_faults_example_shows_each_fault_handled() -> None:
    stdout = _run_example("process_pool_faults.py").stdout
    assert "died while running map items 30-39" in stdout
    assert ") was killed: True" in stdout
    assert "the other worker is still alive: True" in stdout
    assert "the executor still works: {'answer': [10, 20]}" in stdout


def test_resources_example_runs_and_its_forms_agree() -> None:
    result = _run_example("resources_example.py")
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    for expected in (
        "inputs: ('text',) (the model is a resource, not an input)",
        "same embeddings either way: True",
        "batch and per-item forms agree: True",
    ):
        assert expected in lines, result.stdout
