"""Rehearse (and prepare) the release of one HyperNodes distribution, end to end.

    uv run nox -s release -- hypernodes-daft          # what CI runs on a tag hypernodes-daft-v0.2.0
    python tools/release.py hypernodes-daft --out dist/

Steps, each of which stops the release with a message that says what to fix:

1. the version in ``packages/<dist>/pyproject.toml`` was bumped: no tag ``<dist>-v<version>``
   exists, and it is newer than every ``<dist>-v*`` tag;
2. ``packages/<dist>/CHANGELOG.md`` has a ``## <version>`` section (not "unreleased");
3. its floor on hypernodes-core (``hypernodes-core>=X``) is a released core version: a tag
   ``hypernodes-core-vX`` exists (core itself is exempt);
4. ``uv build`` makes its sdist and wheel, and ``twine check --strict`` accepts their metadata;
5. the wheel installs alone into a fresh virtual environment, with hypernodes-core from its own
   wheel built from this tree, and a smoke test imports it and runs a pipeline with it.

Publishing (``uv publish``) is the CI workflow's last step, after this command; it is not run
here. See docs/development/releasing.md.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = "hypernodes-core"
SMOKE: dict[str, str] = {
    CORE: (
        "from hypernodes import Pipeline, node\n"
        "double = node(lambda x: 2 * x, output_name='y')\n"
        "assert Pipeline(nodes=[double]).map(inputs={'x': [1, 2]}, map_over='x') == {'y': [2, 4]}\n"
    ),
    "hypernodes-executors": (
        "from hypernodes import Pipeline, RuntimeConfig, node\n"
        "from hypernodes.executors import ThreadPoolExecutor\n"
        "double = node(lambda x: 2 * x, output_name='y')\n"
        "with ThreadPoolExecutor(2) as ex:\n"
        "    config = RuntimeConfig(executor=ex)\n"
        "    out = Pipeline(nodes=[double]).map(inputs={'x': [1, 2]}, map_over='x', config=config)\n"
        "assert out == {'y': [2, 4]}\n"
    ),
    "hypernodes-daft": (
        "import os\nos.environ['DO_NOT_TRACK'] = '1'\n"
        "from hypernodes import DaftExecutor, Pipeline, RuntimeConfig, node\n"
        "double = node(lambda x: 2 * x, output_name='y')\n"
        "config = RuntimeConfig(executor=DaftExecutor())\n"
        "assert Pipeline(nodes=[double]).map(inputs={'x': [1, 2]}, map_over='x', config=config) == {'y': [2, 4]}\n"
        # Daft's native threads can abort the interpreter's shutdown (SIGABRT) after a passing run:
        # the smoke test is over, so leave at once.
        "import sys\nsys.stdout.flush()\nos._exit(0)\n"
    ),
    "hypernodes-modal": (
        "from hypernodes import ModalBackend\n"
        "backend = ModalBackend(gpu='T4', mode='local')\n"
        "assert backend.function.info().gpus == [('T4', 1)]\n"
    ),
    "hypernodes-distributed": (
        "import sys\nfrom hypernodes import DaskExecutor, RayExecutor, RemoteBackend\n"
        "assert not {'dask', 'ray', 'pyspark'} & set(sys.modules)  # no extra installed: no engine loaded\n"
    ),
}


class ReleaseError(Exception):
    """A check failed; the message says what to fix."""


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def _tags(prefix: str, root: Path) -> list[str]:
    listed = subprocess.run(
        ["git", "tag", "--list", f"{prefix}-v*"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()
    return [tag.removeprefix(f"{prefix}-v") for tag in listed]


def read_project(dist: str, root: Path = ROOT) -> dict[str, object]:
    """Return the ``[project]`` table of `dist`'s pyproject.toml."""
    path = root / "packages" / dist / "pyproject.toml"
    if not path.exists():
        known = sorted(p.name for p in (root / "packages").iterdir() if (p / "pyproject.toml").exists())
        raise ReleaseError(f"no distribution {dist!r}; the distributions are: {', '.join(known)}")
    project: dict[str, object] = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
    return project


def check_version(dist: str, version: str, root: Path = ROOT) -> None:
    """Fail unless `version` is new for `dist` (no tag for it, newer than every tag)."""
    released = _tags(dist, root)
    if version in released:
        raise ReleaseError(
            f"{dist} {version} is already released (tag {dist}-v{version}); bump the version in "
            f"packages/{dist}/pyproject.toml and add its CHANGELOG.md section"
        )
    newer = [v for v in released if _version_key(v) >= _version_key(version)]
    if newer:
        raise ReleaseError(f"{dist} {version} is not newer than the released {max(newer, key=_version_key)}; bump it")


