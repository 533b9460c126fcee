"""HyperNodes modal (features arrive in a later release)."""

from __future__ import annotations

__all__: list[str] = []
