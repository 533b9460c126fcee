"""The public names of hypernodes.modal, pinned; importing it starts nothing and needs no network."""

from __future__ import annotations

import subprocess
import sys

import hypernodes.modal
from hypernodes.modal import backend, image


def test_public_names_are_pinned() -> None:
    assert hypernodes.modal.__all__ == ["ModalBackend", "hypernodes_image"]
    assert backend.__all__ == ["FUNCTION_NAME", "ModalBackend", "Mode"]
    assert image.__all__ == [
        "HypernodesSource", "hypernodes_distributions", "hypernodes_image", "hypernodes_requirements",
    ]  # fmt: skip


def test_modal_backend_is_importable_from_hypernodes() -> None:
    import hypernodes

    assert hypernodes.ModalBackend is hypernodes.modal.ModalBackend


def test_importing_hypernodes_does_not_import_modal() -> None:
    code = "import sys, hypernodes; assert 'modal' not in sys.modules, 'modal was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
