"""hypernodes.daft's public names, and the lazy re-export from hypernodes."""

from __future__ import annotations

import hypernodes
import hypernodes.daft
from hypernodes.daft import DaftExecutor


def test_all_is_pinned() -> None:
    assert hypernodes.daft.__all__ == ["DaftExecutor"]


def test_hypernodes_re_exports_the_executor() -> None:
    assert hypernodes.DaftExecutor is DaftExecutor
