"""examples/daft_example.py runs and prints what its comments say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _run_example() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "faulthandler", str(EXAMPLES / "daft_example.py")],
        cwd=EXAMPLES.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_daft_example_runs() -> None:
    result = _run_example()
    if result.returncode < 0 and result.stdout.rstrip().endswith("[[4, 4, 3, 4], [10, 4, 3, 5], [3, 6, 7, 5]]"):
        # Once in CI (1 run in about 40 here) the process was killed by SIGSEGV at interpreter
        # exit, after printing everything: Daft's native runtime tearing down its threads. One
        # retry, so that this rare exit-time crash of the engine does not fail the matrix;
        # faulthandler prints where it happens, and a second crash fails the test.
        print(f"the example died by signal {-result.returncode} at exit; retrying once:\n{result.stderr}")
        result = _run_example()
    assert result.returncode == 0, result.stderr
    assert "Summary(title='Hypernodes (longest word: 10)', n_words=4)" in result.stdout
    assert "[[4, 4, 3, 4], [10, 4, 3, 5], [3, 6, 7, 5]]" in result.stdout
