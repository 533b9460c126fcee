"""HyperNodes on Modal: ``ModalBackend`` runs a pipeline, or one node, in Modal's cloud.

>>> from hypernodes.modal import ModalBackend
>>> ModalBackend(gpu="T4")
ModalBackend(gpu='T4')
"""

from __future__ import annotations

from hypernodes.modal.backend import ModalBackend
from hypernodes.modal.image import hypernodes_image

__all__ = ["ModalBackend", "hypernodes_image"]
