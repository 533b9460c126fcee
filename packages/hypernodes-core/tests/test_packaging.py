"""One import namespace from built wheels: core plus one sibling, installed in a fresh venv."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = shutil.which("uv")
    if uv is None:  # the test matrix always installs uv; a bare pytest run may not have it
        pytest.fail("this test needs uv on PATH (pip install uv)")
    work = tmp_path_factory.mktemp("wheels")
    dist = work / "dist"
    for package in ("hypernodes-core", "hypernodes-executors"):
        subprocess.run(
            [uv, "build", "--wheel", "--out-dir", str(dist), str(ROOT / "packages" / package)],
            check=True,
            capture_output=True,
        )
    venv = work / "venv"
    subprocess.run([uv, "venv", "--python", sys.executable, str(venv)], check=True, capture_output=True)
    python = venv / "bin" / "python"
    wheels = sorted(str(w) for w in dist.glob("*.whl"))
    assert len(wheels) == 2, wheels
    subprocess.run([uv, "pip", "install", "--python", str(python), *wheels], check=True, capture_output=True)
    return python


def test_wheels_share_one_namespace(wheel_env: Path) -> None:
    code = (
        "import hypernodes, hypernodes.executors, pathlib; "
        "print(pathlib.Path(hypernodes.__file__).parent == pathlib.Path(hypernodes.executors.__file__).parent.parent)"
    )
    out = subprocess.run([str(wheel_env), "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


@pytest.mark.parametrize(
    ("statement", "error"),
    [
        ("from hypernodes import DaftExecutor", "ImportError DaftExecutor is provided by the hypernodes-daft"),
        ("from hypernodes.daft import DaftExecutor", "ModuleNotFoundError No module named 'hypernodes.daft'"),
    ],
    ids=["lazy name", "subpackage"],
)
def test_missing_distribution_names_itself(wheel_env: Path, statement: str, error: str) -> None:
    code = f"try:\n    {statement}\nexcept ImportError as exc:\n    print(type(exc).__name__, exc)\n"
    out = subprocess.run([str(wheel_env), "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith(error), out.stdout
    assert "pip install hypernodes-daft" in out.stdout


def test_wheel_runs_a_pipeline(wheel_env: Path) -> None:
    code = (
        "from hypernodes import node, Pipeline\n"
        "@node(output_name='y')\n"
        "def f(x): return x + 1\n"
        "print(Pipeline(nodes=[f]).map(inputs={'x': [1, 2]}, map_over='x'))\n"
    )
    out = subprocess.run([str(wheel_env), "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "{'y': [2, 3]}"