def check_changelog(dist: str, version: str, root: Path = ROOT) -> None:
    """Fail unless CHANGELOG.md has a ``## <version>`` section that is not marked unreleased."""
    text = (root / "packages" / dist / "CHANGELOG.md").read_text(encoding="utf-8")
    heading = re.search(rf"^## {re.escape(version)}\b(.*)$", text, re.M)
    if heading is None:
        raise ReleaseError(f"packages/{dist}/CHANGELOG.md has no '## {version}' section; write what changed")
    if "unreleased" in heading.group(1).lower():
        raise ReleaseError(
            f"packages/{dist}/CHANGELOG.md still marks {version} unreleased; put the release date there"
        )


def check_core_floor(dist: str, project: dict[str, object], root: Path = ROOT) -> None:
    """Fail unless `dist` requires a released hypernodes-core (``hypernodes-core>=X`` with a tag)."""
    if dist == CORE:
        return
    requirements = [str(r) for r in project.get("dependencies", [])]  # type: ignore[attr-defined]
    floors = [m.group(1) for r in requirements if (m := re.match(rf"{CORE}\s*>=\s*([\w.]+)", r))]
    if not floors:
        raise ReleaseError(f"{dist} must depend on '{CORE}>=X' (X a released core version); it lists {requirements}")
    floor = floors[0]
    if floor not in _tags(CORE, root):
        raise ReleaseError(
            f"{dist} requires {CORE}>={floor}, which is not a released core version (no tag {CORE}-v{floor}); "
            f"release core first, or lower the floor to a released one"
        )


def _run(*command: str | Path, cwd: Path = ROOT) -> None:
    print("+", " ".join(str(c) for c in command), flush=True)
    subprocess.run([str(c) for c in command], cwd=cwd, check=True)


def build_and_smoke(dist: str, out: Path, root: Path = ROOT) -> list[Path]:
    """Build `dist` (and core), check their metadata, install them alone in a fresh venv, smoke-test."""
    out.mkdir(parents=True, exist_ok=True)
    for package in dict.fromkeys((dist, CORE)):
        _run("uv", "build", "--package", package, "--out-dir", out, "--quiet", cwd=root)
    made = sorted(out.glob(f"{dist.replace('-', '_')}-*"))
    if not any(p.suffix == ".whl" for p in made) or not any(p.name.endswith(".tar.gz") for p in made):
        raise ReleaseError(f"uv build made no wheel and sdist of {dist} in {out}")
    _run("uvx", "twine", "check", "--strict", *made, cwd=root)
    with tempfile.TemporaryDirectory(prefix=f"release-{dist}-") as scratch:
        venv = Path(scratch) / "venv"
        _run("uv", "venv", "--quiet", "--python", sys.executable, venv, cwd=root)
        python = venv / "bin" / "python"
        wheels = [next(out.glob(f"{p.replace('-', '_')}-*.whl")) for p in dict.fromkeys((CORE, dist))]
        _run("uv", "pip", "install", "--quiet", "--python", python, *wheels, cwd=Path(scratch))
        _run(python, "-c", SMOKE.get(dist, f"import {dist.replace('-', '.', 1)}"), cwd=Path(scratch))
    return made


def main(argv: list[str] | None = None) -> int:
    """Run the release checks of one distribution; return the exit status (0: ready to publish)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", help="the distribution, e.g. hypernodes-daft")
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="where the sdist and wheel go")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)  # tests rehearse in a copy
    parser.add_argument(
        "--install-alone", action="store_true",
        help="only build the wheels and smoke-test them alone in a fresh venv (no release checks)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    root: Path = args.root
    try:
        project = read_project(args.dist, root)
        version = str(project["version"])
        if args.install_alone:
            made = build_and_smoke(args.dist, args.out.resolve(), root)
            print(f"{args.dist} {version} installs and works alone: " + ", ".join(p.name for p in made))
            return 0
        print(f"releasing {args.dist} {version}", flush=True)
        check_version(args.dist, version, root)
        check_changelog(args.dist, version, root)
        check_core_floor(args.dist, project, root)
        made = build_and_smoke(args.dist, args.out.resolve(), root)
    except ReleaseError as error:
        print(f"release stopped: {error}", file=sys.stderr)
        return 1
    print(f"ready to publish {args.dist} {version}: " + ", ".join(p.name for p in made))
    print(f"tag it: git tag {args.dist}-v{version} && git push origin {args.dist}-v{version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
