"""Read what a built (never hydrated) Modal object would send to Modal, without network.

Modal exposes a Function's resources offline through ``Function.info()``, but not its
autoscaler settings nor an Image's build steps. Those live in the closures of the objects'
loaders (what ``app.run()`` calls to create them on the server). These helpers read them, so
the tests assert on the real values Modal would send; if a Modal release renames them, the
helpers fail with a message saying so (the tests then need updating, not the backend).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import modal

BUILDER_VERSION = "2025.06"  # an image builder version of modal 1.6


def _inner(obj: Any) -> Any:
    return type(obj)._sync_synchronizer._translate_in(obj)


def loader_values(obj: Any) -> dict[str, Any]:
    """Return the variables a Modal object's loader closes over (its creation request's parts)."""
    load = _inner(obj)._load
    names = load.__code__.co_freevars
    assert load.__closure__ is not None, f"modal changed: {type(obj).__name__}._load closes over nothing"
    values = {}
    for name, cell in zip(names, load.__closure__):
        try:
            values[name] = cell.cell_contents
        except ValueError:  # not yet assigned
            continue
    return values


def function_value(function: modal.Function, name: str) -> Any:
    """Return one part of a Function's creation request, e.g. ``"autoscaler_settings"``."""
    values = loader_values(function)
    assert name in values, f"modal changed: Function._load no longer closes over {name!r} ({sorted(values)})"
    return values[name]


def image_steps(image: modal.Image) -> tuple[list[str], list[tuple[str, str]]]:
    """Return an image's Dockerfile commands (base first) and its local mounts as (module, remote dir)."""
    commands: list[str] = []
    mounts: list[tuple[str, str]] = []
    pending: list[Any] = [_inner(image)]
    layers: list[list[str]] = []
    while pending:
        layer = pending.pop()
        values = _closure(layer)
        if "mount" in values and "base_image" in values:
            for entry in values["mount"].entries:
                mounts.append((entry.module_name, str(PurePosixPath(entry.remote_dir))))
            pending.append(values["base_image"])
        elif "dockerfile_function" in values:
            function = values["dockerfile_function"]
            layers.append([] if function is None else function(BUILDER_VERSION).commands)
            pending.extend(values.get("base_images", {}).values())
        else:
            raise AssertionError(f"modal changed: an Image layer's loader has {sorted(values)}")
    for layer_commands in reversed(layers):
        commands += layer_commands
    return commands, mounts


def image_mount_files(image: modal.Image) -> list[str]:
    """Return the remote paths of the local files an image adds (``add_local_python_source``)."""
    files: list[str] = []
    layer: Any = _inner(image)
    while True:
        values = _closure(layer)
        if "mount" not in values:
            return sorted(files)
        files += [str(remote) for entry in values["mount"].entries for _, remote in entry.get_files_to_upload()]
        layer = values["base_image"]


def _closure(layer: Any) -> dict[str, Any]:
    load = layer._load
    return dict(zip(load.__code__.co_freevars, (cell.cell_contents for cell in load.__closure__ or ())))
