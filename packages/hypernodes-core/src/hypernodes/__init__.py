"""HyperNodes: hierarchical, modular pipelines of plain Python functions."""

from __future__ import annotations

import pkgutil

# Sibling distributions (hypernodes-executors, ...) ship only their subpackage; in an editable
# workspace each lives in its own src/ directory, so extend the package path to find them.
__path__ = pkgutil.extend_path(__path__, __name__)
