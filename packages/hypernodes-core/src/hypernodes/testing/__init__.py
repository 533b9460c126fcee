"""A reusable pytest kit: the behaviour every HyperNodes executor must show.

Install with ``pip install "hypernodes-core[testing]"``; see :class:`ExecutorBehaviourSuite`.
"""

from __future__ import annotations

from hypernodes.testing.behaviour import ExecutorBehaviourSuite

__all__ = ["ExecutorBehaviourSuite"]
