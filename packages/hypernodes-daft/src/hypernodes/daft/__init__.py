"""HyperNodes on Daft: ``DaftExecutor`` maps a pipeline over a Daft DataFrame, each node a UDF column."""

from __future__ import annotations

from hypernodes.daft.executor import DaftExecutor

__all__ = ["DaftExecutor"]
