"""Type aliases shared across HyperNodes modules (private)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

__all__ = ["Inputs", "OutputNames", "Outputs"]

Inputs: TypeAlias = Mapping[str, Any]
"""Values by input name."""
Outputs: TypeAlias = dict[str, Any]
"""Values by output name."""
OutputNames: TypeAlias = str | Sequence[str]
"""One output name or several."""
