"""The default image: the caller's Python, HyperNodes at its installed versions, the user's packages."""

from __future__ import annotations

import importlib.metadata

import modal
import pytest
from modal_objects import image_mount_files, image_steps

from hypernodes.modal import hypernodes_image
from hypernodes.modal.image import hypernodes_distributions, hypernodes_requirements, python_version, resolve_source


def test_the_installed_distributions_are_found_with_their_versions() -> None:
    found = hypernodes_distributions()
    assert found["hypernodes-core"] == importlib.metadata.version("hypernodes-core")
    assert found["hypernodes-modal"] == importlib.metadata.version("hypernodes-modal")


def test_third_party_requirements_are_pinned_at_installed_versions_without_extras() -> None:
    pins = hypernodes_requirements()
    assert f"cloudpickle=={importlib.metadata.version('cloudpickle')}" in pins  # pickles must match
    assert f"modal=={importlib.metadata.version('modal')}" in pins
    assert not any(pin.startswith(("hypernodes", "pytest", "tqdm")) for pin in pins)


def test_pypi_source_installs_each_distribution_at_its_version() -> None:
    commands, mounts = image_steps(hypernodes_image(source="pypi", python_packages=("pillow",)))
    install = commands[-1]
    for name, version in hypernodes_distributions().items():
        assert f"{name}=={version}" in install
    assert "pillow" in install and mounts == []


def test_local_source_adds_every_hypernodes_subpackage_from_this_checkout() -> None:
    image = hypernodes_image(source="local")
    commands, mounts = image_steps(image)
    assert not any("hypernodes-core" in command for command in commands)
    assert ("hypernodes", "/root") in mounts and ("hypernodes.modal", "/root") in mounts
    files = image_mount_files(image)
    # core, the executors and this package all land in one /root/hypernodes tree in the container
    assert "/root/hypernodes/executor/worker.py" in files
    assert "/root/hypernodes/modal/_container.py" in files
    assert "/root/hypernodes/executors/thread_pool.py" in files


def test_python_sources_are_added_after_the_build_steps() -> None:
    commands, mounts = image_steps(hypernodes_image(source="pypi", python_sources=("json",)))
    assert mounts == [("json", "/root")]
    assert commands[-1].startswith("RUN python -m pip install")  # the mount is no build step


def test_auto_means_local_for_an_editable_checkout() -> None:
    direct_url = importlib.metadata.distribution("hypernodes-core").read_text("direct_url.json") or ""
    assert resolve_source("auto") == ("local" if '"editable":true' in direct_url.replace(" ", "") else "pypi")


def test_a_base_image_is_extended() -> None:
    base = modal.Image.debian_slim(python_version=python_version()).apt_install("ffmpeg")
    commands, _ = image_steps(hypernodes_image(base, source="pypi"))
    ffmpeg = next(i for i, command in enumerate(commands) if "ffmpeg" in command)
    hypernodes = next(i for i, command in enumerate(commands) if "hypernodes-core==" in command)
    assert ffmpeg < hypernodes


def test_an_unknown_source_names_the_choices() -> None:
    with pytest.raises(ValueError, match="'auto', 'pypi' or 'local'"):
        hypernodes_image(source="conda")  # type: ignore[arg-type]
