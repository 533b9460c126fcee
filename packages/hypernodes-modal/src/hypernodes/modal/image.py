"""The container image a ``ModalBackend`` runs in: the caller's Python and HyperNodes, plus the user's packages.

A serialized Modal Function must run on the caller's Python minor version, and its payload
unpickles HyperNodes objects, so the container needs the same HyperNodes distributions (and
the same cloudpickle). :func:`hypernodes_image` adds exactly that to a base image:

* ``source="pypi"``: ``pip install hypernodes-core==<installed version> ...`` for every
  installed HyperNodes distribution;
* ``source="local"``: the distributions' own third-party requirements (pinned at their
  installed versions), then the local ``hypernodes`` sources with
  ``add_local_python_source`` (a workspace checkout, or unreleased changes);
* ``source="auto"`` (the default): ``"local"`` when HyperNodes is installed in editable mode
  (a checkout), else ``"pypi"``.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from hypernodes import InvalidArgumentError

if TYPE_CHECKING:
    import modal

__all__ = ["HypernodesSource", "hypernodes_distributions", "hypernodes_image", "hypernodes_requirements"]

HypernodesSource = Literal["auto", "pypi", "local"]
"""How HyperNodes gets into an image: from PyPI, from the local sources, or whichever fits."""

_PREFIX = "hypernodes-"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def hypernodes_distributions() -> dict[str, str]:
    """Return the installed HyperNodes distributions and their versions, e.g. ``{"hypernodes-core": "0.1.0"}``."""
    return dict(_distributions())


@functools.cache  # scanning every installed distribution takes tens of milliseconds
def _distributions() -> tuple[tuple[str, str], ...]:
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = _canonical(dist.metadata["Name"] or "")
        if name.startswith(_PREFIX) and name != "hypernodes-workspace":
            found[name] = dist.version
    return tuple(sorted(found.items()))


def hypernodes_requirements() -> list[str]:
    """Return the third-party packages the installed HyperNodes distributions need, pinned at their installed versions.

    Requirements of extras are left out, and so is one whose environment marker excluded it
    here (it is not installed).
    """
    return list(_requirements())


@functools.cache
def _requirements() -> tuple[str, ...]:
    pins: dict[str, str] = {}
    for name in hypernodes_distributions():
        for requirement in importlib.metadata.requires(name) or ():
            spec, _, marker = requirement.partition(";")
            match = _NAME.match(spec)
            if match is None or "extra" in marker:
                continue
            package = _canonical(match.group(1))
            if package.startswith(_PREFIX):
                continue
            try:
                pins[package] = f"{package}=={importlib.metadata.version(package)}"
            except importlib.metadata.PackageNotFoundError:  # its marker excluded it here
                continue
    return tuple(pins[package] for package in sorted(pins))


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _is_editable(distribution: str) -> bool:
    text = importlib.metadata.distribution(distribution).read_text("direct_url.json")
    if not text:
        return False
    try:
        return bool(json.loads(text).get("dir_info", {}).get("editable", False))
    except ValueError:
        return False


def _module_of(distribution: str) -> str:
    """Return the import name a HyperNodes distribution ships (``hypernodes-daft`` -> ``hypernodes.daft``)."""
    suffix = distribution.removeprefix(_PREFIX)
    return "hypernodes" if suffix == "core" else f"hypernodes.{suffix.replace('-', '_')}"


def resolve_source(source: HypernodesSource) -> Literal["pypi", "local"]:
    """Return where HyperNodes comes from for `source` (``"auto"``: local for an editable install)."""
    if source == "auto":
        editable = "hypernodes-core" in hypernodes_distributions() and _is_editable("hypernodes-core")
        return "local" if editable else "pypi"
    if source not in ("pypi", "local"):
        raise InvalidArgumentError(
            f"ModalBackend(hypernodes_source=...) must be 'auto', 'pypi' or 'local', got {source!r}",
            input_name="hypernodes_source",
        )
    return source


def hypernodes_image(
    base: modal.Image | None = None,
    *,
    python_packages: Sequence[str] = (),
    python_sources: Sequence[str] = (),
    source: HypernodesSource = "auto",
) -> modal.Image:
    """Return an image that can run HyperNodes payloads: `base` plus HyperNodes and `python_packages`.

    Building the image object needs no network; Modal builds it (and caches the layers) the
    first time a run uses it.

    Args:
        base: The image to add to (default: ``modal.Image.debian_slim`` on this process's
            Python minor version). It must have that Python version.
        python_packages: More pip requirements, e.g. ``("torch==2.5.1", "transformers")``.
        python_sources: Local modules your nodes import (e.g. ``("my_project",)``), added
            with ``add_local_python_source``; functions of ``__main__`` need nothing.
        source: How HyperNodes is installed (see the module docstring).

    Example:
        >>> image = hypernodes_image(python_packages=("numpy",))
        >>> type(image).__name__
        'Image'
    """
    import modal

    where = resolve_source(source)
    image = base if base is not None else modal.Image.debian_slim(python_version=python_version())
    distributions = hypernodes_distributions()
    if where == "pypi":
        packages = [f"{name}=={version}" for name, version in distributions.items()]
        image = image.pip_install(*packages, *hypernodes_requirements(), *python_packages)
    else:
        image = image.pip_install(*hypernodes_requirements(), *python_packages)
    modules = [_module_of(name) for name in distributions] if where == "local" else []
    local = [*modules, *python_sources]
    if local:  # last: Modal adds local files at container start, after every build step
        image = image.add_local_python_source(*local)
    return image


def python_version() -> str:
    """Return this process's Python minor version, e.g. ``"3.11"`` (a serialized Function needs the same)."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"
