from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def run_example(name: str) -> list[str]:
    """Run examples/`name` as a script; return the lines it printed (it must succeed, silently on stderr)."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=EXAMPLES.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


def test_composite_executor_example_runs_and_reports_its_speed_up() -> None:
    assert any("the composite is" in line for line in run_example("composite_executor_example.py"))


def test_resources_example_runs_and_its_forms_agree() -> None:
    lines = run_example("resources_example.py")
    for expected in (
        "inputs: ('text',) (the model is a resource, not an input)",
        "same embeddings either way: True",
        "batch and per-item forms agree: True",
    ):
        assert expected in lines, lines
