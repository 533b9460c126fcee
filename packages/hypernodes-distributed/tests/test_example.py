"""examples/dask_example.py runs as documented (it starts its own LocalCluster)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "dask_example.py"


def test_the_dask_example_runs() -> None:
    pytest.importorskip("distributed")
    done = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("{'words': ['the', 'quick', 'brown', 'fox'], 'n_words': 4")
    assert "'GPU': 1" in lines[2] and lines[3] == "{'n_words': [4, 5, 3]}"
