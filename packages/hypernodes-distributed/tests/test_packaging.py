"""Packaging: importing the package loads no engine; each extra pulls its engine and no other."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import hypernodes.distributed

PACKAGE = Path(__file__).resolve().parents[1]
CORE = PACKAGE.parent / "hypernodes-core"
ENGINES = ("distributed", "dask", "ray", "pyspark", "py4j")


def _loaded_after(code: str) -> list[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_all_is_pinned() -> None:
    assert hypernodes.distributed.__all__ == ["DaskExecutor", "RayExecutor", "RemoteBackend"]


@pytest.mark.parametrize(
    "code",
    [
        "import hypernodes.distributed",
        "from hypernodes.distributed import DaskExecutor, RemoteBackend",
        "from hypernodes import DaskExecutor, RemoteBackend",
        "from hypernodes.distributed import RemoteBackend; RemoteBackend('dask', 'tcp://127.0.0.1:1')",
    ],
)
def test_importing_loads_no_engine_until_one_is_used(code: str) -> None:
    loaded = _loaded_after(code)
    assert [name for name in loaded if name.partition(".")[0] in ENGINES] == []


def test_a_missing_kind_module_says_which_extra_to_install() -> None:
    import importlib.util

    from hypernodes.distributed import RemoteBackend

    if importlib.util.find_spec("hypernodes.distributed._remote_ray") is not None:
        pytest.skip("the ray kind is installed here")
    with pytest.raises(ImportError, match=r"hypernodes-distributed\[ray\]"):
        RemoteBackend("ray")._connected()


def _wheel_requirements(tmp_path: Path) -> dict[str, list[str]]:
    """Build the wheel and return its Requires-Dist by extra ('' for the base requirements)."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("needs uv (the nox session installs it)")
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(tmp_path), str(PACKAGE)], check=True,
                   capture_output=True, env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"})  # fmt: skip
    (wheel,) = tmp_path.glob("hypernodes_distributed-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        metadata_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
    by_extra: dict[str, list[str]] = {}
    for requirement in metadata.get_all("Requires-Dist") or []:
        spec, _, marker = requirement.partition(";")
        extra = marker.split("extra ==")[-1].strip().strip("'\"") if "extra ==" in marker else ""
        by_extra.setdefault(extra, []).append(spec.strip())
    return by_extra


def test_each_extra_of_the_wheel_names_only_its_engine(tmp_path: Path) -> None:
    requirements = _wheel_requirements(tmp_path)
    assert [r.split(">")[0] for r in requirements[""]] == ["hypernodes-core"]
    assert requirements["dask"] == ["dask[distributed]>=2025.1"]
    assert sorted(r.split("[")[0].split(">")[0] for r in requirements["spark"]) == ["pandas<3", "pyspark"]
    assert [r.split("[")[0] for r in requirements["ray"]] == ["ray"]


def test_installing_the_dask_extra_resolves_dask_and_nothing_of_ray_or_spark(tmp_path: Path) -> None:
    """Resolve ``hypernodes-distributed[dask]`` (and core, both from this workspace) as pip would, with uv."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("needs uv (the nox session installs it)")
    requirements = tmp_path / "requirements.in"
    requirements.write_text(f"hypernodes-core @ {CORE.as_uri()}\nhypernodes-distributed[dask] @ {PACKAGE.as_uri()}\n")
    done = subprocess.run(
        [uv, "pip", "compile", "--no-header", "--python", sys.executable, str(requirements)],
        capture_output=True, text=True, env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )  # fmt: skip
    if done.returncode != 0 and ("network" in done.stderr.lower() or "connect" in done.stderr.lower()):
        pytest.skip(f"the package index is not reachable: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr
    names = {_name(line) for line in done.stdout.splitlines() if line and not line.startswith((" ", "#"))}
    assert {"dask", "distributed", "hypernodes-core", "hypernodes-distributed"} <= names
    assert not names & {"ray", "pyspark", "py4j", "grpcio"}, sorted(names)


def _name(line: str) -> str:
    if line.startswith("-e "):  # an editable local project: named after its directory
        return line.rstrip("/").rsplit("/", 1)[-1].lower()
    return line.split("==")[0].split(" @ ")[0].strip().lower()


def test_a_remote_backend_whose_engine_is_missing_says_which_extra_to_install() -> None:
    import importlib.util

    from hypernodes import Pipeline, RuntimeConfig
    from hypernodes.distributed import RemoteBackend
    from hypernodes.testing.nodes import double

    addresses = {"dask": "tcp://127.0.0.1:1", "spark": "local[1]"}
    engines = {"dask": "distributed", "spark": "pyspark"}
    missing = [kind for kind, engine in engines.items() if importlib.util.find_spec(engine) is None]
    if not missing:
        pytest.skip("every engine is installed here")
    kind = missing[0]
    config = RuntimeConfig(backend=RemoteBackend(kind, addresses[kind]))  # type: ignore[arg-type]
    with pytest.raises(ImportError, match=rf"RemoteBackend\('{kind}'\) needs .*hypernodes-distributed\[{kind}\]"):
        Pipeline(nodes=[double]).run(inputs={"x": 1}, config=config)
