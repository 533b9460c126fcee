"""examples/daft_example.py runs and prints what its comments say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_daft_example_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "daft_example.py")],
        cwd=EXAMPLES.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Summary(title='Hypernodes (longest word: 10)', n_words=4)" in result.stdout
    assert "[[4, 4, 3, 4], [10, 4, 3, 5], [3, 6, 7, 5]]" in result.stdout
