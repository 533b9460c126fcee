"""The release command, rehearsed in a clone of this repository (tags are made there, not here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import release

ROOT = Path(__file__).resolve().parents[2]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture(name="repo")
def repo_fixture(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(repo)], check=True)
    _git(repo, "tag", "hypernodes-core-v0.1.0")  # as if core 0.1.0 had been released
    return repo


def _bump(repo: Path, dist: str, version: str, heading_suffix: str = " — 2026-12-01") -> None:
    pyproject = repo / "packages" / dist / "pyproject.toml"
    text = re.sub(r'^version = ".*"$', f'version = "{version}"', pyproject.read_text(), count=1, flags=re.M)
    pyproject.write_text(text)
    changelog = repo / "packages" / dist / "CHANGELOG.md"
    text = changelog.read_text()
    first = text.index("\n## ")  # the newest section: a new one goes above it
    changelog.write_text(f"{text[:first]}\n## {version}{heading_suffix}\n\n- Rehearsed.\n{text[first:]}")


def test_a_bumped_distribution_is_built_checked_installed_alone_and_smoke_tested(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _git(repo, "tag", "hypernodes-executors-v0.1.0")
    _bump(repo, "hypernodes-executors", "0.2.0")
    assert release.main(["hypernodes-executors", "--root", str(repo), "--out", str(tmp_path / "dist")]) == 0
    out = capsys.readouterr().out
    assert "ready to publish hypernodes-executors 0.2.0" in out
    assert "git tag hypernodes-executors-v0.2.0" in out
    built = sorted(p.name for p in (tmp_path / "dist").iterdir())
    assert "hypernodes_executors-0.2.0-py3-none-any.whl" in built and "hypernodes_executors-0.2.0.tar.gz" in built


def test_a_version_already_released_stops_the_release(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _git(repo, "tag", "hypernodes-executors-v0.1.0")
    assert release.main(["hypernodes-executors", "--root", str(repo)]) == 1
    assert "already released (tag hypernodes-executors-v0.1.0); bump the version" in capsys.readouterr().err


def test_an_older_version_than_released_stops_the_release(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _git(repo, "tag", "hypernodes-executors-v0.3.0")
    _bump(repo, "hypernodes-executors", "0.2.0")
    assert release.main(["hypernodes-executors", "--root", str(repo)]) == 1
    assert "not newer than the released 0.3.0" in capsys.readouterr().err


def test_a_missing_or_unreleased_changelog_section_stops_the_release(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pyproject = repo / "packages" / "hypernodes-daft" / "pyproject.toml"
    pyproject.write_text(re.sub(r'^version = ".*"$', 'version = "0.9.0"', pyproject.read_text(), count=1, flags=re.M))
    assert release.main(["hypernodes-daft", "--root", str(repo)]) == 1
    assert "CHANGELOG.md has no '## 0.9.0' section" in capsys.readouterr().err
    _bump(repo, "hypernodes-daft", "0.9.0", heading_suffix=" — unreleased")
    assert release.main(["hypernodes-daft", "--root", str(repo)]) == 1
    assert "still marks 0.9.0 unreleased" in capsys.readouterr().err


def test_a_floor_on_an_unreleased_core_stops_the_release(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bump(repo, "hypernodes-modal", "0.2.0")
    pyproject = repo / "packages" / "hypernodes-modal" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("hypernodes-core>=0.1.0", "hypernodes-core>=0.5.0"))
    assert release.main(["hypernodes-modal", "--root", str(repo)]) == 1
    assert "hypernodes-core>=0.5.0, which is not a released core version" in capsys.readouterr().err


def test_an_unknown_distribution_lists_the_real_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert release.main(["hypernodes-dask"]) == 1
    assert "the distributions are: hypernodes-core, hypernodes-daft" in capsys.readouterr().err
